"""Audio I/O for SAM-Audio: decoding, resampling and the conversion of PCM to mono float32, in one place.

The feature extractor and the long-audio pipeline both read audio through this file, so a clip gives the same samples
whichever way it enters the model. It is a Hub file: a model folder carries it next to
`feature_extraction_sam_audio.py` and `pipeline_sam_audio.py`, which import it.

Files are decoded in pieces with torchcodec (FFmpeg) and resampled with torchaudio, so a recording of any length is
read in bounded memory.
"""

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.utils import logging


logger = logging.get_logger(__name__)

# Decoded at a time from a file; at 48 kHz float32 this is 11 MB.
DECODE_CHUNK_SECONDS = 60
# torchaudio.functional.resample defaults, mirrored to size the context the streaming resampler keeps.
_RESAMPLE_LOWPASS_FILTER_WIDTH = 6
_RESAMPLE_ROLLOFF = 0.99


def pcm_to_float(samples: np.ndarray) -> np.ndarray:
    """Integer PCM mapped onto [-1, 1) as float64 (unsigned formats centred on their midpoint); floats unchanged."""
    if not np.issubdtype(samples.dtype, np.integer):
        return samples
    info = np.iinfo(samples.dtype)
    offset = (int(info.max) + 1) / 2 if info.min == 0 else 0.0
    scale = (int(info.max) + 1) / 2 if info.min == 0 else -float(info.min)
    return (samples.astype(np.float64) - offset) / scale


def channel_axis_of(samples: np.ndarray) -> int | None:
    """The axis holding the channels of a 1-D or 2-D array: none for 1-D, else the shorter axis."""
    if samples.ndim == 1:
        return None
    return 0 if samples.shape[0] <= samples.shape[1] else 1


