"""SAM-Audio configuration."""

from transformers import PretrainedConfig
from transformers.utils import logging


logger = logging.get_logger(__name__)

FRONTENDS = ("waveform", "log_mel", "log_frequency")
TONIC_ESTIMATIONS = ("drone", "drone_and_melody")
PRETRAINING_TARGETS = ("frames", "teacher")

# Conv stacks that suit each frontend when the caller gives none. Every frontend produces frames every `hop_length`
# samples (~16 per second), so they share one stack.
DEFAULT_CONV_LAYERS = {
    "waveform": {"conv_dim": (128, 128), "conv_kernel": (5, 3), "conv_stride": (1, 2)},
    "log_mel": {"conv_dim": (128, 128), "conv_kernel": (5, 3), "conv_stride": (1, 2)},
    "log_frequency": {"conv_dim": (128, 128), "conv_kernel": (5, 3), "conv_stride": (1, 2)},
}


class SamAudioConfig(PretrainedConfig):
    r"""
    Configuration of a SAM-Audio model: an audio encoder, learnable segment tokens that attend over its frames, a
    masked-segment predictor, a contrastive segment projection and a classification head.

    Args:
        frontend (`str`, *optional*, defaults to `"log_frequency"`):
            How raw audio becomes a frame sequence before the conv stack. `"log_frequency"`: a log-frequency
            spectrogram with `bins_per_semitone` bins per semitone (STFT power through fixed triangular filters), so
            a change of tonic is a shift along the frequency axis. `"waveform"`: the same bands computed by a learned
            conv layer on the raw samples, one octave at a time (`waveform_filter_bandwidth`); its kernels start as
            complex Gabor filters centred on the log-frequency bands and then train with the rest of the model, and
            its output takes the same path as the log-frequency spectrogram (octave folding and tonic alignment).
            `"log_mel"`: a log-mel spectrogram. Spectrograms that are not folded into tonic-aligned pitch classes
            (`"log_mel"`, or `tonic_alignment=False`) have each frame's mean and then the clip's mean spectrum
            removed.
        sampling_rate (`int`, *optional*, defaults to 16000):
            Sampling rate of `input_values`, in Hz.
        n_fft (`int`, *optional*, defaults to 4096):
            FFT size of the spectral frontends (window length in samples). 4096 (3.9 Hz bins at 16 kHz) separates
            semitones down to about 130 Hz. The `"waveform"` frontend centres its frames where the STFT frames
            would be, so every frontend yields the same frames for the same audio.
        hop_length (`int`, *optional*, defaults to 1024):
            Hop between frames of every frontend, in samples (64 ms at 16 kHz).
        num_mel_bins (`int`, *optional*, defaults to 80):
            Number of mel bands of the `"log_mel"` frontend.
        min_frequency (`float`, *optional*, defaults to 130.0):
            Lowest frequency of the `"log_frequency"` and `"waveform"` frontends, in Hz (the mel frontend spans 0 Hz
            to Nyquist).
        num_octaves (`int`, *optional*, defaults to 5):
            Octaves covered by the `"log_frequency"` and `"waveform"` frontends above `min_frequency`.
        bins_per_semitone (`int`, *optional*, defaults to 3):
            Frequency resolution of the `"log_frequency"` and `"waveform"` frontends. Three bins (33 cents) keep a
            tonic that falls between semitones from smearing across two pitch classes.
        waveform_filter_bandwidth (`float`, *optional*, defaults to 4.0):
            Only for `"waveform"`: the full width at half maximum of the initial Gabor filters, in bands, at the
            lowest band of each octave. All filters of an octave share one envelope, so the width falls to half this
            at the top of the octave, and neighbouring bands always overlap. The envelope sets the time resolution
            too: 4.0 gives the lowest octave, where fundamentals and drone lie, a 90 ms envelope (the 4096-point STFT
            window's power is about as long); 2.0 resolves pitch finer but smears the melody over 175 ms there. The
            kernels span six envelope widths, 225 samples at each octave's own rate by default.
        waveform_antialias_taps (`int`, *optional*, defaults to 31):
            Only for `"waveform"`: length of the fixed half-band low-pass filter (Hann-windowed sinc) applied before
            each halving of the sample rate. Each octave is filtered at the lowest rate that holds it, which keeps
            the learned kernels the same length for every octave.
        tonic_alignment (`bool`, *optional*, defaults to `True`):
            Only for `"log_frequency"` and `"waveform"`: fold the octaves into one pitch-class axis (each octave
            normalised, so the blurred low octaves do not dominate), find the clip's tonic (see `tonic_estimation`),
            rotate the axis so the tonic lands on the first bin, and subtract the clip's stationary pitch-class
            profile (the drone, hum and room colouring) from every frame. What remains is the melody relative to the
            tonic, so the frames still carry the clip's melodic pitch-class distribution. The rotation is soft (a
            softmax over all rotations) and learned, which makes the encoder invariant to the performer's tonic.
        octave_level_margin (`float`, *optional*, defaults to 1.5):
            How far below a frame's loudest octave (in natural-log units of power; 1.5 is 6.5 dB) an octave still
            counts fully when the octaves are folded into pitch classes. Quieter octaves fade out with a sigmoid, so
            the empty octaves of a band-limited recording, or octaves that hold only noise, do not blur the pitch
            classes.
        tonic_estimation (`str`, *optional*, defaults to `"drone_and_melody"`):
            Evidence for the tonic. `"drone"`: the stationary profile (the per-bin median over frames, where a drone
            sounds) is matched against a learned drone template. `"drone_and_melody"`: the melody's pitch-class
            occupancy (energy above the stationary profile) is matched against a second learned template and the
            two scores are added, so a faint, intermittent or Sa-Ma-tuned drone does not decide the tonic alone.
        tonic_temperature (`float`, *optional*, defaults to 0.1):
            Temperature of the softmax over tonic rotations; lower commits harder to one tonic.
        drone_intervals (`tuple[int]`, *optional*, defaults to `(0, 7)`):
            Semitones above the tonic that the drone sounds: Sa and Pa for the usual tanpura tuning. The learned drone
            template starts as peaks at these intervals, Sa's the highest (`drone_tonic_weight`).
        drone_tonic_weight (`float`, *optional*, defaults to 3.0):
            Height of the drone template's first (Sa) peak relative to the other peaks. A tanpura sounds Sa on three
            of its four strings, so Sa is its strongest pitch class whatever the fourth string is tuned to: with a
            Sa-Ma drone, whose pitch classes are those of a Sa-Pa drone a fourth higher, the louder Sa still wins.
        melody_intervals (`tuple[int]`, *optional*, defaults to `(0, 7)`):
            Semitones above the tonic where the melody template starts with peaks: Sa and Pa, the notes that the
            ragas here never alter and that phrases return to. Only used with `tonic_estimation="drone_and_melody"`.
        tonic_melody_weight (`float`, *optional*, defaults to 0.25):
            Initial norm of the melody template; the drone template starts at norm 1. When the templates are learned,
            norms included, training sets how much each kind of evidence counts.
        learn_tonic_templates (`bool`, *optional*, defaults to `True`):
            Train the drone and melody templates with the rest of the model. `False` keeps them as initialised: the
            classification loss only asks the tonic to be consistent within the recordings a run trains on, not
            right on new ones.
        pitch_class_head (`bool`, *optional*, defaults to `True`):
            Only with `tonic_alignment`, and only in `SamAudioForAudioClassification`: score every raga at every
            tonic rotation from the clip's pitch-class statistics (per bin, the melody's occupancy and the spread
            over frames), a linear classifier on tonic-normalised pitch-class histograms. Its scores join the tonic
            evidence in one distribution over (raga, tonic): summed over ragas it is the tonic that aligns the
            frames, so a tonic that fits no raga's profile loses weight; summed over tonics it is added to the
            classification logits. Starts at zero, where it changes neither.
        segment_logit_weight (`float`, *optional*, defaults to 1.0):
            With a pitch-class head, the weight of the segment classifier's logits in the sum with the head's. Each
            classifier trains on its own cross-entropy; `run_raga_classification.py` then fits this weight on the
            validation split (`sam_audio_raga.calibration`), since the segment classifier grows overconfident when
            few recordings are labelled.
        spectrogram_floor (`float`, *optional*, defaults to 1e-6):
            Added to spectrogram power before the logarithm, so silence maps to a finite floor.
        spectrogram_chunk_frames (`int`, *optional*, defaults to 128):
            STFT frames computed per step of the spectral frontends. Short chunks keep the FFT buffers in cache,
            which is about three times faster on CPU than one batch-wide STFT, with identical output; 0 computes
            the whole batch at once.
        conv_dim (`tuple[int]`, *optional*):
            Output channels of each conv layer of the feature encoder. Defaults depend on `frontend` (see
            `DEFAULT_CONV_LAYERS`).
        conv_kernel (`tuple[int]`, *optional*):
            Kernel size of each conv layer. Same length as `conv_dim`.
        conv_stride (`tuple[int]`, *optional*):
            Stride of each conv layer. Same length as `conv_dim`.
        conv_bias (`bool`, *optional*, defaults to `True`):
            Whether the conv layers have a bias.
        feat_extract_activation (`str`, *optional*, defaults to `"gelu"`):
            Activation after each conv layer's layer norm.
        hidden_size (`int`, *optional*, defaults to 128):
            Width of the frame states, the segment tokens and the attention layers.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Attention heads in each segment layer; must divide `hidden_size`.
        intermediate_size (`int`, *optional*, defaults to 256):
            Width of the feed-forward blocks.
        num_segment_tokens (`int`, *optional*, defaults to 16):
            Number of learnable segment tokens that attend over the frames.
        num_segment_layers (`int`, *optional*, defaults to 2):
            Number of segment layers (token self-attention, token-to-frame attention, feed-forward).
        segment_competition (`bool`, *optional*, defaults to `True`):
            Segment tokens compete for frames, as in Slot Attention: the token-to-frame attention is normalised over
            the tokens (each frame is shared out among them), then each token takes the weighted mean of the frames it
            won; every segment layer repeats this with the refined tokens. With a temporal prior
            (`segment_prior_width`), each token owns a stretch of the clip, so the segment states summarise
            successive phrases. `False` gives plain cross-attention (a softmax over frames per token), where nothing
            stops every token from attending to the same frames.
        segment_prior_width (`float`, *optional*, defaults to 0.5):
            Width (standard deviation) of each token's Gaussian temporal prior around its anchor, in units of one
            token's share of the clip. Token `i` of `n` is anchored at `(i + 0.5) / n` of the clip's unpadded length;
            the prior's log-density is added to the competition logits, so content can move segment boundaries but
            not collapse the tokens onto one instant. Only used with `segment_competition=True`.
        num_conv_pos_embeddings (`int`, *optional*, defaults to 15):
            Kernel size (odd, in frames) of the convolutional positional embedding, which also gives each frame local
            context.
        num_conv_pos_embedding_groups (`int`, *optional*, defaults to 16):
            Groups of the convolutional positional embedding; must divide `hidden_size`.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation of the feed-forward blocks and the positional embedding.
        hidden_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the outputs of attention and feed-forward blocks.
        attention_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on attention probabilities.
        activation_dropout (`float`, *optional*, defaults to 0.0):
            Dropout inside the feed-forward blocks.
        feat_proj_dropout (`float`, *optional*, defaults to 0.0):
            Dropout after projecting the conv features to `hidden_size`.
        final_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the pooled segment state before the classifier.
        layer_norm_eps (`float`, *optional*, defaults to 1e-5):
            Epsilon of every layer norm.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialiser of weight matrices and segment tokens.
        mask_time_prob (`float`, *optional*, defaults to 0.3):
            Approximate fraction of frames masked for masked segment prediction while training. 0 turns masking off.
        mask_time_length (`int`, *optional*, defaults to 4):
            Length of each masked span, in encoder frames.
        mask_time_min_masks (`int`, *optional*, defaults to 1):
            Minimum number of masked spans per clip while training (when `mask_time_prob > 0`).
        pretraining_target (`str`, *optional*, defaults to `"frames"`):
            What masked segment prediction predicts in `SamAudioForPreTraining`. `"frames"`: the clip's own conv
            features at the masked frames. `"teacher"`: the segment states that an exponential moving average of the
            model (the teacher) computes from the unmasked clip, as in data2vec; only the trainer can supply them.
        contrastive_proj_size (`int`, *optional*, defaults to 64):
            Width of the L2-normalised segment embeddings used by the contrastive loss.
        contrastive_temperature (`float`, *optional*, defaults to 0.1):
            Temperature of the contrastive loss; lower sharpens the similarity distribution.
        label_smoothing (`float`, *optional*, defaults to 0.0):
            Label smoothing of the classification cross-entropy.
    """

    model_type = "sam_audio_raga"
    _auto_class = "AutoConfig"
    # `Trainer.prediction_step` leaves these output fields out of `predictions`, which are then the logits alone (as
    # `np.argmax(eval_pred.predictions, axis=1)` in a stock `compute_metrics` expects).
    keys_to_ignore_at_inference = [
        "classification_loss",
        "masked_segment_loss",
        "contrastive_loss",
        "segment_states",
        "attentions",
        "tonic_probabilities",
        "segment_logits",
        "pitch_class_logits",
    ]

    def __init__(
        self,
        frontend: str = "log_frequency",
        sampling_rate: int = 16000,
        n_fft: int = 4096,
        hop_length: int = 1024,
        num_mel_bins: int = 80,
        min_frequency: float = 130.0,
        num_octaves: int = 5,
        bins_per_semitone: int = 3,
        waveform_filter_bandwidth: float = 4.0,
        waveform_antialias_taps: int = 31,
        tonic_alignment: bool = True,
        octave_level_margin: float = 1.5,
        tonic_estimation: str = "drone_and_melody",
        tonic_temperature: float = 0.1,
        drone_intervals: tuple[int, ...] | list[int] = (0, 7),
        drone_tonic_weight: float = 3.0,
        melody_intervals: tuple[int, ...] | list[int] = (0, 7),
        tonic_melody_weight: float = 0.25,
        learn_tonic_templates: bool = True,
        pitch_class_head: bool = True,
        segment_logit_weight: float = 1.0,
        spectrogram_floor: float = 1e-6,
        spectrogram_chunk_frames: int = 128,
        conv_dim: tuple[int, ...] | list[int] | None = None,
        conv_kernel: tuple[int, ...] | list[int] | None = None,
        conv_stride: tuple[int, ...] | list[int] | None = None,
        conv_bias: bool = True,
        feat_extract_activation: str = "gelu",
        hidden_size: int = 128,
        num_attention_heads: int = 4,
        intermediate_size: int = 256,
        num_segment_tokens: int = 16,
        num_segment_layers: int = 2,
        segment_competition: bool = True,
        segment_prior_width: float = 0.5,
        num_conv_pos_embeddings: int = 15,
        num_conv_pos_embedding_groups: int = 16,
        hidden_act: str = "gelu",
        hidden_dropout: float = 0.1,
        attention_dropout: float = 0.0,
        activation_dropout: float = 0.0,
        feat_proj_dropout: float = 0.0,
        final_dropout: float = 0.1,
        layer_norm_eps: float = 1e-5,
        initializer_range: float = 0.02,
        mask_time_prob: float = 0.3,
        mask_time_length: int = 4,
        mask_time_min_masks: int = 1,
        pretraining_target: str = "frames",
        contrastive_proj_size: int = 64,
        contrastive_temperature: float = 0.1,
        label_smoothing: float = 0.0,
        **kwargs,
    ):
        if frontend not in FRONTENDS:
            raise ValueError(f"`frontend` must be one of {FRONTENDS}, got {frontend!r}.")
        defaults = DEFAULT_CONV_LAYERS[frontend]
        self.frontend = frontend
        self.sampling_rate = sampling_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.num_mel_bins = num_mel_bins
        self.min_frequency = min_frequency
        self.num_octaves = num_octaves
        self.bins_per_semitone = bins_per_semitone
        self.waveform_filter_bandwidth = waveform_filter_bandwidth
        self.waveform_antialias_taps = waveform_antialias_taps
        self.tonic_alignment = tonic_alignment
        self.octave_level_margin = octave_level_margin
        self.tonic_estimation = tonic_estimation
        self.tonic_temperature = tonic_temperature
        self.drone_intervals = list(drone_intervals)
        self.drone_tonic_weight = drone_tonic_weight
        self.melody_intervals = list(melody_intervals)
        self.tonic_melody_weight = tonic_melody_weight
        self.learn_tonic_templates = learn_tonic_templates
        self.pitch_class_head = pitch_class_head
        self.segment_logit_weight = segment_logit_weight
        self.spectrogram_floor = spectrogram_floor
        self.spectrogram_chunk_frames = spectrogram_chunk_frames
        self.conv_dim = list(defaults["conv_dim"] if conv_dim is None else conv_dim)
        self.conv_kernel = list(defaults["conv_kernel"] if conv_kernel is None else conv_kernel)
        self.conv_stride = list(defaults["conv_stride"] if conv_stride is None else conv_stride)
        self.conv_bias = conv_bias
        self.feat_extract_activation = feat_extract_activation
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.num_segment_tokens = num_segment_tokens
        self.num_segment_layers = num_segment_layers
        self.segment_competition = segment_competition
        self.segment_prior_width = segment_prior_width
        self.num_conv_pos_embeddings = num_conv_pos_embeddings
        self.num_conv_pos_embedding_groups = num_conv_pos_embedding_groups
        self.hidden_act = hidden_act
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.feat_proj_dropout = feat_proj_dropout
        self.final_dropout = final_dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.mask_time_prob = mask_time_prob
        self.mask_time_length = mask_time_length
        self.mask_time_min_masks = mask_time_min_masks
        self.pretraining_target = pretraining_target
        self.contrastive_proj_size = contrastive_proj_size
        self.contrastive_temperature = contrastive_temperature
        self.label_smoothing = label_smoothing
        # Every saved folder can be loaded through any of the Auto classes with `trust_remote_code=True`.
        kwargs.setdefault(
            "auto_map",
            {
                "AutoConfig": "configuration_sam_audio.SamAudioConfig",
                "AutoModel": "modeling_sam_audio.SamAudioModel",
                "AutoModelForAudioClassification": "modeling_sam_audio.SamAudioForAudioClassification",
                "AutoModelForPreTraining": "modeling_sam_audio.SamAudioForPreTraining",
            },
        )
        super().__init__(**kwargs)
        self._validate()

    def _validate(self) -> None:
        """Raise a `ValueError` naming the first invalid hyperparameter."""
        positive_ints = (
            "sampling_rate",
            "n_fft",
            "hop_length",
            "num_mel_bins",
            "num_octaves",
            "bins_per_semitone",
            "hidden_size",
            "num_attention_heads",
            "intermediate_size",
            "num_segment_tokens",
            "num_segment_layers",
            "num_conv_pos_embeddings",
            "num_conv_pos_embedding_groups",
            "mask_time_length",
            "contrastive_proj_size",
            "waveform_antialias_taps",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        min_masks = self.mask_time_min_masks
        if isinstance(min_masks, bool) or not isinstance(min_masks, int) or min_masks < 0:
            raise ValueError(f"`mask_time_min_masks` must be a non-negative integer, got {min_masks!r}.")
        chunk = self.spectrogram_chunk_frames
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 0:
            raise ValueError(
                f"`spectrogram_chunk_frames` must be a non-negative integer (0: one chunk), got {chunk!r}."
            )

        probabilities = (
            "hidden_dropout",
            "attention_dropout",
            "activation_dropout",
            "feat_proj_dropout",
            "final_dropout",
            "mask_time_prob",
            "label_smoothing",
        )
        for name in probabilities:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"`{name}` is a probability and must lie in [0, 1], got {value!r}.")

        positive_floats = (
            "tonic_temperature",
            "segment_prior_width",
            "drone_tonic_weight",
            "octave_level_margin",
            "tonic_melody_weight",
            "contrastive_temperature",
            "min_frequency",
            "waveform_filter_bandwidth",
            "spectrogram_floor",
            "layer_norm_eps",
            "initializer_range",
        )
        for name in positive_floats:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
        weight = self.segment_logit_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < float("inf"):
            raise ValueError(f"`segment_logit_weight` must be a finite number >= 0, got {weight!r}.")

        if not len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride) > 0:
            raise ValueError(
                "`conv_dim`, `conv_kernel` and `conv_stride` must be non-empty and of equal length, got lengths "
                f"{len(self.conv_dim)}, {len(self.conv_kernel)} and {len(self.conv_stride)}."
            )
        for name in ("drone_intervals", "melody_intervals"):
            values = getattr(self, name)
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 12 for v in values):
                raise ValueError(f"`{name}` must hold semitones in [0, 12), got {values!r}.")
        if self.pretraining_target not in PRETRAINING_TARGETS:
            raise ValueError(
                f"`pretraining_target` must be one of {PRETRAINING_TARGETS}, got {self.pretraining_target!r}."
            )
        if self.tonic_estimation not in TONIC_ESTIMATIONS:
            raise ValueError(f"`tonic_estimation` must be one of {TONIC_ESTIMATIONS}, got {self.tonic_estimation!r}.")
        for name in ("conv_dim", "conv_kernel", "conv_stride"):
            values = getattr(self, name)
            if any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values):
                raise ValueError(f"`{name}` must hold positive integers, got {values!r}.")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be divisible by `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        if self.hidden_size % self.num_conv_pos_embedding_groups != 0:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be divisible by `num_conv_pos_embedding_groups` "
                f"({self.num_conv_pos_embedding_groups})."
            )
        if self.num_conv_pos_embeddings % 2 == 0:
            raise ValueError(
                f"`num_conv_pos_embeddings` must be odd so frames stay centred, got {self.num_conv_pos_embeddings}."
            )
        if self.frontend in ("log_frequency", "waveform") and self.max_frequency > self.sampling_rate / 2:
            raise ValueError(
                f"The {self.frontend} frontend reaches {self.max_frequency:.0f} Hz, above the Nyquist frequency "
                f"({self.sampling_rate / 2:.0f} Hz): lower `min_frequency` or `num_octaves`."
            )
        if self.frontend == "log_frequency" and self.n_fft < 2 * self.sampling_rate / self.min_frequency:
            logger.warning(
                f"`n_fft`={self.n_fft} resolves less than two periods of `min_frequency`={self.min_frequency} Hz; the "
                "lowest octave of the log-frequency spectrogram will be blurred."
            )

    @property
    def max_frequency(self) -> float:
        """Highest frequency of the `"log_frequency"` and `"waveform"` frontends, in Hz."""
        return self.min_frequency * 2**self.num_octaves

    @property
    def bins_per_octave(self) -> int:
        return 12 * self.bins_per_semitone

    @property
    def band_spacing(self) -> float:
        """Gap between neighbouring log-frequency bands, as a fraction of the lower band's centre frequency."""
        return 2.0 ** (1.0 / self.bins_per_octave) - 1.0

    @property
    def frontend_channels(self) -> int:
        """Channels of the frame sequence that enters the conv stack."""
        if self.frontend == "log_mel":
            return self.num_mel_bins
        if self.tonic_alignment:
            return self.bins_per_octave
        return self.bins_per_octave * self.num_octaves

    @property
    def inputs_to_logits_ratio(self) -> int:
        """Input samples per encoder frame."""
        ratio = self.hop_length
        for stride in self.conv_stride:
            ratio *= stride
        return ratio


__all__ = ["SamAudioConfig"]
