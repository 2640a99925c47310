"""Audio-classification pipeline for SAM-Audio that classifies recordings of any length, window by window.

`transformers`' `AudioClassificationPipeline` decodes a file whole and runs the whole waveform through the model in
one forward pass, which fails on a two-hour concert. `SamAudioClassificationPipeline` streams the audio instead: files
are decoded in pieces (torchcodec), resampled on the fly, cut into windows, and the windows run through the model in
batches, so memory is bounded by the window batch and not by the length of the recording.

A folder written by [`save_pretrained_with_pipeline`] makes the ordinary call use this class, loaded from the copy of
this file stored in the folder:

```python
from transformers import pipeline

classifier = pipeline("audio-classification", model="path/to/folder", trust_remote_code=True)
classifier("concert.mp3")  # [{"score": 0.91, "label": "Kalyani"}, ...]
classifier("concert.mp3", return_timeline=True)  # {"labels": [...], "timeline": [...], "duration": 7214.2}
```
"""

import json
import math
import shutil
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import FeatureExtractionMixin, Pipeline, PreTrainedModel
from transformers.utils import logging


logger = logging.get_logger(__name__)

TASK = "audio-classification"

# The clip length the classifier is trained on; windows of that length look like training inputs.
DEFAULT_WINDOW_SECONDS = 20.0
DEFAULT_BATCH_SIZE = 8
# Progress bars only for recordings long enough to take a while (more windows than this).
PROGRESS_BAR_MIN_WINDOWS = 10
# Decoded at a time from a file; at 48 kHz float32 this is 11 MB.
DECODE_CHUNK_SECONDS = 60
# torchaudio.functional.resample defaults, mirrored to size the context the streaming resampler keeps.
_RESAMPLE_LOWPASS_FILTER_WIDTH = 6
_RESAMPLE_ROLLOFF = 0.99

# What `save_pretrained_with_pipeline` writes into config.json under "custom_pipelines".
CUSTOM_PIPELINE_ENTRY = {
    "impl": "pipeline_sam_audio.SamAudioClassificationPipeline",
    "pt": ["AutoModelForAudioClassification"],
    "type": "audio",
}


class _AudioStream:
    """Mono float32 audio at its own sampling rate, produced in consecutive chunks."""

    sampling_rate: int
    num_samples: int | None
    name: str

    def chunks(self) -> Iterator[np.ndarray]:
        """Consecutive pieces of the audio, mono float32, which joined give the whole signal."""
        raise NotImplementedError


class _ArrayStream(_AudioStream):
    """An in-memory array, handed out in views so that no converted copy of the whole array is made."""

    def __init__(self, array: np.ndarray, sampling_rate: int, name: str = "array"):
        if array.ndim == 1:
            self.channel_axis = None
        elif array.ndim == 2:
            # As in SamAudioFeatureExtractor: the shorter axis holds the channels.
            self.channel_axis = 0 if array.shape[0] <= array.shape[1] else 1
        else:
            raise ValueError(
                f"Audio arrays must be 1-D (samples) or 2-D (channels and samples), got shape {array.shape}."
            )
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
            yield _to_mono_float32(piece, self.channel_axis)


def _frame_range_reader() -> Any:
    """torchcodec's frame-level range decoder, or `None` where this torchcodec version does not have it."""
    try:
        from torchcodec.decoders._audio_decoder import core
    except ImportError:
        return None
    return getattr(core, "get_frames_by_pts_in_range_audio", None)


class _DecoderStream(_AudioStream):
    """A torchcodec `AudioDecoder`, decoded front to back in pieces of about `DECODE_CHUNK_SECONDS`.

    `AudioDecoder.get_samples_played_in_range` trims its output to the requested range, and a range that starts inside
    the last frame decoded makes torchcodec rewind to the beginning of the stream and decode it all again, so reading a
    file in consecutive ranges with it takes time quadratic in its length (90 s instead of 3 s for an hour of FLAC).
    The frame-level function behind that method returns whole frames instead, so each piece starts where the last
    frame of the previous one ended and the file is decoded once. Where that function is missing (another torchcodec
    version), the public method is used: the same samples, more slowly.

    Files are decoded at their own rate: pieces resampled by torchcodec come back shifted by a few hundred samples, as
    its resampler does not carry its state from one call to the next. `_resample_stream` resamples instead.
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
                raise ValueError(f"Could not decode {self.name}: {_clean_decoder_error(error)}") from None
            if data.shape[-1] == 0:
                return
            yield _to_mono_float32(data, 0)
            if end < stop - 1.5 / self.sampling_rate:
                return
            first = False


def _clean_decoder_error(error: BaseException) -> str:
    """torchcodec's message without the C++ source location it starts with, on one line."""
    message = str(error)
    if ".cpp:" in message:
        message = message.split(".cpp:", 1)[1].split(",", 1)[-1]
    return " ".join(message.split()) or type(error).__name__


