"""Web demo of a SAM-Audio raga classifier (Gradio), ready to run as a Hugging Face Space.

    python app.py --model DIR_OR_HUB_ID [--port 7860] [--share false]

Without `--model`, the model is `$SAM_AUDIO_MODEL` (a folder or Hub id; how a Space names its model), else the
`outputs/demo` folder that `make demo` trains. `GRADIO_SERVER_NAME` and `GRADIO_SERVER_PORT` are honoured, as on
Spaces.

The page takes an upload (any format FFmpeg reads, of any length, video files included: their audio track is used) or
a microphone recording, and shows the top ragas, the raga timeline of recordings longer than one window, the
segment-token attention of the window in which the winning raga scored highest, and the tonic the model found. Every
recording goes through `SamAudioClassificationPipeline`, which decodes it in pieces and classifies it window by
window, so an hour-long concert is classified in bounded memory while a progress bar counts the windows.

The first API endpoint, `/classify`, takes one audio file and returns the ragas with their scores:

```python
from gradio_client import Client, handle_file

Client("http://127.0.0.1:7860/").predict(handle_file("concert.mp3"), api_name="/classify")
# {"label": "Kalyani", "confidences": [{"label": "Kalyani", "confidence": 0.93}, ...]}
```

A recording that cannot be read, is silent or is too short gets one readable message, and the app keeps serving.
"""

import argparse
import functools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
from matplotlib.figure import Figure
from transformers.utils import logging

from audio_io_sam_audio import read_audio_segment
from pipeline_sam_audio import DEFAULT_WINDOW_SECONDS, SamAudioClassificationPipeline
from sam_audio_raga.predict import first_line, format_time, load_classifier
from sam_audio_raga.synthetic import GENERATOR_VERSION, generate_clip, sample_recording_style
from sam_audio_raga.visualization import plot_segment_attention, plot_timeline


try:
    import gradio as gr
except ImportError as error:  # the demo is an optional extra of the package
    raise ImportError(f"The web demo needs gradio: pip install -e '.[demo]' ({error})") from None


logger = logging.get_logger(__name__)

PROG = "app.py"
MODEL_ENV = "SAM_AUDIO_MODEL"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "outputs" / "demo"
DEFAULT_PORT = 7860
# Ragas shown on the page; the API endpoint returns the same ranking.
TOP_K = 5
# The model is trained on 16 s crops; a few seconds hold too few phrases to tell ragas that share notes apart.
MIN_SECONDS = 5.0
# A window whose RMS level stays under this holds no music to classify.
SILENCE_DBFS = -60.0
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# Example recordings rendered by the synthetic corpus on first start: (label, seed, timbre, tonic in Hz, parts), each
# part a (raga, seconds) played in turn by one performer in one room.
EXAMPLES = (
    ("Kalyani on violin, 40 s", 101, "violin", 146.8, (("Kalyani", 40.0),)),
    ("Todi sung, 30 s", 102, "voice", 207.7, (("Todi", 30.0),)),
    ("Hamsanaadam on nadaswaram, 30 s", 103, "nadaswaram", 130.9, (("Hamsanaadam", 30.0),)),
    ("Mayamalavagoulai, then Kharaharapriya on flute, 2 min", 104, "flute", 174.6,
     (("Mayamalavagoulai", 60.0), ("Kharaharapriya", 60.0))),
)  # fmt: skip
EXAMPLE_SAMPLING_RATE = 16000

DESCRIPTION = """\
# Which raga is this?

Upload a recording of Carnatic music (any format, any length; the audio track of a video works too) or record one with
the microphone. The model listens to it in windows of {window:g} s and answers with the ragas it heard, how the
ragas change over the recording, where its segment tokens listened in the most telling window, and the tonic (Sa).
"""


class DemoInputError(ValueError):
    """A recording the demo cannot classify; the message says why, in words for the person who uploaded it."""


