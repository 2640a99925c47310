"""PyTorch SAM-Audio: learnable segment tokens attending over an audio encoder, for raga classification."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.utils import ModelOutput, logging


try:
    from .configuration_sam_audio import SamAudioConfig
except ImportError:
    from configuration_sam_audio import SamAudioConfig


logger = logging.get_logger(__name__)

# Per-bin statistics of a clip's pitch-class frames that `SamAudioPitchClassHead` classifies.
PITCH_CLASS_STATISTICS = ("melody_occupancy", "spread")


@dataclass
class SamAudioModelOutput(ModelOutput):
    r"""
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_frames, config.hidden_size)`):
            Frame states the segment tokens attend over (masked frames hold the mask embedding).
        segment_states (`torch.FloatTensor` of shape `(batch_size, config.num_segment_tokens, config.hidden_size)`):
            Final states of the segment tokens.
        extract_features (`torch.FloatTensor` of shape `(batch_size, num_frames, config.conv_dim[-1])`):
            Normalised output of the conv feature encoder.
        masked_segment_loss (`torch.FloatTensor` of shape `()`, *optional*):
            Mean squared error of the masked-frame predictions, when frames were masked.
        mask_time_indices (`torch.BoolTensor` of shape `(batch_size, num_frames)`, *optional*):
            Frames that were masked.
        frame_mask (`torch.BoolTensor` of shape `(batch_size, num_frames)`):
            `True` on frames computed from real audio, `False` on padding.
        attentions (`tuple(torch.FloatTensor)`, *optional*, returned when `output_attentions=True`):
            Token-to-frame attention of each segment layer, each of shape
            `(batch_size, config.num_attention_heads, config.num_segment_tokens, num_frames)`.
        tonic_probabilities (`torch.FloatTensor` of shape `(batch_size, config.bins_per_octave)`, *optional*):
            The tonic the log-frequency frontend found (with `tonic_alignment`): the probability of each pitch class,
            bin `r` standing for `config.min_frequency * 2 ** (r / config.bins_per_octave)` Hz in any octave.
        pitch_class_logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`, *optional*):
            Label scores of the pitch-class head (see `SamAudioConfig.pitch_class_head`), when the model has one.
    """

    last_hidden_state: torch.FloatTensor | None = None
    segment_states: torch.FloatTensor | None = None
    extract_features: torch.FloatTensor | None = None
    masked_segment_loss: torch.FloatTensor | None = None
    mask_time_indices: torch.BoolTensor | None = None
    frame_mask: torch.BoolTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    tonic_probabilities: torch.FloatTensor | None = None
    pitch_class_logits: torch.FloatTensor | None = None


@dataclass
class SamAudioClassifierOutput(ModelOutput):
    r"""
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` are given):
            Classification loss only; `SamAudioTrainer` adds the weighted auxiliary losses.
        logits (`torch.FloatTensor` of shape `(batch_size, config.num_labels)`):
            Raga scores before softmax: the segment classifier's plus, with `config.pitch_class_head`, the
            pitch-class head's (`config.segment_logit_weight * segment_logits + pitch_class_logits`).
        classification_loss (`torch.FloatTensor` of shape `()`, *optional*):
            Cross-entropy against `labels` (same value as `loss`): of `logits`, or with a pitch-class head the sum of
            each classifier's own cross-entropy.
        masked_segment_loss (`torch.FloatTensor` of shape `()`, *optional*):
            Masked segment prediction loss, when frames were masked (training, or `mask_time_indices` given).
        contrastive_loss (`torch.FloatTensor` of shape `()`, *optional*, returned in training mode):
            Contrastive segment loss: supervised by `labels` when given, else segments of one clip are positives.
        segment_states (`torch.FloatTensor` of shape `(batch_size, config.num_segment_tokens, config.hidden_size)`):
            Final states of the segment tokens.
        attentions (`tuple(torch.FloatTensor)`, *optional*, returned when `output_attentions=True`):
            Token-to-frame attention of each segment layer, each of shape
            `(batch_size, config.num_attention_heads, config.num_segment_tokens, num_frames)`.
        tonic_probabilities (`torch.FloatTensor` of shape `(batch_size, config.bins_per_octave)`, *optional*):
            The tonic the log-frequency frontend found (with `tonic_alignment`): the probability of each pitch class,
            bin `r` standing for `config.min_frequency * 2 ** (r / config.bins_per_octave)` Hz in any octave.
        segment_logits (`torch.FloatTensor` of shape `(batch_size, config.num_labels)`):
            The segment classifier's scores: a linear layer on the average of the segment states.
        pitch_class_logits (`torch.FloatTensor` of shape `(batch_size, config.num_labels)`, *optional*):
            The pitch-class head's scores, with `config.pitch_class_head`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    classification_loss: torch.FloatTensor | None = None
    masked_segment_loss: torch.FloatTensor | None = None
    contrastive_loss: torch.FloatTensor | None = None
    segment_states: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    tonic_probabilities: torch.FloatTensor | None = None
    segment_logits: torch.FloatTensor | None = None
    pitch_class_logits: torch.FloatTensor | None = None


@dataclass
class SamAudioForPreTrainingOutput(ModelOutput):
    r"""
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Unweighted sum of the available self-supervised losses.
        masked_segment_loss (`torch.FloatTensor` of shape `()`, *optional*):
            Masked segment prediction loss, when frames were masked.
        contrastive_loss (`torch.FloatTensor` of shape `()`, *optional*, returned in training mode):
            Self-supervised contrastive loss (segments of one clip, or of one recording, are positives).
        segment_states (`torch.FloatTensor` of shape `(batch_size, config.num_segment_tokens, config.hidden_size)`):
            Final states of the segment tokens.
        attentions (`tuple(torch.FloatTensor)`, *optional*, returned when `output_attentions=True`):
            Token-to-frame attention of each segment layer.
    """

    loss: torch.FloatTensor | None = None
    masked_segment_loss: torch.FloatTensor | None = None
    contrastive_loss: torch.FloatTensor | None = None
    segment_states: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


def _conv_output_length(length, kernel: int, stride: int):
    """Length after an unpadded convolution (or STFT without centring); works on ints and tensors."""
    return (length - kernel) // stride + 1


def _compute_mask_indices(
    frame_mask: torch.BoolTensor, mask_prob: float, mask_length: int, min_masks: int
) -> torch.BoolTensor:
    """Sample wav2vec2-style spans of masked frames, on real frames only (`frame_mask` is `True` there)."""
    batch_size, num_frames = frame_mask.shape
    device = frame_mask.device
    lengths = frame_mask.sum(-1)
    num_starts = (lengths - mask_length + 1).clamp(min=1)
    # As in wav2vec2: prob * length / span length spans, with a uniform offset so the expected count is exact.
    num_spans = torch.floor(mask_prob * lengths / mask_length + torch.rand(batch_size, device=device)).long()
    num_spans = torch.minimum(num_spans.clamp(min=min_masks), num_starts)
    # Starts drawn without replacement: rank random scores, invalid starts are forced to the end of the ranking.
    scores = torch.rand(batch_size, num_frames, device=device)
    positions = torch.arange(num_frames, device=device)
    scores = scores.masked_fill(positions[None, :] >= num_starts[:, None], 2.0)
    ranks = scores.argsort(dim=-1).argsort(dim=-1)
    starts = (ranks < num_spans[:, None]).long()
    # A frame is masked when a span started within the previous `mask_length` frames.
    started = starts.cumsum(dim=-1)
    started_before = F.pad(started, (mask_length, 0))[:, :num_frames]
    return ((started - started_before) > 0) & frame_mask


def _masked_segment_loss(
    predictions: torch.FloatTensor, targets: torch.FloatTensor, mask_time_indices: torch.BoolTensor
) -> torch.FloatTensor:
    """Mean squared error over masked frames only."""
    per_frame = (predictions.float() - targets.float()).pow(2).mean(dim=-1)
    mask = mask_time_indices.to(per_frame.dtype)
    return (per_frame * mask).sum() / mask.sum().clamp(min=1.0)


def _teacher_targets(segment_states: torch.FloatTensor) -> torch.FloatTensor:
    """The teacher's segment states `(batch, segments, hidden)`, each channel normalised over a clip's segments.

    As data2vec normalises its targets over time: what every segment shares (the clip's level, or a direction all
    states drift to) is not a target, only how the segments of one clip differ.
    """
    return F.instance_norm(segment_states.float().transpose(1, 2)).transpose(1, 2)


def _segment_contrastive_loss(
    embeddings: torch.FloatTensor, group_ids: torch.LongTensor, temperature: float
) -> torch.FloatTensor:
    """Supervised contrastive loss over every segment in the batch; segments of clips sharing a group id are positives.

    `embeddings` is `(batch_size, num_segments, dim)` and L2-normalised. Anchors without any positive are left out,
    so the loss stays finite when a class occurs once in the batch.
    """
    batch_size, num_segments, _ = embeddings.shape
    flat = embeddings.float().reshape(batch_size * num_segments, -1)
    groups = group_ids.repeat_interleave(num_segments)
    is_self = torch.eye(flat.shape[0], dtype=torch.bool, device=flat.device)
    similarities = (flat @ flat.T / temperature).masked_fill(is_self, float("-inf"))  # (N, N)
    log_prob = similarities - torch.logsumexp(similarities, dim=-1, keepdim=True)
    positives = (groups[:, None] == groups[None, :]) & ~is_self
    num_positives = positives.sum(dim=-1)
    mean_log_prob = torch.where(positives, log_prob, 0.0).sum(dim=-1) / num_positives.clamp(min=1)
    has_positive = num_positives > 0
    return -(mean_log_prob * has_positive).sum() / has_positive.sum().clamp(min=1)


def _log_frequency_filterbank(config: SamAudioConfig) -> torch.Tensor:
    """Triangular filters centred on log-spaced frequencies, shape `(n_fft // 2 + 1, num_octaves * bins_per_octave)`.

    Where the log spacing is finer than the FFT resolution (low notes), each filter is widened to one FFT bin, so every
    band still receives energy and neighbouring bands interpolate between FFT bins.
    """
    num_bins = config.num_octaves * config.bins_per_octave
    fft_frequencies = torch.linspace(0, config.sampling_rate / 2, config.n_fft // 2 + 1, dtype=torch.float64)
    centres = config.min_frequency * 2.0 ** (torch.arange(num_bins, dtype=torch.float64) / config.bins_per_octave)
    log_spacing = centres * config.band_spacing
    half_width = torch.clamp(log_spacing, min=config.sampling_rate / config.n_fft)
    weights = (1.0 - (fft_frequencies[:, None] - centres[None, :]).abs() / half_width[None, :]).clamp(min=0.0)
    return (weights / weights.sum(dim=0, keepdim=True)).float()


def _interval_template(config: SamAudioConfig, intervals: list[int], first_weight: float = 1.0) -> torch.Tensor:
    """Unit-norm pitch-class template with a one-semitone-wide bump at each of `intervals` (semitones above Sa).

    The first interval's bump is `first_weight` times as high as the others.
    """
    bins = torch.arange(config.bins_per_octave, dtype=torch.float32)
    template = torch.zeros(config.bins_per_octave)
    for position, interval in enumerate(intervals):
        distance = (bins - interval * config.bins_per_semitone).abs()
        distance = torch.minimum(distance, config.bins_per_octave - distance)
        height = first_weight if position == 0 else 1.0
        template += height * torch.exp(-0.5 * (2 * distance / config.bins_per_semitone) ** 2)
    return F.normalize(template, dim=0)


def _filterbank_blocks(config: SamAudioConfig) -> list[tuple[int, int, int, int]]:
    """`(first_band, stop_band, first_fft_bin, stop_fft_bin)` blocks outside which the filterbank is zero.

    Mel filters overlap across the whole axis and form one block; log-frequency filters form one block per octave,
    which makes the filterbank product about `num_octaves` times cheaper than a dense one.
    """
    num_freqs = config.n_fft // 2 + 1
    if config.frontend != "log_frequency":
        return [(0, config.num_mel_bins, 0, num_freqs)]
    bin_width = config.sampling_rate / config.n_fft
    spread = config.band_spacing
    blocks = []
    for octave in range(config.num_octaves):
        first_band, stop_band = octave * config.bins_per_octave, (octave + 1) * config.bins_per_octave
        lowest_centre = config.min_frequency * 2.0 ** (first_band / config.bins_per_octave)
        highest_centre = config.min_frequency * 2.0 ** ((stop_band - 1) / config.bins_per_octave)
        lowest = lowest_centre - max(lowest_centre * spread, bin_width)
        highest = highest_centre + max(highest_centre * spread, bin_width)
        first_fft_bin = max(0, math.floor(lowest / bin_width))
        stop_fft_bin = min(num_freqs, math.ceil(highest / bin_width) + 1)
        blocks.append((first_band, stop_band, first_fft_bin, stop_fft_bin))
    return blocks


def _waveform_filterbank_plan(config: SamAudioConfig) -> tuple[int, list[tuple[int, int, int, float]]]:
    """Kernel length of the `"waveform"` frontend and, per octave (lowest first), `(halvings, stride, subframes,
    envelope_width)`.

    An octave is filtered at `sampling_rate / 2 ** halvings`, the lowest rate that keeps its top band below 0.4 of
    the rate (inside the half-band filter's pass band) and divides `hop_length`. `envelope_width` is the standard
    deviation of its filters' Gaussian envelope, in samples at that rate. Its power is sampled `subframes` times per
    hop, `stride` samples apart, about every one and a half envelope widths: the short kernels of the high octaves
    then cover all the sound between frames, and each frame averages enough samples for a steady estimate under
    noise.
    """
    spacing = config.band_spacing
    plan = []
    for octave in range(config.num_octaves):
        lowest = config.min_frequency * 2.0**octave
        halvings = max(0, math.floor(math.log2(0.4 * config.sampling_rate / (2 * lowest))))
        while config.hop_length % 2**halvings:
            halvings -= 1
        lowest_per_sample = lowest * 2**halvings / config.sampling_rate
        # Gaussian envelope whose frequency response has the requested full width at half maximum.
        full_width = config.waveform_filter_bandwidth * spacing * lowest_per_sample
        envelope_width = math.sqrt(2.0 * math.log(2.0)) / (math.pi * full_width)
        hop = config.hop_length // 2**halvings
        subframes = 2 ** max(0, round(math.log2(hop / (1.5 * envelope_width))))
        while hop % subframes:
            subframes //= 2
        plan.append((halvings, hop // subframes, subframes, envelope_width))
    kernel_size = 2 * math.ceil(3.0 * max(width for *_, width in plan)) + 1
    return kernel_size, plan


def _gabor_envelopes(config: SamAudioConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample times `(kernel_size,)` centred on 0, and each octave's Gaussian envelope (peak 1) `(num_octaves,
    kernel_size)`, in samples at the octave's own rate."""
    kernel_size, plan = _waveform_filterbank_plan(config)
    time = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    widths = torch.tensor([envelope_width for *_, envelope_width in plan], dtype=torch.float64)
    return time, torch.exp(-0.5 * (time[None, :] / widths[:, None]) ** 2)


def _gabor_filters(config: SamAudioConfig) -> torch.Tensor:
    """Initial kernels of the `"waveform"` frontend, shape `(num_octaves, 2 * bins_per_octave, 1, kernel_size)`.

    For each band of the log-frequency grid, a cosine and a sine under the octave's Gaussian envelope (peak 1), at the
    octave's sample rate; the real and imaginary outputs squared and summed give the band's power.
    """
    _, plan = _waveform_filterbank_plan(config)
    time, envelopes = _gabor_envelopes(config)
    bands = torch.arange(config.bins_per_octave, dtype=torch.float64) / config.bins_per_octave
    filters = []
    for octave, ((halvings, *_), envelope) in enumerate(zip(plan, envelopes)):
        centres = config.min_frequency * 2.0 ** (octave + bands) * 2**halvings / config.sampling_rate
        phase = 2.0 * math.pi * centres[:, None] * time[None, :]
        filters.append(torch.cat([envelope * torch.cos(phase), envelope * torch.sin(phase)])[:, None, :])
    return torch.stack(filters).float()


def _gabor_power_gains(config: SamAudioConfig) -> torch.Tensor:
    """Fixed factor on each octave's band power, shape `(num_octaves,)`, following the log-frequency frontend.

    That frontend's filters average the STFT power over bands that widen with frequency, so a unit sinusoid in the
    middle of an octave gets `(n_fft / 4) ** 2` divided by the band's width in FFT bins; the gains give the Gabor
    bands the same power, and the octaves weigh in the octave folding as they do there. Kept apart from the kernels
    so that these stay near unit scale, where the optimiser's steps can move them.
    """
    _, envelopes = _gabor_envelopes(config)
    # A unit sinusoid at a band's centre gives an output of amplitude sum(envelope) / 2.
    amplitudes = envelopes.sum(dim=-1) / 2.0
    middles = config.min_frequency * 2.0 ** (torch.arange(config.num_octaves, dtype=torch.float64) + 0.5)
    spacing = config.band_spacing
    fft_bins = (middles * spacing * config.n_fft / config.sampling_rate).clamp(min=1.0)
    return ((config.n_fft / 4.0 / amplitudes) ** 2 / fft_bins).float()


def _half_band_filter(config: SamAudioConfig) -> torch.Tensor:
    """Hann-windowed sinc low-pass at a quarter of the sample rate (the Nyquist frequency after halving), unit gain."""
    taps = config.waveform_antialias_taps
    offsets = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    kernel = torch.sinc(offsets / 2.0) * torch.hann_window(taps, periodic=False, dtype=torch.float64)
    return (kernel / kernel.sum()).float()


def _mel_filterbank(config: SamAudioConfig) -> torch.Tensor:
    """Slaney-normalised mel filters, shape `(n_fft // 2 + 1, num_mel_bins)`."""
    import torchaudio.functional

    return torchaudio.functional.melscale_fbanks(
        n_freqs=config.n_fft // 2 + 1,
        f_min=0.0,
        f_max=config.sampling_rate / 2,
        n_mels=config.num_mel_bins,
        sample_rate=config.sampling_rate,
        norm="slaney",
        mel_scale="slaney",
    )


def _mean_over_frames(features: torch.FloatTensor, frame_mask: torch.BoolTensor) -> torch.FloatTensor:
    """Mean of `(batch, channels, frames)` features over each clip's unpadded frames, shape `(batch, channels, 1)`."""
    weights = frame_mask[:, None, :].to(features.dtype)
    return (features * weights).sum(-1, keepdim=True) / weights.sum(-1, keepdim=True).clamp(min=1.0)


def _fold_octaves(bands: torch.FloatTensor, config: SamAudioConfig) -> torch.FloatTensor:
    """Folds band energies `(batch, octaves * classes, frames)` into pitch classes `(batch, classes, frames)`.

    Each octave is normalised on its own before averaging, so the poorly resolved low octaves (fundamentals and drone,
    the loudest) do not blur the pitch classes of the sharper harmonics. An octave far quieter than the frame's
    loudest (cut off by a band-limited recording, or holding only noise) carries no pitch and fades out of the mean.
    """
    batch_size, _, num_frames = bands.shape
    octaves = torch.log(bands.view(batch_size, config.num_octaves, -1, num_frames) + config.spectrogram_floor)
    levels = octaves.mean(dim=2, keepdim=True)  # (batch, octaves, 1, frames)
    weights = torch.sigmoid(levels - levels.amax(dim=1, keepdim=True) + config.octave_level_margin)
    return ((octaves - levels) * weights).sum(dim=1) / weights.sum(dim=1)


def _median_over_frames(features: torch.FloatTensor, frame_mask: torch.BoolTensor) -> torch.FloatTensor:
    """Median of `(batch, channels, frames)` features over each clip's unpadded frames, shape `(batch, channels)`."""
    values = features.masked_fill(~frame_mask[:, None, :], float("nan"))
    return torch.nanmedian(values, dim=-1).values


def _circular_correlation(profiles: torch.FloatTensor, template: torch.FloatTensor) -> torch.FloatTensor:
    """`scores[b, r] = sum_p template[p] * profiles[b, p + r]` for every rotation `r`, with unit-norm profiles.

    The template is not normalised: its norm is the weight of this evidence in the tonic softmax, and it is learned.
    """
    profiles = F.normalize(profiles - profiles.mean(dim=-1, keepdim=True), dim=-1)
    spectrum = torch.fft.rfft(profiles, dim=-1) * torch.fft.rfft(template.float()).conj()
    return torch.fft.irfft(spectrum, n=profiles.shape[-1], dim=-1)


class SamAudioPitchClassHead(nn.Module):
    """Scores `(batch, labels, rotations)` of every label at every tonic rotation from a clip's pitch-class statistics.

    A linear classifier on pitch-class histograms read relative to each candidate tonic: `scores[b, c, r]` matches
    label `c`'s templates against the statistics rotated so that bin `r` is Sa, by circular correlation.
    """

    def __init__(self, config: SamAudioConfig, num_labels: int):
        super().__init__()
        self.templates = nn.Parameter(torch.empty(num_labels, len(PITCH_CLASS_STATISTICS), config.bins_per_octave))

    def forward(self, statistics: torch.FloatTensor) -> torch.FloatTensor:
        num_classes = statistics.shape[-1]
        profiles = F.normalize(statistics - statistics.mean(dim=-1, keepdim=True), dim=-1)  # (batch, stats, classes)
        spectrum = torch.fft.rfft(profiles, dim=-1)[:, None] * torch.fft.rfft(self.templates.float(), dim=-1).conj()
        return torch.fft.irfft(spectrum, n=num_classes, dim=-1).sum(dim=2)


class SamAudioTonicAlignment(nn.Module):
    """Finds the clip's tonic, rotates the pitch-class frames so it lands on bin 0, and removes the stationary profile.

    The stationary profile (each bin's median over frames) holds what sounds throughout: the drone, hum, the room's
    colouring. Energy above it is the melody (and pitched percussion). Each is matched against a learned template at
    every rotation, with circular correlations computed by FFTs along the pitch-class axis; a softmax over the summed
    scores weighs the rotated frames. A drone alone cannot tell a Sa-Ma tuning from a Sa-Pa tuning a fourth higher,
    and may be faint or pause; the melody settles those cases. With a `SamAudioPitchClassHead` (`num_labels` > 0),
    the tonic and the label are estimated together: a tonic under which the clip's pitch classes fit no label's
    profile loses weight.
    """

    def __init__(self, config: SamAudioConfig, num_labels: int = 0):
        super().__init__()
        self.temperature = config.tonic_temperature
        self.drone_template = nn.Parameter(torch.empty(config.bins_per_octave))
        self.use_melody = config.tonic_estimation == "drone_and_melody"
        self.melody_template = nn.Parameter(torch.empty(config.bins_per_octave)) if self.use_melody else None
        self.learn_templates = config.learn_tonic_templates
        self.pitch_class_head = SamAudioPitchClassHead(config, num_labels) if num_labels > 0 else None

    def forward(
        self, pitch_classes: torch.FloatTensor, frame_mask: torch.BoolTensor
    ) -> tuple[torch.FloatTensor, torch.FloatTensor, torch.FloatTensor | None]:
        """Aligned frames `(batch, pitch_classes, frames)`, the tonic distribution `(batch, rotations)` and, with a
        pitch-class head, its label logits `(batch, labels)`."""
        num_classes = pitch_classes.shape[1]
        stationary = _median_over_frames(pitch_classes, frame_mask)  # (batch, pitch_classes)
        melody = pitch_classes - stationary[:, :, None]
        occupancy = _mean_over_frames(melody.clamp(min=0.0), frame_mask).squeeze(-1)
        # Fixed templates are detached, so they get no gradient (and no weight decay) yet load like learned ones.
        drone_template = self.drone_template if self.learn_templates else self.drone_template.detach()
        scores = _circular_correlation(stationary, drone_template)
        if self.use_melody:
            melody_template = self.melody_template if self.learn_templates else self.melody_template.detach()
            scores = scores + _circular_correlation(occupancy, melody_template)
        log_tonic = torch.log_softmax(scores / self.temperature, dim=-1)  # (batch, rotations)
        label_logits = None
        if self.pitch_class_head is not None:
            centred = pitch_classes - _mean_over_frames(pitch_classes, frame_mask)
            spread = _mean_over_frames(centred.square(), frame_mask).squeeze(-1).sqrt()
            statistics = torch.stack([occupancy, spread], dim=1)  # in the order of PITCH_CLASS_STATISTICS
            joint = log_tonic[:, None, :] + self.pitch_class_head(statistics) / self.temperature
            label_logits = torch.logsumexp(joint, dim=-1)  # (batch, labels)
            log_tonic = torch.log_softmax(torch.logsumexp(joint, dim=1), dim=-1)
        tonic_probabilities = log_tonic.exp()
        # aligned[p] = sum_r tonic_probabilities[r] * melody[p + r]
        aligned = torch.fft.irfft(
            torch.fft.rfft(melody, dim=1) * torch.fft.rfft(tonic_probabilities, dim=-1).conj()[:, :, None],
            n=num_classes,
            dim=1,
        )
        return aligned, tonic_probabilities, label_logits


class SamAudioWaveformFilterbank(nn.Module):
    """The `"waveform"` frontend's first layer: a learned conv layer on the raw samples that yields band powers on the
    log-frequency grid, `(batch, num_octaves * bins_per_octave, frames)`, on the frames of the STFT frontends.

    Each octave is filtered at the lowest sample rate that holds it, so one kernel length serves every octave, as in a
    constant-Q transform: a fixed half-band low-pass and decimation per halving of the rate, then a strided conv
    with the octave's own kernels (real and imaginary parts as separate output channels) and the power of each
    complex output, averaged over the `subframes` samples of each frame.
    """

    def __init__(self, config: SamAudioConfig):
        super().__init__()
        self.config = config
        self.kernel_size, plan = _waveform_filterbank_plan(config)
        self.plan = [(halvings, stride, subframes) for halvings, stride, subframes, _ in plan]
        self.max_halvings = max(halvings for halvings, _, _ in self.plan)
        self.filters = nn.Parameter(torch.empty(config.num_octaves, 2 * config.bins_per_octave, 1, self.kernel_size))
        self.register_buffer("half_band", torch.empty(config.waveform_antialias_taps), persistent=False)
        self.register_buffer("power_gains", torch.empty(config.num_octaves), persistent=False)

    def decimated(self, waveform: torch.FloatTensor) -> list[torch.FloatTensor]:
        """`levels[h]` is the waveform low-passed and decimated by 2, `h` times over (`levels[0]` is the waveform).

        Each level keeps the whole output of the linear convolution, the filter's tail after the clip included, so a
        clip's levels do not depend on any padding after it.
        """
        taps = self.half_band.float()
        centre = taps.numel() // 2
        # A half-band filter is zero at every even offset but 0, so each output sample needs only the centre tap and
        # the odd-offset taps, applied to pairs of odd samples around it.
        odd_taps = taps[centre + 1 :: 2]
        reach = odd_taps.numel()
        levels = [waveform]
        for _ in range(self.max_halvings):
            signal = levels[-1]
            num_outputs = (signal.shape[-1] + 2 * reach) // 2
            padded = F.pad(signal, (2 * reach, 2 * num_outputs - signal.shape[-1] + 2 * reach))
            odd = padded[:, 1::2]  # odd[p] = signal[2 * p + 1 - 2 * reach]
            level = padded[:, 2 * reach : 2 * reach + 2 * num_outputs : 2] * taps[centre]
            for offset in range(reach):
                after = odd[:, reach + offset : reach + offset + num_outputs]
                before = odd[:, reach - offset - 1 : reach - offset - 1 + num_outputs]
                level = level + odd_taps[offset] * (after + before)
            levels.append(level)
        return levels

    def forward(self, waveform: torch.FloatTensor) -> torch.FloatTensor:
        n_fft, hop_length = self.config.n_fft, self.config.hop_length
        batch_size, num_samples = waveform.shape
        num_frames = (num_samples - n_fft) // hop_length + 1
        levels = self.decimated(waveform)
        bands = []
        for octave, (halvings, stride, subframes) in enumerate(self.plan):
            # Power is sampled every `stride` samples and each frame averages the samples inside its STFT window
            # (n_fft samples from its start), weighted as the Hann window weighs them: the frames integrate over the
            # time the STFT frames do.
            per_window = max(1, round(n_fft / (2**halvings * stride)))
            num_samples_needed = (num_frames - 1) * subframes + per_window
            first = round(stride / 2 - (self.kernel_size - 1) / 2)
            span = (num_samples_needed - 1) * stride + self.kernel_size
            level = levels[halvings]
            level = F.pad(level, (max(0, -first), max(0, first + span - level.shape[-1])))
            level = level[:, max(0, first) : max(0, first) + span]
            responses = F.conv1d(level[:, None, :], self.filters[octave].float(), stride=stride)
            real, imaginary = responses.chunk(2, dim=1)  # (batch, bins, num_samples_needed)
            power = (real.square() + imaginary.square()) * self.power_gains[octave]
            positions = (torch.arange(per_window, device=waveform.device) + 0.5) / per_window
            weights = torch.sin(math.pi * positions) ** 4  # the Hann window, squared for power
            bands.append(power.unfold(-1, per_window, subframes) @ (weights / weights.sum()))
        return torch.cat(bands, dim=1)


class SamAudioSpectralFrontend(nn.Module):
    """Log-frequency, log-mel or learned waveform-filterbank spectrogram, computed in float32 inside the model.

    The STFT frontends filter the power of unpadded STFT frames; the `"waveform"` frontend computes the log-frequency
    bands with `SamAudioWaveformFilterbank` instead, on the same frames, and takes the same path from there.
    """

    def __init__(self, config: SamAudioConfig, num_labels: int = 0):
        super().__init__()
        self.config = config
        self.waveform_filterbank = SamAudioWaveformFilterbank(config) if config.frontend == "waveform" else None
        if self.waveform_filterbank is None:
            log_mel = config.frontend == "log_mel"
            num_bins = config.num_mel_bins if log_mel else config.num_octaves * config.bins_per_octave
            # Only the FFT bins that some filter covers are kept, and each block of bands multiplies only its own bins.
            self.blocks = _filterbank_blocks(config)
            self.freq_start = min(block[2] for block in self.blocks)
            self.freq_stop = max(block[3] for block in self.blocks)
            self.register_buffer("window", torch.empty(config.n_fft), persistent=False)
            self.register_buffer(
                "filterbank", torch.empty(self.freq_stop - self.freq_start, num_bins), persistent=False
            )
        self.fold_octaves = config.frontend in ("log_frequency", "waveform") and config.tonic_alignment
        self.tonic_alignment = SamAudioTonicAlignment(config, num_labels) if self.fold_octaves else None

    def compute_filterbank(self) -> torch.Tensor:
        """The filterbank restricted to FFT bins `freq_start:freq_stop`, shape `(num_freqs, num_bins)`."""
        if self.config.frontend == "log_mel":
            filterbank = _mel_filterbank(self.config)
        else:
            filterbank = _log_frequency_filterbank(self.config)
        return filterbank[self.freq_start : self.freq_stop]

    def band_energies(self, waveform: torch.FloatTensor) -> torch.FloatTensor:
        """Filterbank energies of the unpadded STFT, shape `(batch, bins, frames)`.

        Computed `config.spectrogram_chunk_frames` frames at a time: one batch-wide STFT allocates buffers of
        hundreds of megabytes, whose page faults and cache misses cost more than the FFTs themselves.
        """
        n_fft, hop_length = self.config.n_fft, self.config.hop_length
        batch_size, num_samples = waveform.shape
        num_frames = (num_samples - n_fft) // hop_length + 1
        chunk_frames = self.config.spectrogram_chunk_frames or batch_size * num_frames
        clips_per_chunk = min(batch_size, max(1, chunk_frames // num_frames))
        frames_per_chunk = max(1, chunk_frames // clips_per_chunk)
        window = self.window.float()
        block_filters = [
            (self.filterbank[first_fft - self.freq_start : stop_fft - self.freq_start, first_band:stop_band].float().T,
             first_fft - self.freq_start, stop_fft - self.freq_start)
            for first_band, stop_band, first_fft, stop_fft in self.blocks
        ]  # fmt: skip
        clip_groups = []
        for first_clip in range(0, batch_size, clips_per_chunk):
            clips = waveform[first_clip : first_clip + clips_per_chunk]
            frame_groups = []
            for first_frame in range(0, num_frames, frames_per_chunk):
                stop_frame = min(num_frames, first_frame + frames_per_chunk)
                samples = clips[:, first_frame * hop_length : (stop_frame - 1) * hop_length + n_fft]
                spectrum = torch.stft(
                    samples, n_fft=n_fft, hop_length=hop_length, window=window, center=False, return_complex=True
                )
                spectrum = spectrum[:, self.freq_start : self.freq_stop]
                power = spectrum.real.pow(2) + spectrum.imag.pow(2)  # (clips, freqs, frames)
                bands = [torch.matmul(filters, power[:, start:stop]) for filters, start, stop in block_filters]
                frame_groups.append(torch.cat(bands, dim=1))
            clip_groups.append(torch.cat(frame_groups, dim=-1))
        return torch.cat(clip_groups)

    def forward(
        self, input_values: torch.FloatTensor, frame_mask: torch.BoolTensor
    ) -> tuple[torch.FloatTensor, torch.FloatTensor | None, torch.FloatTensor | None]:
        """Frames `(batch, bins, frames)` and, when they are aligned to the tonic, the tonic distribution and the
        pitch-class head's label logits (`None` without one)."""
        tonic_probabilities = pitch_class_logits = None
        # FFTs are not supported in half precision, and log-power needs the range of float32.
        with torch.autocast(device_type=input_values.device.type, enabled=False):
            waveform = input_values.float()
            if self.waveform_filterbank is None:
                bands = self.band_energies(waveform)  # (batch, bins, frames)
            else:
                bands = self.waveform_filterbank(waveform)
            floor = self.config.spectrogram_floor
            if self.fold_octaves:
                features = _fold_octaves(bands, self.config)
                features, tonic_probabilities, pitch_class_logits = self.tonic_alignment(features, frame_mask)
            else:
                # Remove each frame's loudness, then the clip's mean spectrum (over its unpadded frames): raw
                # log-energies carry a large offset that dominates every frame alike, and training on them
                # collapses the encoder to a constant (the masked-frame targets then become trivial).
                features = torch.log(bands + floor)
                features = features - features.mean(dim=1, keepdim=True)
                features = features - _mean_over_frames(features, frame_mask)
        return features, tonic_probabilities, pitch_class_logits


class SamAudioConvLayer(nn.Module):
    """Strided Conv1d, layer norm over channels, activation (wav2vec2's "layer" variant, padding-independent)."""

    def __init__(self, config: SamAudioConfig, layer_id: int):
        super().__init__()
        in_channels = config.frontend_channels if layer_id == 0 else config.conv_dim[layer_id - 1]
        self.conv = nn.Conv1d(
            in_channels,
            config.conv_dim[layer_id],
            kernel_size=config.conv_kernel[layer_id],
            stride=config.conv_stride[layer_id],
            bias=config.conv_bias,
        )
        self.layer_norm = nn.LayerNorm(config.conv_dim[layer_id], eps=config.layer_norm_eps)
        self.activation = ACT2FN[config.feat_extract_activation]

    def forward(self, hidden_states: torch.FloatTensor) -> torch.FloatTensor:
        hidden_states = self.conv(hidden_states)
        hidden_states = self.layer_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        return self.activation(hidden_states)


class SamAudioFeatureEncoder(nn.Module):
    """Raw audio to conv features: the frontend (spectrogram or learned waveform filterbank), then the strided conv
    stack."""

    def __init__(self, config: SamAudioConfig, num_labels: int = 0):
        super().__init__()
        self.frontend = SamAudioSpectralFrontend(config, num_labels)
        self.conv_layers = nn.ModuleList(
            [SamAudioConvLayer(config, layer_id) for layer_id in range(len(config.conv_dim))]
        )

    def forward(
        self, input_values: torch.FloatTensor, spectrogram_frame_mask: torch.BoolTensor
    ) -> tuple[torch.FloatTensor, torch.FloatTensor | None, torch.FloatTensor | None]:
        """Conv features `(batch, conv_dim[-1], frames)`, the frontend's tonic distribution and its pitch-class
        label logits (each `None` when the frontend has none)."""
        hidden_states, tonic_probabilities, pitch_class_logits = self.frontend(input_values, spectrogram_frame_mask)
        hidden_states = hidden_states.to(self.conv_layers[0].conv.weight.dtype)
        for conv_layer in self.conv_layers:
            hidden_states = conv_layer(hidden_states)
        return hidden_states, tonic_probabilities, pitch_class_logits


class SamAudioFeatureProjection(nn.Module):
    def __init__(self, config: SamAudioConfig):
        super().__init__()
        self.layer_norm = nn.LayerNorm(config.conv_dim[-1], eps=config.layer_norm_eps)
        self.projection = nn.Linear(config.conv_dim[-1], config.hidden_size)
        self.dropout = nn.Dropout(config.feat_proj_dropout)

    def forward(self, hidden_states: torch.FloatTensor) -> tuple[torch.FloatTensor, torch.FloatTensor]:
        norm_hidden_states = self.layer_norm(hidden_states)
        hidden_states = self.dropout(self.projection(norm_hidden_states))
        return hidden_states, norm_hidden_states


class SamAudioPositionalConvEmbedding(nn.Module):
    """Grouped convolution over frames that adds relative position and local context to each frame."""

    def __init__(self, config: SamAudioConfig):
        super().__init__()
        self.conv = nn.Conv1d(
            config.hidden_size,
            config.hidden_size,
            kernel_size=config.num_conv_pos_embeddings,
            padding=config.num_conv_pos_embeddings // 2,
            groups=config.num_conv_pos_embedding_groups,
        )
        self.activation = ACT2FN[config.hidden_act]

    def forward(self, hidden_states: torch.FloatTensor) -> torch.FloatTensor:
        return self.activation(self.conv(hidden_states.transpose(1, 2))).transpose(1, 2)


class SamAudioAttention(nn.Module):
    """Multi-head attention with separate query and key/value inputs, on `F.scaled_dot_product_attention`."""

    def __init__(self, config: SamAudioConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dropout = config.attention_dropout
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def _project(
        self, hidden_states: torch.FloatTensor, key_value_states: torch.FloatTensor
    ) -> tuple[torch.FloatTensor, torch.FloatTensor, torch.FloatTensor]:
        """Queries, keys and values split into heads, each `(batch, heads, positions, head_dim)`."""
        batch_size = hidden_states.shape[0]

        def split_heads(states: torch.FloatTensor) -> torch.FloatTensor:
            return states.view(batch_size, states.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

        return (
            split_heads(self.q_proj(hidden_states)),
            split_heads(self.k_proj(key_value_states)),
            split_heads(self.v_proj(key_value_states)),
        )

    def forward(
        self,
        hidden_states: torch.FloatTensor,
        key_value_states: torch.FloatTensor | None = None,
        attention_mask: torch.FloatTensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.FloatTensor, torch.FloatTensor | None]:
        key_value_states = hidden_states if key_value_states is None else key_value_states
        batch_size, num_queries, hidden_size = hidden_states.shape
        query, key, value = self._project(hidden_states, key_value_states)
        dropout = self.dropout if self.training else 0.0

        attention_weights = None
        if output_attentions:
            scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(self.head_dim)
            if attention_mask is not None:
                scores = scores + attention_mask
            attention_weights = torch.softmax(scores.float(), dim=-1).to(query.dtype)  # (batch, heads, queries, keys)
            output = torch.matmul(F.dropout(attention_weights, p=dropout, training=self.training), value)
        else:
            output = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout)
        output = output.transpose(1, 2).reshape(batch_size, num_queries, hidden_size)
        return self.out_proj(output), attention_weights


class SamAudioCompetitiveAttention(SamAudioAttention):
    """Token-to-frame attention in which the tokens compete for frames, as in Slot Attention.

    The logits are normalised over the tokens instead of the frames, so every frame is shared out among the tokens,
    and each token then takes the weighted mean of the values of the frames it won. An additive temporal prior on the
    logits anchors each token to its own stretch of the clip.
    """

    def forward(
        self,
        hidden_states: torch.FloatTensor,
        key_value_states: torch.FloatTensor,
        competition_bias: torch.FloatTensor,
        frame_weights: torch.FloatTensor,
        output_attentions: bool = False,
    ) -> tuple[torch.FloatTensor, torch.FloatTensor | None]:
        r"""
        Args:
            competition_bias (`torch.FloatTensor` of shape `(batch_size, 1, num_tokens, num_frames)`):
                Log-prior added to the logits before the softmax over tokens.
            frame_weights (`torch.FloatTensor` of shape `(batch_size, 1, 1, num_frames)`):
                1 on real frames, 0 on padding, which then belongs to no token.
        """
        batch_size, num_queries, hidden_size = hidden_states.shape
        query, key, value = self._project(hidden_states, key_value_states)
        scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(self.head_dim) + competition_bias
        shares = torch.softmax(scores.float(), dim=-2) * frame_weights  # (batch, heads, tokens, frames)
        # A token that won (almost) nothing keeps a near-zero output instead of dividing by zero.
        attention_weights = shares / shares.sum(dim=-1, keepdim=True).clamp(min=torch.finfo(shares.dtype).eps)
        attention_weights = attention_weights.to(query.dtype)
        dropped = F.dropout(attention_weights, p=self.dropout, training=self.training)
        output = torch.matmul(dropped, value).transpose(1, 2).reshape(batch_size, num_queries, hidden_size)
        return self.out_proj(output), attention_weights if output_attentions else None


class SamAudioFeedForward(nn.Module):
    def __init__(self, config: SamAudioConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.activation_dropout = nn.Dropout(config.activation_dropout)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states: torch.FloatTensor) -> torch.FloatTensor:
        return self.fc2(self.activation_dropout(self.activation(self.fc1(hidden_states))))


class SamAudioSegmentLayer(nn.Module):
    """Pre-norm block: segment tokens attend to each other, then to the frames, then a feed-forward."""

    def __init__(self, config: SamAudioConfig):
        super().__init__()
        self.self_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = SamAudioAttention(config)
        self.cross_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        cross_attention_class = SamAudioCompetitiveAttention if config.segment_competition else SamAudioAttention
        self.cross_attn = cross_attention_class(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = SamAudioFeedForward(config)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(
        self,
        segment_states: torch.FloatTensor,
        frame_states: torch.FloatTensor,
        frame_attention: dict[str, torch.FloatTensor],
        output_attentions: bool = False,
    ) -> tuple[torch.FloatTensor, torch.FloatTensor | None]:
        attended, _ = self.self_attn(self.self_attn_layer_norm(segment_states))
        segment_states = segment_states + self.dropout(attended)
        attended, frame_attention_weights = self.cross_attn(
            self.cross_attn_layer_norm(segment_states),
            key_value_states=frame_states,
            output_attentions=output_attentions,
            **frame_attention,
        )
        segment_states = segment_states + self.dropout(attended)
        segment_states = segment_states + self.dropout(self.feed_forward(self.final_layer_norm(segment_states)))
        return segment_states, frame_attention_weights


class SamAudioSegmentDecoder(nn.Module):
    """Learnable segment tokens refined by `num_segment_layers` segment layers."""

    def __init__(self, config: SamAudioConfig):
        super().__init__()
        self.competition = config.segment_competition
        self.prior_width = config.segment_prior_width
        self.segment_tokens = nn.Parameter(torch.empty(config.num_segment_tokens, config.hidden_size))
        self.layers = nn.ModuleList([SamAudioSegmentLayer(config) for _ in range(config.num_segment_layers)])
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def temporal_prior(self, frame_mask: torch.BoolTensor, dtype: torch.dtype) -> torch.FloatTensor:
        """Log-density of each token's Gaussian prior over the frames, shape `(batch, 1, tokens, frames)`.

        Positions are relative to each clip's unpadded length, so a padded clip gets the prior of the unpadded one.
        """
        num_tokens = self.segment_tokens.shape[0]
        lengths = frame_mask.sum(dim=-1, keepdim=True).clamp(min=1)  # (batch, 1)
        positions = torch.arange(frame_mask.shape[-1], device=frame_mask.device)
        relative_positions = (positions[None, :] + 0.5) / lengths  # (batch, frames)
        anchors = (torch.arange(num_tokens, device=frame_mask.device) + 0.5) / num_tokens
        # Distance in units of one token's share of the clip.
        distance = (relative_positions[:, None, :] - anchors[None, :, None]) * num_tokens  # (batch, tokens, frames)
        return (-0.5 * (distance / self.prior_width) ** 2)[:, None].to(dtype)

    def forward(
        self, frame_states: torch.FloatTensor, frame_mask: torch.BoolTensor, output_attentions: bool = False
    ) -> tuple[torch.FloatTensor, tuple[torch.FloatTensor, ...] | None]:
        dtype = frame_states.dtype
        if self.competition:
            frame_attention = {
                "competition_bias": self.temporal_prior(frame_mask, dtype),
                "frame_weights": frame_mask[:, None, None, :].to(dtype),
            }
        else:
            additive_mask = torch.zeros(frame_mask.shape, dtype=dtype, device=frame_states.device)
            additive_mask = additive_mask.masked_fill(~frame_mask, torch.finfo(dtype).min)
            frame_attention = {"attention_mask": additive_mask[:, None, None, :]}
        segment_states = self.segment_tokens.to(dtype).expand(frame_states.shape[0], -1, -1)
        attentions = () if output_attentions else None
        for layer in self.layers:
            segment_states, frame_attention_weights = layer(
                segment_states, frame_states, frame_attention, output_attentions=output_attentions
            )
            if output_attentions:
                attentions = attentions + (frame_attention_weights,)
        return self.layer_norm(segment_states), attentions


class SamAudioMaskedSegmentHead(nn.Module):
    """Predicts the conv features of every frame from its masked neighbourhood and the segment states."""

    def __init__(self, config: SamAudioConfig):
        super().__init__()
        self.cross_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.cross_attn = SamAudioAttention(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = SamAudioFeedForward(config)
        self.prediction = nn.Linear(config.hidden_size, config.conv_dim[-1])

    def forward(self, frame_states: torch.FloatTensor, segment_states: torch.FloatTensor) -> torch.FloatTensor:
        attended, _ = self.cross_attn(self.cross_attn_layer_norm(frame_states), key_value_states=segment_states)
        hidden_states = frame_states + attended
        hidden_states = hidden_states + self.feed_forward(self.final_layer_norm(hidden_states))
        return self.prediction(hidden_states)  # (batch, frames, conv_dim[-1])


class SamAudioContrastiveHead(nn.Module):
    """Projects segment states to L2-normalised embeddings for the contrastive loss."""

    def __init__(self, config: SamAudioConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACT2FN[config.hidden_act]
        self.projection = nn.Linear(config.hidden_size, config.contrastive_proj_size)

    def forward(self, segment_states: torch.FloatTensor) -> torch.FloatTensor:
        return F.normalize(self.projection(self.activation(self.dense(segment_states))), dim=-1)


class SamAudioPreTrainedModel(PreTrainedModel):
    config_class = SamAudioConfig
    base_model_prefix = "sam_audio"
    main_input_name = "input_values"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = False
    _supports_sdpa = True
    _no_split_modules = ["SamAudioSegmentLayer"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, nn.Conv1d):
            # Kaiming, as in wav2vec2. The generic std of 0.02 starts the first conv layers 4 to 20 times too small;
            # on raw samples, the first optimiser steps then turned a conv stack into an input-independent pattern.
            init.kaiming_normal_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, SamAudioModel):
            init.uniform_(module.masked_spec_embed)
        elif isinstance(module, SamAudioSegmentDecoder):
            init.normal_(module.segment_tokens, std=self.config.initializer_range)
        elif isinstance(module, SamAudioTonicAlignment):
            drone = _interval_template(self.config, self.config.drone_intervals, self.config.drone_tonic_weight)
            init.copy_(module.drone_template, drone)
            if module.melody_template is not None:
                melody = _interval_template(self.config, self.config.melody_intervals)
                init.copy_(module.melody_template, self.config.tonic_melody_weight * melody)
        elif isinstance(module, SamAudioPitchClassHead):
            init.zeros_(module.templates)
        elif isinstance(module, SamAudioSpectralFrontend) and module.waveform_filterbank is None:
            # Non-persistent buffers are not in checkpoints, so they are (re)computed here on every load.
            init.copy_(module.window, torch.hann_window(self.config.n_fft, dtype=torch.float32))
            init.copy_(module.filterbank, module.compute_filterbank())
        elif isinstance(module, SamAudioWaveformFilterbank):
            init.copy_(module.filters, _gabor_filters(self.config))
            init.copy_(module.half_band, _half_band_filter(self.config))
            init.copy_(module.power_gains, _gabor_power_gains(self.config))

    def _get_feat_extract_output_lengths(self, input_lengths: torch.LongTensor | int) -> torch.LongTensor | int:
        """Encoder frames computed from `input_lengths` samples (zero or less: too short for one frame)."""
        lengths = _conv_output_length(input_lengths, self.config.n_fft, self.config.hop_length)
        for kernel, stride in zip(self.config.conv_kernel, self.config.conv_stride):
            lengths = _conv_output_length(lengths, kernel, stride)
        return lengths

    def _get_spectrogram_lengths(self, input_lengths: torch.LongTensor) -> torch.LongTensor:
        return _conv_output_length(input_lengths, self.config.n_fft, self.config.hop_length)

    @property
    def receptive_field(self) -> int:
        """Fewest input samples that yield one encoder frame."""
        samples = 1
        for kernel, stride in zip(reversed(self.config.conv_kernel), reversed(self.config.conv_stride)):
            samples = (samples - 1) * stride + kernel
        return (samples - 1) * self.config.hop_length + self.config.n_fft

    def freeze_feature_encoder(self) -> None:
        """Stop training the feature encoder (spectral frontend and conv stack), as wav2vec2's method of this name:
        its parameters keep their pretrained values. transformers' `run_audio_classification.py` calls it. The
        pitch-class head, which the tonic alignment holds, is a label head and keeps training."""
        self.base_model.feature_encoder.requires_grad_(False)
        if self.base_model.pitch_class_head is not None:
            self.base_model.pitch_class_head.requires_grad_(True)


class SamAudioModel(SamAudioPreTrainedModel):
    """The bare SAM-Audio encoder: feature encoder, masked frames, positional conv, segment decoder.

    `num_pitch_class_labels` > 0 adds a `SamAudioPitchClassHead` for that many labels to the tonic alignment, as
    `SamAudioForAudioClassification` does with `config.pitch_class_head`.
    """

    _auto_class = "AutoModel"
    # A classification checkpoint's pitch-class head, when this model is built without one.
    _keys_to_ignore_on_load_unexpected = [r"\.pitch_class_head\."]

    def __init__(self, config: SamAudioConfig, num_pitch_class_labels: int = 0):
        super().__init__(config)
        self.config = config
        self.feature_encoder = SamAudioFeatureEncoder(config, num_pitch_class_labels)
        self.feature_projection = SamAudioFeatureProjection(config)
        self.masked_spec_embed = nn.Parameter(torch.empty(config.hidden_size))
        self.pos_conv_embed = SamAudioPositionalConvEmbedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.segment_decoder = SamAudioSegmentDecoder(config)
        self.masked_segment_head = SamAudioMaskedSegmentHead(config)
        self.post_init()

    @property
    def pitch_class_head(self) -> SamAudioPitchClassHead | None:
        """The label head that the tonic alignment holds, when the model was built with one."""
        tonic_alignment = self.feature_encoder.frontend.tonic_alignment
        return None if tonic_alignment is None else tonic_alignment.pitch_class_head

    def forward(
        self,
        input_values: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        mask_time_indices: torch.BoolTensor | None = None,
        output_attentions: bool = False,
        predict_masked_frames: bool = True,
    ) -> SamAudioModelOutput:
        r"""
        Args:
            input_values (`torch.FloatTensor` of shape `(batch_size, num_samples)`):
                Raw audio at `config.sampling_rate`, as produced by `SamAudioFeatureExtractor`.
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_samples)`, *optional*):
                1 on audio samples, 0 on right padding. Needed for batches of clips of different lengths.
            mask_time_indices (`torch.BoolTensor` of shape `(batch_size, num_frames)`, *optional*):
                Frames to mask for masked segment prediction. When omitted, spans are sampled in training mode
                (`config.mask_time_prob`) and nothing is masked in eval mode.
            output_attentions (`bool`, *optional*, defaults to `False`):
                Return the token-to-frame attention maps of every segment layer.
            predict_masked_frames (`bool`, *optional*, defaults to `True`):
                Compute `masked_segment_loss` against the masked frames' conv features. A caller with other targets
                for the masked clip turns it off.
        """
        if input_values.dim() != 2:
            raise ValueError(
                f"`input_values` must have shape (batch_size, num_samples), got {tuple(input_values.shape)}; use "
                "SamAudioFeatureExtractor to batch and mix down audio."
            )
        if input_values.shape[-1] < self.receptive_field:
            raise ValueError(
                f"Input of {input_values.shape[-1]} samples is shorter than the model's receptive field "
                f"({self.receptive_field} samples = {self.receptive_field / self.config.sampling_rate:.3f} s); pad "
                "or pass longer audio."
            )
        if attention_mask is None:
            input_lengths = torch.full(
                (input_values.shape[0],), input_values.shape[-1], dtype=torch.long, device=input_values.device
            )
        else:
            input_lengths = attention_mask.sum(dim=-1).long()

        num_spectrogram_frames = _conv_output_length(input_values.shape[-1], self.config.n_fft, self.config.hop_length)
        spectrogram_frame_mask = self._lengths_to_mask(
            self._get_spectrogram_lengths(input_lengths), num_spectrogram_frames
        )
        conv_features, tonic_probabilities, pitch_class_logits = self.feature_encoder(
            input_values, spectrogram_frame_mask
        )
        conv_features = conv_features.transpose(1, 2)  # (batch, frames, conv_dim[-1])
        frame_lengths = self._get_feat_extract_output_lengths(input_lengths)
        frame_mask = self._lengths_to_mask(frame_lengths, conv_features.shape[1])

        hidden_states, extract_features = self.feature_projection(conv_features)
        if mask_time_indices is None and self.training and self.config.mask_time_prob > 0:
            mask_time_indices = _compute_mask_indices(
                frame_mask, self.config.mask_time_prob, self.config.mask_time_length, self.config.mask_time_min_masks
            )
        if mask_time_indices is not None:
            mask_time_indices = mask_time_indices.bool() & frame_mask
            hidden_states = torch.where(
                mask_time_indices[..., None], self.masked_spec_embed.to(hidden_states.dtype), hidden_states
            )
        # Zero the padding so the positional conv sees the same zeros an unpadded clip is padded with.
        hidden_states = hidden_states * frame_mask[..., None].to(hidden_states.dtype)
        hidden_states = hidden_states + self.pos_conv_embed(hidden_states)
        hidden_states = self.dropout(self.layer_norm(hidden_states))

        segment_states, attentions = self.segment_decoder(
            hidden_states, frame_mask, output_attentions=output_attentions
        )

        masked_segment_loss = None
        if mask_time_indices is not None and predict_masked_frames:
            predictions = self.masked_segment_head(hidden_states, segment_states)
            # Stop-gradient target, normalised per frame so its scale cannot shrink to make the task trivial.
            targets = F.layer_norm(conv_features.detach().float(), conv_features.shape[-1:])
            masked_segment_loss = _masked_segment_loss(predictions, targets, mask_time_indices)

        return SamAudioModelOutput(
            last_hidden_state=hidden_states,
            segment_states=segment_states,
            extract_features=extract_features,
            masked_segment_loss=masked_segment_loss,
            mask_time_indices=mask_time_indices,
            frame_mask=frame_mask,
            attentions=attentions,
            tonic_probabilities=tonic_probabilities,
            pitch_class_logits=pitch_class_logits,
        )

    @staticmethod
    def _lengths_to_mask(lengths: torch.LongTensor, max_length: int) -> torch.BoolTensor:
        """`True` on the first `lengths` positions; at least one, so a too-short clip never has an empty softmax."""
        positions = torch.arange(max_length, device=lengths.device)
        return positions[None, :] < lengths.clamp(min=1)[:, None]


class SamAudioForAudioClassification(SamAudioPreTrainedModel):
    """SAM-Audio with a classification head on the mean of the segment states (raga classification), plus the
    pitch-class head's logits (`config.pitch_class_head`)."""

    _auto_class = "AutoModelForAudioClassification"
    # A pretraining checkpoint's teacher head has no use here.
    _keys_to_ignore_on_load_unexpected = [r"^teacher_prediction\."]

    def __init__(self, config: SamAudioConfig):
        super().__init__(config)
        self.sam_audio = SamAudioModel(config, config.num_labels if config.pitch_class_head else 0)
        self.contrastive_head = SamAudioContrastiveHead(config)
        self.dropout = nn.Dropout(config.final_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @property
    def pitch_class_head(self) -> SamAudioPitchClassHead | None:
        return self.sam_audio.pitch_class_head

    def reset_label_heads(self) -> None:
        """Start the parameters indexed by label (`classifier` and the pitch-class head) anew; the rest is kept."""
        with torch.no_grad():
            self.classifier.weight.normal_(mean=0.0, std=self.config.initializer_range)
            self.classifier.bias.zero_()
            if self.pitch_class_head is not None:
                self.pitch_class_head.templates.zero_()

    def freeze_base_model(self) -> None:
        """Train the heads only: the encoder and the segment tokens keep their pretrained values."""
        self.sam_audio.requires_grad_(False)
        if self.pitch_class_head is not None:
            self.pitch_class_head.requires_grad_(True)

    def forward(
        self,
        input_values: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        mask_time_indices: torch.BoolTensor | None = None,
        output_attentions: bool = False,
    ) -> SamAudioClassifierOutput:
        r"""
        Args:
            input_values (`torch.FloatTensor` of shape `(batch_size, num_samples)`):
                Raw audio at `config.sampling_rate`, as produced by `SamAudioFeatureExtractor`.
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_samples)`, *optional*):
                1 on audio samples, 0 on right padding.
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Raga class indices in `[0, config.num_labels)`. They give `loss` and make the contrastive loss
                supervised.
            mask_time_indices (`torch.BoolTensor` of shape `(batch_size, num_frames)`, *optional*):
                Frames to mask for masked segment prediction (sampled automatically in training mode).
            output_attentions (`bool`, *optional*, defaults to `False`):
                Return the token-to-frame attention maps.
        """
        outputs = self.sam_audio(
            input_values,
            attention_mask=attention_mask,
            mask_time_indices=mask_time_indices,
            output_attentions=output_attentions,
        )
        segment_states = outputs.segment_states
        segment_logits = self.classifier(self.dropout(segment_states.mean(dim=1)))
        # Each classifier learns on its own and the logits add up, an ensemble of the two: trained on their sum
        # instead, the segment classifier settled for correcting the pitch-class head and lost its own accuracy.
        logits, classifiers, pitch_class_logits = segment_logits, [segment_logits], None
        if outputs.pitch_class_logits is not None:
            pitch_class_logits = outputs.pitch_class_logits.to(segment_logits.dtype)
            classifiers.append(pitch_class_logits)
            logits = self.config.segment_logit_weight * segment_logits + pitch_class_logits

        classification_loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            classification_loss = sum(
                F.cross_entropy(scores.float(), labels, label_smoothing=self.config.label_smoothing)
                for scores in classifiers
            )
        contrastive_loss = None
        if self.training:
            # With labels, clips of the same raga are positives; without, only the segments of one clip.
            group_ids = labels if labels is not None else torch.arange(logits.shape[0], device=logits.device)
            contrastive_loss = _segment_contrastive_loss(
                self.contrastive_head(segment_states), group_ids, self.config.contrastive_temperature
            )

        return SamAudioClassifierOutput(
            loss=classification_loss,
            logits=logits,
            classification_loss=classification_loss,
            masked_segment_loss=outputs.masked_segment_loss,
            contrastive_loss=contrastive_loss,
            segment_states=segment_states,
            attentions=outputs.attentions,
            tonic_probabilities=outputs.tonic_probabilities,
            segment_logits=segment_logits,
            pitch_class_logits=pitch_class_logits,
        )


class SamAudioForPreTraining(SamAudioPreTrainedModel):
    """SAM-Audio trained without labels: masked segment prediction plus self-supervised contrastive segments.

    With `config.pretraining_target="teacher"`, masked segment prediction regresses the segment states of a teacher
    (an exponential moving average of `sam_audio`, kept by the trainer) on the unmasked clip from the student's
    segment states on the masked one.
    """

    _auto_class = "AutoModelForPreTraining"
    _keys_to_ignore_on_load_unexpected = SamAudioModel._keys_to_ignore_on_load_unexpected

    def __init__(self, config: SamAudioConfig):
        super().__init__(config)
        self.sam_audio = SamAudioModel(config)
        self.contrastive_head = SamAudioContrastiveHead(config)
        self.teacher_prediction = (
            nn.Linear(config.hidden_size, config.hidden_size) if config.pretraining_target == "teacher" else None
        )
        self.post_init()

    def forward(
        self,
        input_values: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        mask_time_indices: torch.BoolTensor | None = None,
        recording_ids: torch.LongTensor | None = None,
        teacher_segment_states: torch.FloatTensor | None = None,
        output_attentions: bool = False,
    ) -> SamAudioForPreTrainingOutput:
        r"""
        Args:
            input_values (`torch.FloatTensor` of shape `(batch_size, num_samples)`):
                Raw audio at `config.sampling_rate`.
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_samples)`, *optional*):
                1 on audio samples, 0 on right padding.
            mask_time_indices (`torch.BoolTensor` of shape `(batch_size, num_frames)`, *optional*):
                Frames to mask (sampled automatically in training mode).
            recording_ids (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                The recording each clip was cut from: segments of clips of one recording are positives of the
                contrastive loss, since a performance keeps its raga. Without it, only segments of one clip are.
            teacher_segment_states (`torch.FloatTensor` of shape `(batch_size, segments, hidden_size)`, *optional*):
                With `config.pretraining_target="teacher"`: the teacher's segment states on the same, unmasked clips,
                the targets of masked segment prediction. Without them that loss is not computed.
            output_attentions (`bool`, *optional*, defaults to `False`):
                Return the token-to-frame attention maps.
        """
        outputs = self.sam_audio(
            input_values,
            attention_mask=attention_mask,
            mask_time_indices=mask_time_indices,
            output_attentions=output_attentions,
            predict_masked_frames=self.teacher_prediction is None,
        )
        masked_segment_loss = outputs.masked_segment_loss
        teacher_targets_given = self.teacher_prediction is not None and teacher_segment_states is not None
        if teacher_targets_given and outputs.mask_time_indices is not None:
            predictions = self.teacher_prediction(outputs.segment_states).float()
            masked_segment_loss = (predictions - _teacher_targets(teacher_segment_states)).pow(2).mean()
        contrastive_loss = None
        if self.training:
            if recording_ids is None:
                recording_ids = torch.arange(input_values.shape[0], device=input_values.device)
            contrastive_loss = _segment_contrastive_loss(
                self.contrastive_head(outputs.segment_states), recording_ids, self.config.contrastive_temperature
            )
        losses = [term for term in (masked_segment_loss, contrastive_loss) if term is not None]
        return SamAudioForPreTrainingOutput(
            loss=sum(losses) if losses else None,
            masked_segment_loss=masked_segment_loss,
            contrastive_loss=contrastive_loss,
            segment_states=outputs.segment_states,
            attentions=outputs.attentions,
        )


def register_auto_classes() -> None:
    """Register the SAM-Audio classes with the transformers Auto classes, for use without `trust_remote_code`."""
    from transformers import (
        AutoConfig,
        AutoFeatureExtractor,
        AutoModel,
        AutoModelForAudioClassification,
        AutoModelForPreTraining,
    )

    try:
        from .feature_extraction_sam_audio import SamAudioFeatureExtractor
    except ImportError:
        from feature_extraction_sam_audio import SamAudioFeatureExtractor

    AutoConfig.register(SamAudioConfig.model_type, SamAudioConfig, exist_ok=True)
    AutoFeatureExtractor.register(SamAudioConfig, SamAudioFeatureExtractor, exist_ok=True)
    AutoModel.register(SamAudioConfig, SamAudioModel, exist_ok=True)
    AutoModelForAudioClassification.register(SamAudioConfig, SamAudioForAudioClassification, exist_ok=True)
    AutoModelForPreTraining.register(SamAudioConfig, SamAudioForPreTraining, exist_ok=True)


__all__ = [
    "SamAudioPreTrainedModel",
    "SamAudioModel",
    "SamAudioForAudioClassification",
    "SamAudioForPreTraining",
    "register_auto_classes",
]