def _to_mono_float32(samples: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """Float32 mono samples in [-1, 1] from float or integer PCM, averaging channels along `channel_axis`."""
    if np.issubdtype(samples.dtype, np.integer):
        info = np.iinfo(samples.dtype)
        # Same mapping as SamAudioFeatureExtractor; unsigned formats are centred on their midpoint.
        offset = (int(info.max) + 1) / 2 if info.min == 0 else 0.0
        scale = (int(info.max) + 1) / 2 if info.min == 0 else -float(info.min)
        samples = (samples.astype(np.float64) - offset) / scale
    if channel_axis is not None:
        samples = samples.mean(axis=channel_axis)
    return np.ascontiguousarray(samples, dtype=np.float32)


def _open_decoder(source: str | bytes, name: str) -> _DecoderStream:
    """Open a file path or encoded bytes with torchcodec, at its own channels: `_DecoderStream` averages them, as the
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
        reason = _clean_decoder_error(error)
        # torchcodec repeats the file name; the message already has it.
        reason = reason.removeprefix(f"Could not open input file: {source} ") if isinstance(source, str) else reason
        raise ValueError(f"Could not open {name} as audio: {reason}") from None
    return _DecoderStream(decoder, name)


def _resample_stream(chunks: Iterator[np.ndarray], orig_rate: int, target_rate: int) -> Iterator[np.ndarray]:
    """Resample a chunked signal with `torchaudio.functional.resample`, giving the same samples as one call would.

    Each call sees enough input on both sides of the samples it keeps for the filter to never reach a chunk edge, and
    starts on a multiple of the reduced input rate so that its output grid lines up with the whole signal's.
    """
    if orig_rate == target_rate:
        yield from chunks
        return
    try:
        import torchaudio.functional
    except ImportError as error:
        raise ImportError(
            f"Audio at {orig_rate} Hz has to be resampled to {target_rate} Hz, which needs torchaudio ({error})."
        ) from None

    divisor = math.gcd(orig_rate, target_rate)
    period_in, period_out = orig_rate // divisor, target_rate // divisor
    # Half-width of torchaudio's sinc kernel in input samples; output period n reads inputs
    # [n * period_in - width, (n + 1) * period_in + width).
    width = math.ceil(_RESAMPLE_LOWPASS_FILTER_WIDTH * period_in / (min(period_in, period_out) * _RESAMPLE_ROLLOFF))
    margin = period_in * math.ceil((width + period_in) / period_in)

    def resample(segment: np.ndarray) -> np.ndarray:
        return torchaudio.functional.resample(torch.from_numpy(segment), orig_rate, target_rate).numpy()

    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0  # input index of buffer[0], a multiple of period_in
    done = 0  # inputs before this index have had their outputs emitted
    for chunk in chunks:
        buffer = np.concatenate([buffer, chunk])
        end = buffer_start + buffer.shape[0]
        ready = (end - margin) // period_in * period_in
        if ready <= done:
            continue
        output = resample(buffer[: ready + margin - buffer_start])
        first = (done - buffer_start) // period_in * period_out
        last = (ready - buffer_start) // period_in * period_out
        yield output[first:last]
        done = ready
        keep_from = max(0, done - margin)
        buffer = buffer[keep_from - buffer_start :]
        buffer_start = keep_from
    if buffer_start + buffer.shape[0] > done:
        output = resample(buffer)
        yield output[(done - buffer_start) // period_in * period_out :]


def plan_windows(
    num_samples: int, window_samples: int, hop_samples: int, min_window_samples: int
) -> list[tuple[int, int]]:
    """The `(start, end)` sample spans `SamAudioClassificationPipeline` classifies in a recording of `num_samples`.

    Windows start every `hop_samples` and last `window_samples`, until one reaches the end of the recording. A last
    window shorter than `min_window_samples` is merged into the window before it, which then runs to the end (so
    every sample is classified and no window is shorter than the minimum). A recording shorter than the minimum is one
    window.
    """
    spans = []
    start = 0
    while start < num_samples:
        end = min(start + window_samples, num_samples)
        if end - start < min_window_samples and spans:
            spans[-1] = (spans[-1][0], num_samples)
            break
        spans.append((start, end))
        if end == num_samples:
            break
        start += hop_samples
    return spans


def _iter_windows(
    chunks: Iterator[np.ndarray], window: int, hop: int, min_length: int
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Cut a stream of chunks into `(start, end, samples)` windows as `plan_windows` would, without knowing its length.

    Only the samples from the oldest window not yet handed out onward are kept, so memory stays at about two windows
    plus one chunk, however long the stream is.
    """
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0
    exhausted = False
    pending = None
    start = 0

    def take(span: tuple[int, int]) -> tuple[int, int, np.ndarray]:
        # A copy, so that a batch of windows does not keep whole decoded buffers alive.
        return span[0], span[1], buffer[span[0] - buffer_start : span[1] - buffer_start].copy()

    while True:
        # One sample past the window tells whether this window is the last.
        while not exhausted and buffer_start + buffer.shape[0] <= start + window:
            chunk = next(chunks, None)
            if chunk is None:
                exhausted = True
            else:
                buffer = np.concatenate([buffer, chunk])
        total = buffer_start + buffer.shape[0]
        end = min(start + window, total)
        if end <= start:
            break
        if end - start < min_length and pending is not None:
            pending = (pending[0], total)
            break
        if pending is not None:
            yield take(pending)
        pending = (start, end)
        if exhausted and end == total:
            break
        start += hop
        keep_from = min(pending[0], start)
        buffer = buffer[keep_from - buffer_start :]
        buffer_start = keep_from
    if pending is not None:
        yield take(pending)


class SamAudioClassificationPipeline(Pipeline):
    r"""
    Raga classification of recordings of any length: the audio is cut into windows, each window is classified, and the
    window probabilities are combined into one answer.

    `pipeline("audio-classification", model=folder, trust_remote_code=True)` returns this class for folders written by
    [`save_pretrained_with_pipeline`] (or by this class's `save_pretrained`). For any other folder or an in-memory
    model, pass `pipeline_class=SamAudioClassificationPipeline` to `pipeline`, or build it directly:
    `SamAudioClassificationPipeline(model=model, feature_extractor=feature_extractor)`.

    Works on a file path (any format FFmpeg reads: wav, flac, mp3, ...), encoded bytes, a torchcodec `AudioDecoder`
    (what `datasets` 5 returns for an `Audio` column; one that resamples is decoded whole), a dict `{"raw": array,
    "sampling_rate": rate}` or `{"array": array, "sampling_rate": rate}`, a bare array (taken to be at the feature
    extractor's rate, 16 kHz), or a list of these. Arrays may be float or integer PCM, mono or `(channels, samples)`/
    `(samples, channels)`; channels are averaged. Audio at another rate is resampled with torchaudio.

    How a recording is classified:

    - **Windows.** Windows of `window_seconds` start every `hop_seconds` until one reaches the end of the recording. A
      last window shorter than `min_window_seconds` (default: half a window, and never less than the model's receptive
      field) is *merged* into the window before it, which then runs to the end of the recording; nothing is dropped. A
      recording shorter than that minimum is classified as a single window; one shorter than the receptive field
      raises `ValueError`. [`plan_windows`] gives the spans for a given length.
    - **Aggregation.** Each window gives log-probabilities (log-softmax of its logits). The recording's score for a
      raga is the mean over windows of its log-probability, renormalised with a softmax: the normalised geometric mean
      of the window probabilities. Every window counts once. For a recording of one window this is the plain softmax,
      as in the stock pipeline.
    - **Memory.** Files are decoded `DECODE_CHUNK_SECONDS` at a time and never held whole; windows run through the
      model `batch_size` at a time. Peak memory depends on the window batch, not on the length of the recording.

    Call arguments (also accepted by the constructor as defaults):

    - `top_k` (`int`, defaults to 5): number of ragas returned, best first (capped at the number of labels).
    - `window_seconds` (`float`, defaults to 20.0, the training clip length) and `hop_seconds` (`float`, defaults to
      `window_seconds`, i.e. no overlap).
    - `min_window_seconds` (`float`, *optional*): see Windows above. `hop_seconds` above `window_seconds` (audio
      left unclassified) raises `ValueError`.
    - `batch_size` (`int`, defaults to 8): windows per forward pass. The recordings of a list run one after another
      (`num_workers` is ignored).
    - `return_timeline` (`bool`, defaults to `False`): see Returns.
    - `progress_bar` (`bool`, defaults to `True`): show a tqdm bar (on stderr) for recordings of more than
      `PROGRESS_BAR_MIN_WINDOWS` windows; `transformers.utils.logging.disable_progress_bar()` also turns it off.

    Returns:
        By default, as the stock pipeline: a list of `{"score": float, "label": str}`, best first. With
        `return_timeline=True`, a dict `{"labels": <that list>, "timeline": [{"start": float, "end": float, "scores":
        {label: probability, ...}}, ...], "duration": float}` with one timeline entry per window (times in seconds
        from the start of the recording, `scores` over all labels) and the duration of the decoded audio. A list of
        inputs gives a list of results.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = True
    _load_tokenizer = False

    def _sanitize_parameters(
        self,
        top_k: int | None = None,
        window_seconds: float | None = None,
        hop_seconds: float | None = None,
        min_window_seconds: float | None = None,
        return_timeline: bool | None = None,
        progress_bar: bool | None = None,
        **kwargs,
    ) -> tuple[dict, dict, dict]:
        """Validate the call arguments and route them to `preprocess`, `_forward` and `postprocess`."""
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected arguments: {', '.join(sorted(kwargs))}.")
        preprocess_params, forward_params, postprocess_params = {}, {}, {}
        for name, value in (
            ("window_seconds", window_seconds),
            ("hop_seconds", hop_seconds),
            ("min_window_seconds", min_window_seconds),
        ):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                    raise ValueError(f"`{name}` must be a positive number of seconds, got {value!r}.")
                preprocess_params[name] = float(value)
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
                raise ValueError(f"`top_k` must be a positive integer, got {top_k!r}.")
            postprocess_params["top_k"] = min(top_k, self.model.config.num_labels)
        if return_timeline is not None:
            postprocess_params["return_timeline"] = bool(return_timeline)
        if progress_bar is not None:
            forward_params["progress_bar"] = bool(progress_bar)
        return preprocess_params, forward_params, postprocess_params

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Classify one recording, or each recording of a list (or, lazily, of a generator or dataset).

        See the class docstring for the accepted inputs, arguments and outputs.
        """
        batch_size = kwargs.pop("batch_size", None)
        if kwargs.pop("num_workers", None) not in (None, 0):
            logger.warning_once(f"{type(self).__name__} decodes in the calling process; `num_workers` is ignored.")
        if batch_size is None:
            batch_size = self._batch_size or DEFAULT_BATCH_SIZE
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        preprocess_params, forward_params, postprocess_params = self._sanitize_parameters(**kwargs)
        preprocess_params = {**self._preprocess_params, **preprocess_params}
        forward_params = {**self._forward_params, **forward_params, "batch_size": batch_size}
        postprocess_params = {**self._postprocess_params, **postprocess_params}
        self.call_count += 1

        def run(item: Any) -> Any:
            return self.run_single(item, preprocess_params, forward_params, postprocess_params)

        # Windows are batched inside one recording, so recordings simply run one after another.
        if isinstance(inputs, list):
            return [run(item) for item in inputs]
        if isinstance(inputs, (types.GeneratorType, torch.utils.data.Dataset)):
            return (run(item) for item in inputs)
        return run(inputs)

    def _open_stream(self, inputs: Any) -> _AudioStream:
        """Turn any accepted input into a stream of mono chunks at a known sampling rate."""
        if isinstance(inputs, Path):
            inputs = str(inputs)
        if isinstance(inputs, str):
            if inputs.startswith(("http://", "https://")):
                raise ValueError(f"Download {inputs} first and pass the local file; URLs are not fetched.")
            return _open_decoder(inputs, inputs)
        if isinstance(inputs, (bytes, bytearray)):
            return _open_decoder(bytes(inputs), "the audio bytes")
        if type(inputs).__name__ == "AudioDecoder" and hasattr(inputs, "get_samples_played_in_range"):
            stream = _DecoderStream(inputs, "the AudioDecoder")
            if stream.sampling_rate == inputs.metadata.sample_rate:
                return stream
            # A decoder that resamples (e.g. `datasets.Audio(sampling_rate=...)`) gets its output wrong when read in
            # pieces, since torchcodec's resampler does not carry its state across calls: decode it in one call.
            samples = inputs.get_all_samples()
            return _ArrayStream(samples.data.numpy(), samples.sample_rate, "the AudioDecoder")
        sampling_rate = None
        if isinstance(inputs, dict):
            if "sampling_rate" not in inputs or not ("raw" in inputs or "array" in inputs):
                raise ValueError(
                    'A dict input needs the audio under "raw" (or "array", as in `datasets`) and its rate under '
                    f'"sampling_rate"; got keys {sorted(inputs)}.'
                )
            sampling_rate = inputs["sampling_rate"]
            inputs = inputs["raw"] if "raw" in inputs else inputs["array"]
            if (
                isinstance(sampling_rate, bool)
                or not isinstance(sampling_rate, (int, np.integer))
                or sampling_rate <= 0
            ):
                raise ValueError(f'"sampling_rate" must be a positive integer (Hz), got {sampling_rate!r}.')
        if isinstance(inputs, torch.Tensor):
            inputs = inputs.detach().cpu().numpy()
        if not isinstance(inputs, np.ndarray):
            raise TypeError(
                "Expected a file path, audio bytes, an AudioDecoder, a numpy array or torch tensor, or a dict with "
                f'"raw"/"array" and "sampling_rate"; got {type(inputs).__name__}.'
            )
        if sampling_rate is None:
            sampling_rate = self.feature_extractor.sampling_rate
            logger.warning_once(
                f"A bare array is taken to be at {sampling_rate} Hz; pass "
                '{"raw": array, "sampling_rate": rate} to have audio at another rate resampled.'
            )
        if inputs.size == 0:
            raise ValueError("The audio array is empty.")
        return _ArrayStream(inputs, int(sampling_rate))

    def preprocess(
        self,
        inputs: Any,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        hop_seconds: float | None = None,
        min_window_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Open the input as a stream and fix the window geometry in samples at the model's rate."""
        rate = self.feature_extractor.sampling_rate
        window = max(1, round(window_seconds * rate))
        hop = window if hop_seconds is None else max(1, round(hop_seconds * rate))
        if hop > window:
            raise ValueError(
                f"`hop_seconds` ({hop / rate} s) must not exceed `window_seconds` ({window / rate} s): audio between "
                "windows would never be classified."
            )
        receptive_field = int(getattr(self.model, "receptive_field", 1))
        min_length = window // 2 if min_window_seconds is None else round(min_window_seconds * rate)
        min_length = min(max(min_length, receptive_field), window)
        return {
            "stream": self._open_stream(inputs),
            "window": window,
            "hop": hop,
            "min_length": min_length,
            "receptive_field": receptive_field,
        }

    def _forward(
        self, model_inputs: dict[str, Any], batch_size: int = DEFAULT_BATCH_SIZE, progress_bar: bool = True
    ) -> dict[str, Any]:
        """Decode, resample and cut the stream into windows, and classify them `batch_size` at a time."""
        stream = model_inputs["stream"]
        rate = self.feature_extractor.sampling_rate
        window, hop, min_length = model_inputs["window"], model_inputs["hop"], model_inputs["min_length"]
        chunks = _resample_stream(stream.chunks(), stream.sampling_rate, rate)
        windows = _iter_windows(chunks, window, hop, min_length)

        expected = None
        if stream.num_samples is not None:
            expected = len(
                plan_windows(round(stream.num_samples * rate / stream.sampling_rate), window, hop, min_length)
            )
        show = progress_bar and expected is not None and expected > PROGRESS_BAR_MIN_WINDOWS
        bar = logging.tqdm(total=expected, unit="window", desc=Path(stream.name).name, disable=not show, leave=False)

        spans, log_probs = [], []
        batch = []
        try:
            for start, end, samples in windows:
                if end - start < model_inputs["receptive_field"]:
                    raise ValueError(
                        f"{stream.name} holds {end - start} samples at {rate} Hz ({(end - start) / rate:.3f} s), "
                        f"fewer than the model's receptive field ({model_inputs['receptive_field']} samples)."
                    )
                spans.append((start, end))
                batch.append(samples)
                if len(batch) == batch_size:
                    log_probs.append(self._classify_windows(batch))
                    bar.update(len(batch))
                    batch = []
            if batch:
                log_probs.append(self._classify_windows(batch))
                bar.update(len(batch))
        finally:
            bar.close()
        if not spans:
            raise ValueError(f"{stream.name} holds no audio samples.")
        return {
            "log_probs": torch.cat(log_probs),
            "spans": torch.tensor(spans, dtype=torch.long),
            "sampling_rate": rate,
        }

    def _classify_windows(self, windows: list[np.ndarray]) -> torch.Tensor:
        """Log-probabilities `(len(windows), num_labels)` of a batch of windows, on the CPU in float32."""
        inputs = self.feature_extractor(
            windows, sampling_rate=self.feature_extractor.sampling_rate, padding=True, return_tensors="pt"
        )
        inputs = inputs.to(self.device)
        if self.dtype is not None:
            inputs = inputs.to(dtype=self.dtype)
        logits = self.model(**inputs).logits
        return torch.log_softmax(logits.float(), dim=-1).cpu()

    def postprocess(
        self, model_outputs: dict[str, Any], top_k: int = 5, return_timeline: bool = False
    ) -> list[dict[str, Any]] | dict[str, Any]:
        """Aggregate the windows into one ranking, and optionally the per-window timeline."""
        id2label = self.model.config.id2label
        log_probs = model_outputs["log_probs"]  # (windows, labels)
        scores = torch.softmax(log_probs.mean(dim=0), dim=-1)
        top_scores, top_ids = scores.topk(min(top_k, scores.shape[-1]))
        labels = [
            {"score": score, "label": id2label[index]} for score, index in zip(top_scores.tolist(), top_ids.tolist())
        ]
        if not return_timeline:
            return labels
        rate = model_outputs["sampling_rate"]
        names = [id2label[index] for index in range(log_probs.shape[-1])]
        timeline = [
            {"start": start / rate, "end": end / rate, "scores": dict(zip(names, probabilities))}
            for (start, end), probabilities in zip(model_outputs["spans"].tolist(), log_probs.exp().tolist())
        ]
        return {"labels": labels, "timeline": timeline, "duration": timeline[-1]["end"]}

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> None:
        """Save the model, the feature extractor and this pipeline's code, as [`save_pretrained_with_pipeline`] does.

        The stock `Pipeline.save_pretrained` would write a `config.json` that (loaded from a folder made by
        `save_pretrained_with_pipeline`) still names this pipeline, without the file that defines it.
        """
        save_pretrained_with_pipeline(self.model, self.feature_extractor, save_directory, **kwargs)


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
    stream = _open_decoder(str(source) if isinstance(source, Path) else source, name)
    try:
        samples = stream.decoder.get_samples_played_in_range(start_seconds, end_seconds)
    except RuntimeError as error:
        raise ValueError(f"Could not decode {name}: {_clean_decoder_error(error)}") from None
    mono = _to_mono_float32(samples.data.numpy(), 0)
    return np.concatenate(list(_resample_stream(iter([mono]), stream.sampling_rate, sampling_rate)))


def save_pretrained_with_pipeline(
    model: PreTrainedModel,
    feature_extractor: FeatureExtractionMixin,
    save_directory: str | Path,
    **save_kwargs: Any,
) -> None:
    """Save a model folder whose `pipeline("audio-classification", ..., trust_remote_code=True)` is this pipeline.

    Writes into `save_directory`:

    - everything `model.save_pretrained(save_directory, **save_kwargs)` writes (`config.json`, `model.safetensors`,
      and, for SAM-Audio, `configuration_sam_audio.py` and `modeling_sam_audio.py` with the `auto_map`);
    - everything `feature_extractor.save_pretrained(save_directory)` writes (`preprocessor_config.json`, and
      `feature_extraction_sam_audio.py`);
    - `pipeline_sam_audio.py`, a copy of this module;
    - in `config.json`, `"custom_pipelines": {"audio-classification": CUSTOM_PIPELINE_ENTRY}`, which tells
      `transformers.pipeline` to load `SamAudioClassificationPipeline` from that copy instead of the stock
      `AudioClassificationPipeline`, with the model loaded through `AutoModelForAudioClassification`.

    The in-memory model and its config are left unchanged, so a later plain `model.save_pretrained` still writes a
    folder for the stock pipeline. A folder without the entry keeps working with the stock pipeline.
    """
    save_directory = Path(save_directory)
    save_directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(save_directory, **save_kwargs)
    feature_extractor.save_pretrained(save_directory)
    shutil.copyfile(Path(__file__), save_directory / "pipeline_sam_audio.py")
    # Written into the saved JSON rather than onto `model.config`, whose later saves would otherwise point at a
    # pipeline file their folder does not hold.
    config_path = save_directory / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["custom_pipelines"] = {TASK: CUSTOM_PIPELINE_ENTRY}
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


__all__ = [
    "CUSTOM_PIPELINE_ENTRY",
    "DEFAULT_WINDOW_SECONDS",
    "SamAudioClassificationPipeline",
    "plan_windows",
    "read_audio_segment",
    "save_pretrained_with_pipeline",
]