@dataclass
class Tonic:
    """The tonic (Sa) the model aligned a recording to: a pitch class, shown in the octave its frontend starts at."""

    hz: float
    note: str
    cents: int
    probability: float

    def describe(self) -> str:
        """One line for the page, e.g. `146.3 Hz, D3 -7 cents (or any octave of it; 75% of the model's tonic ...)`."""
        return (
            f"{self.hz:.1f} Hz, {self.note} {self.cents:+d} cents (or any octave of it; "
            f"{self.probability:.0%} of the model's tonic probability)"
        )


@dataclass
class Analysis:
    """What the demo found in one recording."""

    audio: str
    labels: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    duration: float
    tonic: Tonic | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def scores(self) -> dict[str, float]:
        """Every raga's overall score, the value of a `gr.Label`."""
        return {entry["label"]: entry["score"] for entry in self.labels}

    @property
    def best_window(self) -> dict[str, Any]:
        """The window in which the overall winner scored highest (the one `sam-audio-predict --attention` draws)."""
        winner = self.labels[0]["label"]
        return max(self.timeline, key=lambda entry: entry["scores"][winner])


def _level_dbfs(samples: np.ndarray) -> float:
    """RMS level of a clip in dB relative to full scale (a full-scale square wave is 0 dB)."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    return 20.0 * np.log10(max(rms, 1e-10))


def tonic_from_probabilities(probabilities: torch.Tensor, min_frequency: float, bins_per_octave: int) -> Tonic:
    """The tonic from a distribution over the log-frequency frontend's pitch-class rotations.

    Rotation `r` puts pitch-class bin `r`, centred on `min_frequency * 2 ** (r / bins_per_octave)` Hz and its octaves,
    on bin 0. The peak is refined to the centroid of itself and its two neighbours (circularly), which places a tonic
    that falls between two bins.
    """
    probabilities = probabilities.double()
    peak = int(probabilities.argmax())
    neighbours = [(peak + offset) % bins_per_octave for offset in (-1, 0, 1)]
    weights = probabilities[neighbours]
    position = peak + float((weights * torch.tensor([-1.0, 0.0, 1.0], dtype=weights.dtype)).sum() / weights.sum())
    hz = min_frequency * 2.0 ** ((position % bins_per_octave) / bins_per_octave)
    midi = 69.0 + 12.0 * np.log2(hz / 440.0)
    nearest = round(midi)
    return Tonic(
        hz=hz,
        note=f"{NOTE_NAMES[nearest % 12]}{nearest // 12 - 1}",
        cents=round(100.0 * (midi - nearest)),
        probability=float(probabilities[peak]),
    )


class _WindowRecorder:
    """Records, for each window the pipeline classifies, its level and (if the model has one) the tonic distribution.

    The level is read where the pipeline hands the raw windows (mono, at the model's rate) to the feature extractor,
    before it scales each window to unit variance. The tonic comes from a forward hook on the log-frequency frontend's
    `tonic_alignment` module, which returns the distribution over pitch-class rotations that the model uses and does
    not output.
    """

    def __init__(self, classifier: SamAudioClassificationPipeline):
        self.classifier = classifier
        self.feature_extractor = classifier.feature_extractor
        config = classifier.model.config
        self.tonic_module = None
        if getattr(config, "frontend", None) == "log_frequency" and getattr(config, "tonic_alignment", False):
            self.tonic_module = next(
                (module for name, module in classifier.model.named_modules() if name.endswith("tonic_alignment")),
                None,
            )
        self.levels: list[float] = []
        self.tonic_probabilities: list[torch.Tensor] = []

    def __getattr__(self, name: str) -> Any:
        # Everything but the call is the wrapped feature extractor's (its sampling rate, padding value...).
        return getattr(self.__dict__["feature_extractor"], name)

    def __call__(self, raw_speech: Any, *args: Any, **kwargs: Any) -> Any:
        clips = raw_speech if isinstance(raw_speech, (list, tuple)) else [raw_speech]
        self.levels += [_level_dbfs(np.asarray(clip)) for clip in clips]
        return self.feature_extractor(raw_speech, *args, **kwargs)

    def _record_tonic(self, module: torch.nn.Module, inputs: Any, outputs: tuple[torch.Tensor, ...]) -> None:
        self.tonic_probabilities.append(outputs[1].detach().float().cpu())  # (windows, rotations)

    @contextmanager
    def recording(self) -> Iterator["_WindowRecorder"]:
        """Record the windows of the pipeline calls made inside the block."""
        self.levels, self.tonic_probabilities = [], []
        hook = self.tonic_module.register_forward_hook(self._record_tonic) if self.tonic_module is not None else None
        self.classifier.feature_extractor = self
        try:
            yield self
        finally:
            self.classifier.feature_extractor = self.feature_extractor
            if hook is not None:
                hook.remove()


class RagaDemo:
    """The demo apart from the page: classify a recording, find its tonic, draw what the model heard.

    Args:
        classifier (`SamAudioClassificationPipeline`): the loaded model, e.g. from
            `sam_audio_raga.predict.load_classifier`.
        window_seconds (`float`, *optional*, defaults to `DEFAULT_WINDOW_SECONDS`): length of the windows.
    """

    def __init__(self, classifier: SamAudioClassificationPipeline, window_seconds: float = DEFAULT_WINDOW_SECONDS):
        self.classifier = classifier
        self.window_seconds = window_seconds
        self.recorder = _WindowRecorder(classifier)
        # The recorder swaps the pipeline's feature extractor and hooks the model for the length of one call.
        self.lock = threading.Lock()

    @property
    def labels(self) -> list[str]:
        """The ragas the model knows, in label order."""
        id2label = self.classifier.model.config.id2label
        return [id2label[index] for index in range(len(id2label))]

    def analyse(self, audio: str | Path | None) -> Analysis:
        """Classify the recording at `audio` window by window; `DemoInputError` says what cannot be classified."""
        if audio is None:
            raise DemoInputError("Upload a recording or record one with the microphone first.")
        audio = str(audio)
        name = Path(audio).name
        with self.lock, self.recorder.recording() as recorder:
            try:
                result = self.classifier(
                    audio,
                    top_k=len(self.labels),
                    return_timeline=True,
                    window_seconds=self.window_seconds,
                    progress_bar=True,
                )
            except (ValueError, FileNotFoundError) as error:
                # The pipeline names the file by its path; on a server that is a temporary folder.
                message = " ".join(str(error).replace(audio, name).split()).rstrip(".")
                raise DemoInputError(
                    f"{message}. Upload an audio file, or a video with a sound track, in a format FFmpeg reads."
                ) from None
            levels, tonic_probabilities = recorder.levels, recorder.tonic_probabilities
        duration = result["duration"]
        if duration < MIN_SECONDS:
            raise DemoInputError(
                f"{name} lasts {duration:.1f} s. The model needs at least {MIN_SECONDS:g} s of music to tell ragas "
                "apart; upload a longer recording."
            )
        silent = [level < SILENCE_DBFS for level in levels]
        if silent and all(silent):
            raise DemoInputError(
                f"{name} is silent (its level stays below {SILENCE_DBFS:g} dBFS): there is no music to classify."
            )
        analysis = Analysis(audio=audio, labels=result["labels"], timeline=result["timeline"], duration=duration)
        if any(silent):
            analysis.notes.append(
                f"{sum(silent)} of {len(silent)} windows are silent (below {SILENCE_DBFS:g} dBFS); they still count "
                "in the answer."
            )
        if tonic_probabilities:
            config = self.classifier.model.config
            # Silent windows have no tonic; the others each count once.
            windows = torch.cat(tonic_probabilities)
            heard = windows[~torch.tensor(silent)] if len(silent) == windows.shape[0] else windows
            analysis.tonic = tonic_from_probabilities(heard.mean(dim=0), config.min_frequency, config.bins_per_octave)
        return analysis

    def timeline_figure(self, analysis: Analysis) -> Figure | None:
        """The raga timeline, or `None` for a recording of one window."""
        if len(analysis.timeline) < 2:
            return None
        winner = analysis.labels[0]
        return plot_timeline(
            {"labels": analysis.labels[:TOP_K], "timeline": analysis.timeline},
            title=f"{Path(analysis.audio).name}: {winner['label']} ({winner['score']:.0%})",
        )

    def attention_figure(self, analysis: Analysis) -> Figure:
        """Segment-token attention over the window in which the winning raga scored highest."""
        window = analysis.best_window
        rate = self.recorder.feature_extractor.sampling_rate
        clip = read_audio_segment(analysis.audio, window["start"], window["end"], sampling_rate=rate)
        winner = analysis.labels[0]["label"]
        with self.lock:
            return plot_segment_attention(
                self.classifier.model,
                self.recorder.feature_extractor,
                clip,
                rate,
                time_offset=window["start"],
                title=(
                    f"{format_time(window['start'])}-{format_time(window['end'])}: "
                    f"{winner} {window['scores'][winner]:.0%}"
                ),
            )

    def details(self, analysis: Analysis) -> str:
        """Markdown: the tonic, the length and windows, and any note about the recording."""
        lines = [
            f"**Recording:** {format_time(analysis.duration)}, {len(analysis.timeline)} window"
            f"{'s' if len(analysis.timeline) > 1 else ''} of up to {self.window_seconds:g} s."
        ]
        if analysis.tonic is not None:
            lines.append(f"**Tonic (Sa) the model aligned to:** {analysis.tonic.describe()}.")
        else:
            lines.append("**Tonic:** this model does not estimate one (it needs the log-frequency frontend).")
        lines += [f"**Note:** {note}" for note in analysis.notes]
        return "\n\n".join(lines)


def example_cache_dir() -> Path:
    """Where the example recordings are rendered: `$SAM_AUDIO_CACHE/app_examples`, else under `~/.cache/sam_audio`."""
    root = os.environ.get("SAM_AUDIO_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "sam_audio") / "app_examples"


def render_examples(directory: str | Path | None = None) -> list[tuple[str, Path]]:
    """`(label, path)` of each example recording, rendering the missing ones from the synthetic corpus (FLAC)."""
    directory = Path(directory) if directory is not None else example_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    examples = []
    for label, seed, timbre, tonic_hz, parts in EXAMPLES:
        name = "-".join(raga.lower() for raga, _ in parts)
        path = directory / f"{name}-{timbre}-{seed}-v{GENERATOR_VERSION}.flac"
        if not path.exists():
            rng = np.random.default_rng(seed)
            style = sample_recording_style(rng)
            audio = np.concatenate(
                [
                    generate_clip(raga, tonic_hz, timbre, seconds=seconds, rng=rng, style=style)
                    for raga, seconds in parts
                ]
            )
            # Written under another name first, so that a server starting beside this one never reads half a file.
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
            soundfile.write(partial, audio, EXAMPLE_SAMPLING_RATE, format="FLAC")
            os.replace(partial, path)
        examples.append((label, path))
    return examples


def _guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with every failure turned into a readable `gr.Error`, so the page never shows a stack trace."""

    @functools.wraps(function)  # gradio reads the signature to pass a `gr.Progress`
    def call(*args: Any) -> Any:
        try:
            return function(*args)
        except gr.Error:
            raise
        except DemoInputError as error:
            raise gr.Error(str(error), print_exception=False) from None
        except Exception as error:
            logger.exception("Classification failed")
            raise gr.Error(f"Could not classify this recording: {first_line(error)}", print_exception=False) from None

    return call


def build_demo(demo: RagaDemo, examples: list[tuple[str, Path]] | None = None) -> gr.Blocks:
    """The page. Its first API endpoint, `/classify`, takes an audio file and returns the ragas with their scores."""

    def classify(audio: str | None, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[dict, Analysis]:
        progress(0.0, desc="Decoding and classifying the windows")
        analysis = demo.analyse(audio)
        for note in analysis.notes:
            gr.Warning(note)
        return analysis.scores, analysis

    def draw(analysis: Analysis, progress: gr.Progress = gr.Progress()) -> tuple[Any, Figure, str]:
        progress(0.0, desc="Drawing what the model heard")
        timeline = demo.timeline_figure(analysis)
        return (
            gr.Plot(value=timeline, visible=timeline is not None),
            demo.attention_figure(analysis),
            demo.details(analysis),
        )

    with gr.Blocks(title="SAM-Audio raga classifier", analytics_enabled=False) as blocks:
        gr.Markdown(DESCRIPTION.format(window=demo.window_seconds))
        analysis = gr.State()
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(
                    sources=["upload", "microphone"], type="filepath", label="Recording", elem_id="recording"
                )
                button = gr.Button("Classify", variant="primary", elem_id="classify-button")
                # Filled once the events are registered, so that `/classify` is the first of them.
                examples_area = gr.Column()
            with gr.Column():
                ragas = gr.Label(num_top_classes=TOP_K, label="Ragas", elem_id="ragas")
                details = gr.Markdown(elem_id="details")
        timeline = gr.Plot(label="Raga timeline", format="png", visible=False, elem_id="timeline")
        attention = gr.Plot(label="Segment attention of the most telling window", format="png", elem_id="attention")

        # Registered first, so that it is the first API endpoint.
        event = button.click(_guarded(classify), inputs=audio, outputs=[ragas, analysis], api_name="classify")
        event.success(
            _guarded(draw), inputs=analysis, outputs=[timeline, attention, details], api_visibility="private"
        )
        # A new recording clears the answer about the previous one.
        audio.change(
            lambda: (None, None, gr.Plot(value=None, visible=False), None, ""),
            outputs=[ragas, analysis, timeline, attention, details],
            api_visibility="private",
            queue=False,
        )
        if examples:
            with examples_area:
                gr.Examples(
                    examples=[[str(path)] for _, path in examples],
                    example_labels=[label for label, _ in examples],
                    inputs=audio,
                    label="Examples (rendered by the synthetic corpus)",
                    cache_examples=False,
                )
    return blocks


def _boolean(value: str) -> bool:
    """`true`/`false` (also yes/no, 1/0) for `--share`."""
    lowered = value.lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    """The `app.py` argument parser."""
    parser = argparse.ArgumentParser(prog=PROG, description="Web demo of a SAM-Audio raga classifier.")
    parser.add_argument(
        "--model",
        default=os.environ.get(MODEL_ENV),
        help=f"Model folder or Hub id (default: ${MODEL_ENV}, else outputs/demo when present).",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT", DEFAULT_PORT)),
        help=f"Port to serve on (default: $GRADIO_SERVER_PORT, else {DEFAULT_PORT}).",
    )
    parser.add_argument(
        "--share", type=_boolean, default=False, metavar="true|false", help="Also open a public gradio.live link."
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), help="Default: cuda when available, else cpu.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Load the model and serve the page until interrupted; returns the exit status (2: no model)."""
    args = build_parser().parse_args(argv)
    model = args.model
    if model is None:
        if not (DEFAULT_MODEL_DIR / "config.json").is_file():
            print(
                f"{PROG}: error: no model. Train the demo model with `make demo` (it writes {DEFAULT_MODEL_DIR}), "
                f"or pass --model DIR_OR_HUB_ID (or set {MODEL_ENV}).",
                file=sys.stderr,
            )
            return 2
        model = str(DEFAULT_MODEL_DIR)
    try:
        classifier = load_classifier(model, args.device)
    except Exception as error:  # any failure to load means the same to the user: no model
        print(f"{PROG}: error: could not load model {model!r}: {first_line(error)}", file=sys.stderr)
        return 2
    blocks = build_demo(RagaDemo(classifier), render_examples())
    blocks.queue(default_concurrency_limit=1).launch(server_port=args.port, share=args.share)
    return 0


__all__ = [
    "Analysis",
    "DemoInputError",
    "RagaDemo",
    "Tonic",
    "build_demo",
    "build_parser",
    "main",
    "render_examples",
    "tonic_from_probabilities",
]


if __name__ == "__main__":
    sys.exit(main())