def mix_to_mono(samples: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """Float32 mono samples from float or integer PCM, averaging the channels along `channel_axis`.

    The average (not FFmpeg's mix-down, which scales stereo by 1/sqrt(2)) keeps a file and its decoded array equally
    loud.
    """
    samples = pcm_to_float(samples)
    if channel_axis is not None:
        samples = samples.mean(axis=channel_axis)
    return np.ascontiguousarray(samples, dtype=np.float32)


class AudioStream:
    """Mono float32 audio at its own sampling rate, produced in consecutive chunks."""

    sampling_rate: int
    num_samples: int | None
    name: str

    def chunks(self) -> Iterator[np.ndarray]:
        """Consecutive pieces of the audio, mono float32, which joined give the whole signal."""
        raise NotImplementedError


class ArrayStream(AudioStream):
    """An in-memory array, handed out in views so that no converted copy of the whole array is made."""

    def __init__(self, array: np.ndarray, sampling_rate: int, name: str = "array"):
        if array.ndim not in (1, 2):
            raise ValueError(
                f"Audio arrays must be 1-D (samples) or 2-D (channels and samples), got shape {array.shape}."
            )
        self.channel_axis = channel_axis_of(array)
        if array.dtype == bool or not (
            np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
        ):
            raise ValueError(f"Audio samples must be floats or integer PCM, got dtype {array.dtype}.")
        self.array = array
        self.sampling_rate = int(sampling_rate)
        self.num_samples = array.shape[-1 if self.channel_axis in (None, 0) else 0]
        self.name = name

    def chunks(self) -> Iterator[np.ndarray]:
        step = DECODE_CHUNK_SECONDS * self.sampling_rate
        for start in range(0, self.num_samples, step):
            # Time is the last axis unless the channels are (samples, channels).
            time_slice = slice(start, start + step)
            piece = self.array[time_slice] if self.channel_axis == 1 else self.array[..., time_slice]
            yield mix_to_mono(piece, self.channel_axis)


def _frame_range_reader() -> Any:
    """torchcodec's frame-level range decoder, or `None` where this torchcodec version does not have it."""
    try:
        from torchcodec.decoders._audio_decoder import core
    except ImportError:
        return None
    return getattr(core, "get_frames_by_pts_in_range_audio", None)


class DecoderStream(AudioStream):
    """A torchcodec `AudioDecoder`, decoded front to back in pieces of about `DECODE_CHUNK_SECONDS`.

    `AudioDecoder.get_samples_played_in_range` trims its output to the requested range, and a range that starts inside
    the last frame decoded makes torchcodec rewind to the beginning of the stream and decode it all again, so reading a
    file in consecutive ranges with it takes time quadratic in its length (90 s instead of 3 s for an hour of FLAC).
    The frame-level function behind that method returns whole frames instead, so each piece starts where the last
    frame of the previous one ended and the file is decoded once. Where that function is missing (another torchcodec
    version), the public method is used: the same samples, more slowly.

    Files are decoded at their own rate: pieces resampled by torchcodec come back shifted by a few hundred samples, as
    its resampler does not carry its state from one call to the next. `resample_stream` resamples instead.
    """

    def __init__(self, decoder: Any, name: str):
        self.decoder = decoder
        self.name = name
        # An empty range decodes nothing and reports the rate the decoder outputs (its own, unless told otherwise).
        self.sampling_rate = int(decoder.get_samples_played_in_range(0.0, 0.0).sample_rate)
        duration = decoder.metadata.duration_seconds
        self.num_samples = None if duration is None else round(duration * self.sampling_rate)
        self.read_frames = _frame_range_reader() if hasattr(decoder, "_decoder") else None

    def _read(self, start: float, stop: float) -> tuple[np.ndarray, float, float]:
        """Samples `(channels, n)` from about `start` to `stop` (or the end), their end, and the next start."""
        if self.read_frames is not None:
            try:
                frames, first_pts = self.read_frames(self.decoder._decoder, start_seconds=start, stop_seconds=stop)
            except TypeError:
                # The private function changed its signature in some torchcodec version: use the public method.
                self.read_frames = None
                return self._read(start, stop)
            end = float(first_pts) + frames.shape[-1] / self.sampling_rate
            # A quarter sample past the last frame, so that rounding to the stream's time base never lands inside it.
            return frames.numpy(), end, end + 0.25 / self.sampling_rate
        samples = self.decoder.get_samples_played_in_range(start, stop)
        # Exactly trimmed to [start, stop): the next range starts at `stop`, whatever rounding did to the last sample.
        return samples.data.numpy(), samples.pts_seconds + samples.duration_seconds, stop

    def chunks(self) -> Iterator[np.ndarray]:
        start, first = 0.0, True
        while True:
            stop = start + DECODE_CHUNK_SECONDS
            try:
                data, end, start = self._read(start, stop)
            except RuntimeError as error:
                # Asked to start past the last sample, torchcodec raises instead of returning nothing.
                if not first and "No audio frames were decoded" in str(error):
                    return
                raise ValueError(f"Could not decode {self.name}: {clean_decoder_error(error)}") from None
            if data.shape[-1] == 0:
                return
            yield mix_to_mono(data, 0)
            if end < stop - 1.5 / self.sampling_rate:
                return
            first = False


def clean_decoder_error(error: BaseException) -> str:
    """torchcodec's message without the C++ source location it starts with, on one line."""
    message = str(error)
    if ".cpp:" in message:
        message = message.split(".cpp:", 1)[1].split(",", 1)[-1]
    return " ".join(message.split()) or type(error).__name__


def open_decoder(source: str | bytes, name: str) -> DecoderStream:
    """Open a file path or encoded bytes with torchcodec, at its own channels: `DecoderStream` averages them, as the
    feature extractor does (FFmpeg's own mix-down would scale stereo by 1/sqrt(2) instead of 1/2)."""
    try:
        from torchcodec.decoders import AudioDecoder
    except ImportError as error:
        raise ImportError(
            "Reading audio files needs torchcodec (`pip install torchcodec`, with FFmpeg installed); or pass "
            f'decoded audio as {{"raw": array, "sampling_rate": rate}} ({error})'
        ) from None
    if isinstance(source, str) and not Path(source).is_file():
        raise FileNotFoundError(f"No such audio file: {source}")
    try:
        decoder = AudioDecoder(source)
    except (RuntimeError, ValueError) as error:
        reason = clean_decoder_error(error)
        # torchcodec repeats the file name; the message already has it.
        reason = reason.removeprefix(f"Could not open input file: {source} ") if isinstance(source, str) else reason
        raise ValueError(f"Could not open {name} as audio: {reason}") from None
    return DecoderStream(decoder, name)


def resample(samples: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample mono float32 samples with torchaudio's band-limited sinc interpolation."""
    if orig_rate == target_rate:
        return samples
    try:
        import torchaudio.functional
    except ImportError as error:
        raise ImportError(
            f"Audio at {orig_rate} Hz has to be resampled to {target_rate} Hz, which needs torchaudio ({error})."
        ) from None
    return torchaudio.functional.resample(torch.from_numpy(samples), orig_rate, target_rate).numpy()


def resample_stream(chunks: Iterator[np.ndarray], orig_rate: int, target_rate: int) -> Iterator[np.ndarray]:
    """Resample a chunked signal with `torchaudio.functional.resample`, giving the same samples as one call would.

    Each call sees enough input on both sides of the samples it keeps for the filter to never reach a chunk edge, and
    starts on a multiple of the reduced input rate so that its output grid lines up with the whole signal's.
    """
    if orig_rate == target_rate:
        yield from chunks
        return
    divisor = math.gcd(orig_rate, target_rate)
    period_in, period_out = orig_rate // divisor, target_rate // divisor
    # Half-width of torchaudio's sinc kernel in input samples; output period n reads inputs
    # [n * period_in - width, (n + 1) * period_in + width).
    width = math.ceil(_RESAMPLE_LOWPASS_FILTER_WIDTH * period_in / (min(period_in, period_out) * _RESAMPLE_ROLLOFF))
    margin = period_in * math.ceil((width + period_in) / period_in)

    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0  # input index of buffer[0], a multiple of period_in
    done = 0  # inputs before this index have had their outputs emitted
    for chunk in chunks:
        buffer = np.concatenate([buffer, chunk])
        end = buffer_start + buffer.shape[0]
        ready = (end - margin) // period_in * period_in
        if ready <= done:
            continue
        output = resample(buffer[: ready + margin - buffer_start], orig_rate, target_rate)
        first = (done - buffer_start) // period_in * period_out
        last = (ready - buffer_start) // period_in * period_out
        yield output[first:last]
        done = ready
        keep_from = max(0, done - margin)
        buffer = buffer[keep_from - buffer_start :]
        buffer_start = keep_from
    if buffer_start + buffer.shape[0] > done:
        output = resample(buffer, orig_rate, target_rate)
        yield output[(done - buffer_start) // period_in * period_out :]


def open_audio(inputs: Any, default_sampling_rate: int) -> AudioStream:
    """Any input the pipeline accepts as a stream of mono chunks at a known sampling rate.

    A file path (any format FFmpeg reads), encoded bytes, a torchcodec `AudioDecoder`, a dict `{"raw": array,
    "sampling_rate": rate}` or `{"array": array, "sampling_rate": rate}`, or a bare array, taken to be at
    `default_sampling_rate` (with a warning).
    """
    if isinstance(inputs, Path):
        inputs = str(inputs)
    if isinstance(inputs, str):
        if inputs.startswith(("http://", "https://")):
            raise ValueError(f"Download {inputs} first and pass the local file; URLs are not fetched.")
        return open_decoder(inputs, inputs)
    if isinstance(inputs, (bytes, bytearray)):
        return open_decoder(bytes(inputs), "the audio bytes")
    if type(inputs).__name__ == "AudioDecoder" and hasattr(inputs, "get_samples_played_in_range"):
        stream = DecoderStream(inputs, "the AudioDecoder")
        if stream.sampling_rate == inputs.metadata.sample_rate:
            return stream
        # A decoder that resamples (e.g. `datasets.Audio(sampling_rate=...)`) gets its output wrong when read in
        # pieces, since torchcodec's resampler does not carry its state across calls: decode it in one call.
        samples = inputs.get_all_samples()
        return ArrayStream(samples.data.numpy(), samples.sample_rate, "the AudioDecoder")
    sampling_rate = None
    if isinstance(inputs, dict):
        if "sampling_rate" not in inputs or not ("raw" in inputs or "array" in inputs):
            raise ValueError(
                'A dict input needs the audio under "raw" (or "array", as in `datasets`) and its rate under '
                f'"sampling_rate"; got keys {sorted(inputs)}.'
            )
        sampling_rate = inputs["sampling_rate"]
        inputs = inputs["raw"] if "raw" in inputs else inputs["array"]
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)) or sampling_rate <= 0:
            raise ValueError(f'"sampling_rate" must be a positive integer (Hz), got {sampling_rate!r}.')
    if isinstance(inputs, torch.Tensor):
        inputs = inputs.detach().cpu().numpy()
    if not isinstance(inputs, np.ndarray):
        raise TypeError(
            "Expected a file path, audio bytes, an AudioDecoder, a numpy array or torch tensor, or a dict with "
            f'"raw"/"array" and "sampling_rate"; got {type(inputs).__name__}.'
        )
    if sampling_rate is None:
        sampling_rate = default_sampling_rate
        logger.warning_once(
            f"A bare array is taken to be at {sampling_rate} Hz; pass "
            '{"raw": array, "sampling_rate": rate} to have audio at another rate resampled.'
        )
    if inputs.size == 0:
        raise ValueError("The audio array is empty.")
    return ArrayStream(inputs, int(sampling_rate))


def read_audio_segment(
    source: str | Path | bytes,
    start_seconds: float = 0.0,
    end_seconds: float | None = None,
    sampling_rate: int = 16000,
) -> np.ndarray:
    """Decode `[start_seconds, end_seconds)` of an audio file as mono float32 at `sampling_rate`, without the rest.

    Used to fetch one window of a long recording again (e.g. for its attention map) after classification.
    """
    name = str(source) if not isinstance(source, bytes) else "the audio bytes"
    stream = open_decoder(str(source) if isinstance(source, Path) else source, name)
    try:
        samples = stream.decoder.get_samples_played_in_range(start_seconds, end_seconds)
    except RuntimeError as error:
        raise ValueError(f"Could not decode {name}: {clean_decoder_error(error)}") from None
    mono = mix_to_mono(samples.data.numpy(), 0)
    return np.concatenate(list(resample_stream(iter([mono]), stream.sampling_rate, sampling_rate)))


__all__ = [
    "DECODE_CHUNK_SECONDS",
    "ArrayStream",
    "AudioStream",
    "DecoderStream",
    "channel_axis_of",
    "mix_to_mono",
    "open_audio",
    "open_decoder",
    "pcm_to_float",
    "read_audio_segment",
    "resample",
    "resample_stream",
]
