"""Feature extractor for SAM-Audio: raw audio in, `input_values` and `attention_mask` out."""

from collections.abc import Sequence

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.utils import PaddingStrategy, TensorType, logging


try:  # a Hub folder's copy sits in a package that transformers builds; the installed file is a top-level module
    from .audio_io_sam_audio import channel_axis_of, pcm_to_float, resample
except ImportError:
    from audio_io_sam_audio import channel_axis_of, pcm_to_float, resample


logger = logging.get_logger(__name__)


class SamAudioFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns raw audio into the padded, normalised waveforms a SAM-Audio model reads.

    Compared with `Wav2Vec2FeatureExtractor` it also mixes multi-channel audio down to mono, converts integer PCM to
    floats, resamples (with torchaudio) when the caller names another `sampling_rate`, and rejects empty or non-finite
    audio with a `ValueError` instead of producing NaN downstream.

    Args:
        feature_size (`int`, *optional*, defaults to 1):
            Values per time step; raw audio has one.
        sampling_rate (`int`, *optional*, defaults to 16000):
            Sampling rate the model expects, in Hz. Input at another rate is resampled to it.
        padding_value (`float`, *optional*, defaults to 0.0):
            Value written into padded positions.
        do_normalize (`bool`, *optional*, defaults to `True`):
            Normalise each clip to zero mean and unit variance, over its own samples only (padding is ignored).
        return_attention_mask (`bool`, *optional*, defaults to `True`):
            Return the sample-level `attention_mask` (1 for audio, 0 for padding). SAM-Audio needs it for batched
            clips of different lengths.
    """

    model_input_names = ["input_values", "attention_mask"]
    _auto_class = "AutoFeatureExtractor"

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        do_normalize: bool = True,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        if feature_size != 1:
            raise ValueError(f"`feature_size` must be 1 for raw audio, got {feature_size!r}.")
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int) or sampling_rate <= 0:
            raise ValueError(f"`sampling_rate` must be a positive integer (Hz), got {sampling_rate!r}.")
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        self.do_normalize = do_normalize

    def __call__(
        self,
        raw_audio: np.ndarray | torch.Tensor | Sequence[float] | Sequence[np.ndarray | torch.Tensor | Sequence[float]],
        sampling_rate: int | None = None,
        padding: bool | str | PaddingStrategy = True,
        max_length: int | None = None,
        max_length_seconds: float | None = None,
        truncation: bool | None = None,
        pad_to_multiple_of: int | None = None,
        do_normalize: bool | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | TensorType | None = None,
        **kwargs,
    ) -> BatchFeature:
        r"""
        Prepare one clip or a batch of clips for the model.

        Args:
            raw_audio (`np.ndarray`, `torch.Tensor`, `list[float]` or a list of those):
                One clip or a batch. A 1-D array is one mono clip. A 2-D array is a batch of mono clips of equal
                length, shape `(batch_size, num_samples)`, as in the rest of transformers. A 3-D array is a batch of
                multi-channel clips, `(batch_size, num_channels, num_samples)`. In a list, each element is one clip,
                either 1-D or 2-D (channels first or last: the shorter axis is taken as channels). Channels are
                averaged to mono. Integer PCM is scaled to [-1, 1].
            sampling_rate (`int`, *optional*):
                Sampling rate of `raw_audio`, in Hz. Audio at another rate than `self.sampling_rate` is resampled.
                Always pass it: when omitted, the audio is assumed to be at `self.sampling_rate` and a warning is
                logged.
            padding (`bool`, `str` or [`~utils.PaddingStrategy`], *optional*, defaults to `True`):
                `True`/`"longest"` pads to the longest clip, `"max_length"` to `max_length`, `False` leaves clips
                unpadded (only with `return_tensors=None` for clips of different lengths).
            max_length (`int`, *optional*):
                Maximum length in samples, used with `padding="max_length"` and `truncation`.
            max_length_seconds (`float`, *optional*):
                Maximum length in seconds; sets `max_length` and turns truncation on unless `truncation=False`.
            truncation (`bool`, *optional*):
                Cut clips longer than `max_length` (their beginning is kept).
            pad_to_multiple_of (`int`, *optional*):
                Pad the length up to a multiple of this value.
            do_normalize (`bool`, *optional*):
                Overrides `self.do_normalize` for this call.
            return_attention_mask (`bool`, *optional*):
                Overrides `self.return_attention_mask` for this call.
            return_tensors (`str` or [`~utils.TensorType`], *optional*):
                `"pt"` for PyTorch tensors, `"np"` for numpy arrays, `None` for lists of arrays.

        Returns:
            [`BatchFeature`] with `input_values` of shape `(batch_size, num_samples)` and, if requested,
            `attention_mask` of the same shape.
        """
        if sampling_rate is None:
            logger.warning_once(
                f"No `sampling_rate` was passed to {self.__class__.__name__}; assuming {self.sampling_rate} Hz. Pass "
                "`sampling_rate=` so that audio at another rate is resampled instead of misread."
            )
            sampling_rate = self.sampling_rate
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)) or sampling_rate <= 0:
            raise ValueError(f"`sampling_rate` must be a positive integer (Hz), got {sampling_rate!r}.")
        if max_length_seconds is not None:
            if not max_length_seconds > 0:
                raise ValueError(f"`max_length_seconds` must be positive, got {max_length_seconds!r}.")
            max_length = round(max_length_seconds * self.sampling_rate)
            truncation = True if truncation is None else truncation
        if truncation and max_length is None:
            raise ValueError("`truncation=True` needs `max_length` or `max_length_seconds`.")

        clips = [_to_mono_float32(clip, index) for index, clip in enumerate(_split_batch(raw_audio))]
        if sampling_rate != self.sampling_rate:
            clips = [self._resample(clip, int(sampling_rate)) for clip in clips]
        if truncation:
            clips = [clip[:max_length] for clip in clips]
        if self.do_normalize if do_normalize is None else do_normalize:
            # Per clip and before padding, so a clip's values do not depend on what it is batched with.
            clips = [(clip - clip.mean()) / np.sqrt(clip.var() + 1e-7) for clip in clips]

        return self.pad(
            BatchFeature({"input_values": clips}),
            padding=padding,
            max_length=max_length,
            truncation=False,
            pad_to_multiple_of=pad_to_multiple_of,
            return_attention_mask=return_attention_mask,
            return_tensors=return_tensors,
        )

    def _resample(self, clip: np.ndarray, orig_sampling_rate: int) -> np.ndarray:
        """Resample one mono clip to `self.sampling_rate` (see `audio_io_sam_audio.resample`)."""
        resampled = resample(clip, orig_sampling_rate, self.sampling_rate)
        if resampled.size == 0:
            raise ValueError(
                f"A clip of {clip.size} samples at {orig_sampling_rate} Hz is empty after resampling to "
                f"{self.sampling_rate} Hz; pass longer audio."
            )
        return resampled


def _split_batch(raw_audio) -> list:
    """Return the clips of `raw_audio` as a list, whatever batch layout the caller used."""
    if isinstance(raw_audio, torch.Tensor):
        raw_audio = raw_audio.detach().cpu().numpy()
    if isinstance(raw_audio, np.ndarray):
        if raw_audio.ndim == 1:
            return [raw_audio]
        if raw_audio.ndim in (2, 3):
            return list(raw_audio)
        raise ValueError(
            f"Audio arrays must be 1-D (one clip), 2-D (batch, samples) or 3-D (batch, channels, samples); got shape "
            f"{raw_audio.shape}."
        )
    if isinstance(raw_audio, (list, tuple)):
        if len(raw_audio) == 0:
            raise ValueError("Got an empty list of audio; pass at least one clip.")
        if all(isinstance(x, (int, float, np.number)) for x in raw_audio):
            return [np.asarray(raw_audio)]
        return list(raw_audio)
    raise ValueError(
        f"Unsupported audio input of type {type(raw_audio).__name__}; pass a numpy array, a torch tensor or a list of "
        "them (decode files first, e.g. with `datasets.Audio` or `soundfile.read`)."
    )


def _to_mono_float32(clip, index: int) -> np.ndarray:
    """Validate one clip and return it as a finite 1-D float32 array."""
    if isinstance(clip, torch.Tensor):
        clip = clip.detach().cpu().numpy()
    try:
        clip = np.asarray(clip)
    except ValueError as error:
        raise ValueError(f"Clip {index} is not a rectangular array of samples: {error}") from None
    if clip.dtype == bool or not (np.issubdtype(clip.dtype, np.integer) or np.issubdtype(clip.dtype, np.floating)):
        raise ValueError(f"Clip {index} has dtype {clip.dtype}; pass real-valued samples (float or integer PCM).")
    clip = pcm_to_float(clip)
    if clip.ndim == 2:
        clip = clip.mean(axis=channel_axis_of(clip))
    elif clip.ndim != 1:
        raise ValueError(
            f"Clip {index} has shape {clip.shape}; pass 1-D mono samples or a 2-D (channels, samples) array."
        )
    if clip.size == 0:
        raise ValueError(f"Clip {index} is empty (0 samples); drop it or pass audio with at least one sample.")
    clip = clip.astype(np.float32, copy=False)
    if not np.isfinite(clip).all():
        raise ValueError(f"Clip {index} contains NaN or infinite samples; clean it (e.g. `np.nan_to_num`) or drop it.")
    return clip


__all__ = ["SamAudioFeatureExtractor"]
