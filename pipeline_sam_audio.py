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
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import FeatureExtractionMixin, Pipeline, PreTrainedModel
from transformers.utils import logging


try:  # a Hub folder's copy sits in a package that transformers builds; the installed file is a top-level module
    from .audio_io_sam_audio import open_audio, resample_stream
except ImportError:
    from audio_io_sam_audio import open_audio, resample_stream


logger = logging.get_logger(__name__)

TASK = "audio-classification"

# The clip length the classifier is trained on; windows of that length look like training inputs.
DEFAULT_WINDOW_SECONDS = 20.0
DEFAULT_BATCH_SIZE = 8
# Progress bars only for recordings long enough to take a while (more windows than this).
PROGRESS_BAR_MIN_WINDOWS = 10

# What `save_pretrained_with_pipeline` writes into config.json under "custom_pipelines".
CUSTOM_PIPELINE_ENTRY = {
    "impl": "pipeline_sam_audio.SamAudioClassificationPipeline",
    "pt": ["AutoModelForAudioClassification"],
    "type": "audio",
}


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


def _warn_if_workers(num_workers: int | None) -> None:
    if num_workers not in (None, 0):
        logger.warning_once("SamAudioClassificationPipeline decodes in the calling process; `num_workers` is ignored.")


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
    - **Memory.** Files are decoded a minute at a time and never held whole; windows run through the
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
        window_batch_size: int | None = None,
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
        if window_batch_size is not None:
            if isinstance(window_batch_size, bool) or not isinstance(window_batch_size, int) or window_batch_size < 1:
                raise ValueError(f"`batch_size` must be a positive integer, got {window_batch_size!r}.")
            forward_params["batch_size"] = window_batch_size
        return preprocess_params, forward_params, postprocess_params

    def __init__(self, *args: Any, batch_size: int | None = None, num_workers: int | None = None, **kwargs: Any):
        # `batch_size` counts the windows of one recording per forward pass: a forward parameter here, while the
        # stock pipeline batches whole inputs. Recordings run one after another.
        _warn_if_workers(num_workers)
        if batch_size is not None:
            kwargs["window_batch_size"] = batch_size
        super().__init__(*args, **kwargs)

    def __call__(self, inputs: Any, batch_size: int | None = None, num_workers: int | None = None, **kwargs: Any):
        """Classify one recording, or each recording of a list (or, lazily, of a generator or dataset).

        See the class docstring for the accepted inputs, arguments and outputs.
        """
        _warn_if_workers(num_workers)
        if batch_size is not None:
            kwargs["window_batch_size"] = batch_size
        if isinstance(inputs, list) and not inputs:
            return []
        return super().__call__(inputs, **kwargs)

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
            "stream": open_audio(inputs, self.feature_extractor.sampling_rate),
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
        chunks = resample_stream(stream.chunks(), stream.sampling_rate, rate)
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
    - what [`add_pipeline_to_folder`] adds: `pipeline_sam_audio.py` and `audio_io_sam_audio.py`, and in
      `config.json` the `custom_pipelines` entry that makes this the folder's audio-classification pipeline.

    The in-memory model and its config are left unchanged, so a later plain `model.save_pretrained` still writes a
    folder for the stock pipeline. A folder without the entry keeps working with the stock pipeline.
    """
    save_directory = Path(save_directory)
    save_directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(save_directory, **save_kwargs)
    feature_extractor.save_pretrained(save_directory)
    add_pipeline_to_folder(save_directory)


def add_pipeline_to_folder(save_directory: str | Path) -> None:
    """Make a saved SAM-Audio folder load this pipeline: `pipeline("audio-classification", folder,
    trust_remote_code=True)` then returns `SamAudioClassificationPipeline` (for any `model.save_pretrained` folder,
    e.g. the one `Trainer.save_model` writes, without writing the weights again).

    Copies this module and the audio I/O it imports into the folder, and writes `"custom_pipelines":
    {"audio-classification": CUSTOM_PIPELINE_ENTRY}` into its `config.json`: `transformers.pipeline` then loads the
    pipeline from that copy instead of the stock `AudioClassificationPipeline`, with the model loaded through
    `AutoModelForAudioClassification`.
    """
    save_directory = Path(save_directory)
    config_path = save_directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{save_directory} has no config.json; save the model there first.")
    here = Path(__file__).parent
    for name in ("pipeline_sam_audio.py", "audio_io_sam_audio.py"):
        shutil.copyfile(here / name, save_directory / name)
    # Written into the saved JSON rather than onto `model.config`, whose later saves would otherwise point at a
    # pipeline file their folder does not hold.
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["custom_pipelines"] = {TASK: CUSTOM_PIPELINE_ENTRY}
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


__all__ = [
    "CUSTOM_PIPELINE_ENTRY",
    "DEFAULT_WINDOW_SECONDS",
    "SamAudioClassificationPipeline",
    "add_pipeline_to_folder",
    "plan_windows",
    "save_pretrained_with_pipeline",
]
