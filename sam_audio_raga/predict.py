r"""Classify the raga of recordings of any length from the command line: `sam-audio-predict`.

Usage:

    sam-audio-predict AUDIO... --model DIR_OR_ID [--top-k K] [--json] [--timeline PNG] [--attention PNG]
                      [--window-seconds S] [--hop-seconds S] [--batch-size N] [--device cpu|cuda]
                      [--no-progress] [--trust-remote-code]
    sam-audio-predict FOLDER_OR_AUDIO... --model DIR_OR_ID --output results.jsonl [--workers N] [...]

(or `python -m sam_audio_raga.predict ...`). Each file is decoded in pieces and classified in windows by
`SamAudioClassificationPipeline` (see `pipeline_sam_audio`), so whole concerts in any format FFmpeg reads work. A
folder stands for every audio file under it (`AUDIO_EXTENSIONS`, searched recursively, hidden files left out).

Folders of any size: `--output results.jsonl` appends one JSON line per file as soon as it is classified: a result
(`file`, `duration`, `labels`, `timeline`, as in the `results` of the schema below) or `{"file": ..., "error": ...}`
for a file that could not be. `--workers` processes decode and resample the files (up to
`WORKER_DECODE_SECONDS` each; longer recordings are decoded in pieces by the main process) while the model runs in
the main process. Files that already have a line in the output, results and errors alike, are skipped, so a run
stopped half-way resumes where it stopped when started again (a last line cut short is removed first). The rate in
files per second goes to stderr at the end.

Output: by default a table per file (raga, score) on stdout. With `--json`, one JSON document on stdout that validates
against `RESULT_JSON_SCHEMA` (below). `--timeline out.png` draws the raga probabilities over time and `--attention
out.png` the segment-token attention of one window: the window in which the overall winning raga scored highest. With
one input file the picture is written to exactly that path; with several, one picture per file is written next to it,
named `<stem>-<audio file stem><suffix>` (`out-concert1.png`, `out-concert2.png`), with `-2`, `-3`, ... appended when
two inputs share a stem.

The model is loaded with the SAM-Audio classes installed with this package (no code from the model folder runs);
`--trust-remote-code` runs the code stored in the folder or Hub repository instead.

Exit status: 0 when every file was classified; 1 when some file could not be (each such file gets one line on
stderr, `sam-audio-predict: error: <file>: <reason>`, and the other files are still processed); 2 when the model
cannot be loaded (one line on stderr) or the arguments are invalid (a folder without audio files among them).

JSON schema of `--json` output (`RESULT_JSON_SCHEMA`, draft 2020-12):

```json
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "sam-audio-predict results",
  "type": "object",
  "required": ["model", "results", "errors"],
  "additionalProperties": false,
  "properties": {
    "model": {"type": "string"},
    "results": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["file", "duration", "labels", "timeline"],
        "additionalProperties": false,
        "properties": {
          "file": {"type": "string"},
          "duration": {"type": "number", "minimum": 0},
          "labels": {
            "type": "array",
            "minItems": 1,
            "items": {
              "type": "object",
              "required": ["label", "score"],
              "additionalProperties": false,
              "properties": {
                "label": {"type": "string"},
                "score": {"type": "number", "minimum": 0, "maximum": 1}
              }
            }
          },
          "timeline": {
            "type": "array",
            "minItems": 1,
            "items": {
              "type": "object",
              "required": ["start", "end", "scores"],
              "additionalProperties": false,
              "properties": {
                "start": {"type": "number", "minimum": 0},
                "end": {"type": "number", "minimum": 0},
                "scores": {
                  "type": "object",
                  "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}
                }
              }
            }
          },
          "timeline_png": {"type": "string"},
          "attention_png": {"type": "string"}
        }
      }
    },
    "errors": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["file", "error"],
        "additionalProperties": false,
        "properties": {
          "file": {"type": "string"},
          "error": {"type": "string"}
        }
      }
    }
  }
}
```

`labels` is the overall ranking (best first, `--top-k` entries), `timeline` has one entry per window with times in
seconds and the probabilities of every raga, `duration` is the length of the decoded audio in seconds.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from transformers import pipeline
from transformers.utils import logging

from audio_io_sam_audio import read_audio_segment
from modeling_sam_audio import register_auto_classes
from pipeline_sam_audio import DEFAULT_BATCH_SIZE, DEFAULT_WINDOW_SECONDS, TASK, SamAudioClassificationPipeline

from .data import AUDIO_EXTENSIONS, find_audio_files
from .visualization import plot_segment_attention, plot_timeline


logger = logging.get_logger(__name__)

PROG = "sam-audio-predict"
# A decode worker hands over at most this much audio (38 MB at 16 kHz); longer files are decoded in pieces by the main
# process instead, so memory stays bounded whatever the recordings' length.
WORKER_DECODE_SECONDS = 600.0

RESULT_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "sam-audio-predict results",
    "type": "object",
    "required": ["model", "results", "errors"],
    "additionalProperties": False,
    "properties": {
        "model": {"type": "string"},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["file", "duration", "labels", "timeline"],
                "additionalProperties": False,
                "properties": {
                    "file": {"type": "string"},
                    "duration": {"type": "number", "minimum": 0},
                    "labels": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["label", "score"],
                            "additionalProperties": False,
                            "properties": {
                                "label": {"type": "string"},
                                "score": {"type": "number", "minimum": 0, "maximum": 1},
                            },
                        },
                    },
                    "timeline": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["start", "end", "scores"],
                            "additionalProperties": False,
                            "properties": {
                                "start": {"type": "number", "minimum": 0},
                                "end": {"type": "number", "minimum": 0},
                                "scores": {
                                    "type": "object",
                                    "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
                                },
                            },
                        },
                    },
                    "timeline_png": {"type": "string"},
                    "attention_png": {"type": "string"},
                },
            },
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["file", "error"],
                "additionalProperties": False,
                "properties": {"file": {"type": "string"}, "error": {"type": "string"}},
            },
        },
    },
}


def build_parser() -> argparse.ArgumentParser:
    """The `sam-audio-predict` argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Classify the raga of audio recordings of any length, window by window.",
        epilog="Exit status: 0 all files classified, 1 some file failed, 2 model not loadable or bad arguments.",
    )
    parser.add_argument(
        "audio",
        nargs="+",
        metavar="AUDIO",
        help="Audio files (wav, flac, mp3, ...: what FFmpeg reads), or folders: every audio file under them.",
    )
    parser.add_argument("--model", required=True, help="Model folder or Hugging Face Hub id.")
    parser.add_argument("--top-k", type=int, default=5, help="Number of ragas to report per file (default: 5).")
    parser.add_argument("--json", action="store_true", help="Print one JSON document (see RESULT_JSON_SCHEMA).")
    parser.add_argument("--timeline", type=Path, metavar="PNG", help="Write the raga timeline picture here.")
    parser.add_argument("--attention", type=Path, metavar="PNG", help="Write a segment-attention picture here.")
    parser.add_argument(
        "--window-seconds",
        type=float,
        default=DEFAULT_WINDOW_SECONDS,
        help=f"Window length in seconds (default: {DEFAULT_WINDOW_SECONDS:g}, the training clip length).",
    )
    parser.add_argument("--hop-seconds", type=float, help="Hop between windows in seconds (default: the window).")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help=f"Windows per forward pass ({DEFAULT_BATCH_SIZE})."
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), help="Where to run the model (default: cuda when available, else cpu)."
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="JSONL",
        help="Append one JSON line per file here as it is classified, skipping files it already has (resume).",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=max(1, min(8, (os.cpu_count() or 2) - 1)),
        help="With --output: processes that decode the files while the model runs (default: CPU cores - 1, "
        "at most 8; 0 decodes in the main process).",
    )
    parser.add_argument("--no-progress", action="store_true", help="Never show progress bars.")
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="Run the model code stored in the model folder or Hub repository instead of the installed classes.",
    )
    return parser


def first_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message (transformers' loading errors run over many lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def load_classifier(
    model: str, device: str | None = None, trust_remote_code: bool = False
) -> SamAudioClassificationPipeline:
    """Load `model` (folder or Hub id) into a `SamAudioClassificationPipeline`, whatever pipeline its folder names."""
    if not Path(model).exists() and (Path(model).is_absolute() or model.startswith(".") or model.count("/") > 1):
        # Not a Hub id either; transformers would complain about the form of a repo id instead.
        raise FileNotFoundError(f"no model folder at {model}")
    if not trust_remote_code:
        register_auto_classes()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return pipeline(
        TASK,
        model=model,
        device=device,
        trust_remote_code=trust_remote_code,
        pipeline_class=SamAudioClassificationPipeline,
    )


def output_paths(template: Path, audio_files: list[str]) -> list[Path]:
    """Picture path for each audio file: `template` itself for one file, else `<stem>-<audio stem><suffix>` beside it.

    Audio files sharing a stem get `-2`, `-3`, ... appended in input order, so no picture overwrites another.
    """
    if len(audio_files) == 1:
        return [template]
    suffix = template.suffix or ".png"
    paths, seen = [], {}
    for audio in audio_files:
        name = f"{template.stem}-{Path(audio).stem}"
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}-{seen[name]}"
        paths.append(template.with_name(name + suffix))
    return paths


def expand_folders(paths: list[str]) -> tuple[list[str], list[str]]:
    """Each folder in `paths` replaced by the audio files under it (recursively, sorted, hidden ones left out); other
    paths kept as they are. Also returns the folders that held no audio file."""
    files, empty = [], []
    for path in paths:
        if not Path(path).is_dir():
            files.append(path)
            continue
        found = [str(file) for file in find_audio_files(Path(path))]
        files.extend(found)
        if not found:
            empty.append(path)
    return files, empty


def _finished_files(output: Path) -> set[str]:
    """Absolute paths of the files that have a line in `output`; a last line cut short (a crash while writing) is
    removed, so that appending starts on a fresh line."""
    done: set[str] = set()
    if not output.is_file():
        return done
    complete = 0
    with output.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            complete += len(line)
            try:
                done.add(os.path.abspath(json.loads(line)["file"]))
            except (ValueError, KeyError, TypeError):
                continue
    if complete < output.stat().st_size:
        with output.open("rb+") as handle:
            handle.truncate(complete)
    return done


def _decode_for_classification(path: str, sampling_rate: int) -> tuple[str, Any, str | None]:
    """In a worker: the file as 16 kHz mono samples, or the path itself for a recording longer than
    `WORKER_DECODE_SECONDS` (the main process then decodes it in pieces), or the one-line reason it failed."""
    try:
        audio = read_audio_segment(path, 0.0, WORKER_DECODE_SECONDS, sampling_rate=sampling_rate)
    except Exception as error:  # reported as this file's error line; the other files go on
        return path, None, first_line(error)
    if audio.shape[0] >= round(WORKER_DECODE_SECONDS * sampling_rate) - 1:
        return path, path, None
    return path, {"raw": audio, "sampling_rate": sampling_rate}, None


class _DecodedFiles(torch.utils.data.Dataset):
    """`_decode_for_classification` of each file, for a `DataLoader` whose workers decode ahead of the model."""

    def __init__(self, files: list[str], sampling_rate: int):
        self.files = files
        self.sampling_rate = sampling_rate

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[str, Any, str | None]:
        return _decode_for_classification(self.files[index], self.sampling_rate)


def _unchanged(item: Any) -> Any:
    return item


def classify_to_jsonl(
    classifier: SamAudioClassificationPipeline,
    files: list[str],
    output: Path,
    workers: int,
    show_progress: bool = False,
    **call_kwargs: Any,
) -> int:
    """Classify `files` into the JSON lines file `output` (see the module docstring); returns the exit status."""
    done = _finished_files(output)
    todo = [path for path in files if os.path.abspath(path) not in done]
    skipped = len(files) - len(todo)
    loader = torch.utils.data.DataLoader(
        _DecodedFiles(todo, classifier.feature_extractor.sampling_rate),
        batch_size=None,
        num_workers=workers if todo else 0,
        collate_fn=_unchanged,
    )
    start, failed = time.perf_counter(), 0
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("a", encoding="utf-8") as handle:
        for path, audio, error in logging.tqdm(loader, total=len(todo), unit="file", disable=not show_progress):
            if error is None:
                try:
                    line = {"file": path, **classifier(audio, return_timeline=True, **call_kwargs)}
                except Exception as classify_error:  # one bad file must not stop the others
                    error = first_line(classify_error)
            if error is not None:
                failed += 1
                line = {"file": path, "error": error}
                print(f"{PROG}: error: {path}: {error}", file=sys.stderr)
            handle.write(json.dumps(line) + "\n")
            handle.flush()
    seconds = time.perf_counter() - start
    print(
        f"{PROG}: {len(todo)} files in {seconds:.1f} s ({len(todo) / max(seconds, 1e-9):.2f} files/s), {failed} "
        f"failed, {skipped} already in {output}",
        file=sys.stderr,
    )
    return 1 if failed else 0


def format_time(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` from an hour on."""
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def format_table(entry: dict[str, Any]) -> str:
    """The plain-text report of one classified file."""
    labels = entry["labels"]
    width = max(len("raga"), *(len(item["label"]) for item in labels))
    lines = [
        f"{entry['file']}  ({format_time(entry['duration'])}, {len(entry['timeline'])} windows)",
        f"  {'raga':<{width}}  score",
    ]
    lines += [f"  {item['label']:<{width}}  {item['score']:.4f}" for item in labels]
    for key, name in (("timeline_png", "timeline"), ("attention_png", "attention")):
        if key in entry:
            lines.append(f"  {name}: {entry[key]}")
    return "\n".join(lines)


def _write_attention(classifier: SamAudioClassificationPipeline, audio: str, result: dict, path: Path) -> None:
    """Draw the attention of the window in which the overall winner scored highest."""
    winner = result["labels"][0]["label"]
    window = max(result["timeline"], key=lambda entry: entry["scores"][winner])
    rate = classifier.feature_extractor.sampling_rate
    clip = read_audio_segment(audio, window["start"], window["end"], sampling_rate=rate)
    title = f"{Path(audio).name}, {format_time(window['start'])}-{format_time(window['end'])}: {winner}"
    plot_segment_attention(
        classifier.model,
        classifier.feature_extractor,
        clip,
        rate,
        time_offset=window["start"],
        title=title,
        save_path=path,
    )


def main(argv: list[str] | None = None) -> int:
    """Run `sam-audio-predict`; returns the exit status (0 all classified, 1 some file failed, 2 no model)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.top_k < 1 or args.batch_size < 1 or args.window_seconds <= 0:
        parser.error("--top-k, --batch-size and --window-seconds must be positive")
    if args.hop_seconds is not None and not 0 < args.hop_seconds <= args.window_seconds:
        parser.error("--hop-seconds must be positive and at most --window-seconds")
    if args.output is not None and (args.json or args.timeline or args.attention):
        parser.error("--output writes JSON lines, one file at a time: drop --json, --timeline and --attention")
    if args.workers < 0:
        parser.error("--workers must be 0 or more")
    args.audio, empty = expand_folders(args.audio)
    if empty:
        parser.error(f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) under {', '.join(empty)}")

    show_progress = not args.no_progress and sys.stderr.isatty()
    if not show_progress:
        logging.disable_progress_bar()

    try:
        classifier = load_classifier(args.model, args.device, args.trust_remote_code)
    except Exception as error:  # any failure to load means the same to the user: no model, exit 2
        print(f"{PROG}: error: could not load model {args.model!r}: {first_line(error)}", file=sys.stderr)
        return 2

    if args.output is not None:
        return classify_to_jsonl(
            classifier,
            args.audio,
            args.output,
            args.workers,
            show_progress,
            top_k=args.top_k,
            window_seconds=args.window_seconds,
            hop_seconds=args.hop_seconds,
            batch_size=args.batch_size,
            progress_bar=False,
        )
    timeline_paths = output_paths(args.timeline, args.audio) if args.timeline else [None] * len(args.audio)
    attention_paths = output_paths(args.attention, args.audio) if args.attention else [None] * len(args.audio)
    results, errors = [], []
    for audio, timeline_path, attention_path in zip(args.audio, timeline_paths, attention_paths):
        try:
            result = classifier(
                audio,
                top_k=args.top_k,
                return_timeline=True,
                window_seconds=args.window_seconds,
                hop_seconds=args.hop_seconds,
                batch_size=args.batch_size,
                progress_bar=show_progress,
            )
            entry = {"file": audio, **result}
            if timeline_path is not None:
                plot_timeline(
                    result, title=f"{Path(audio).name}: {result['labels'][0]['label']}", save_path=timeline_path
                )
                entry["timeline_png"] = str(timeline_path)
            if attention_path is not None:
                _write_attention(classifier, audio, result, attention_path)
                entry["attention_png"] = str(attention_path)
        except Exception as error:  # one bad file must not stop the others; report it on one line
            message = first_line(error)
            print(f"{PROG}: error: {audio}: {message}", file=sys.stderr)
            errors.append({"file": audio, "error": message})
            continue
        results.append(entry)
        if not args.json:
            print(format_table(entry), flush=True)

    if args.json:
        print(json.dumps({"model": args.model, "results": results, "errors": errors}, indent=2))
    return 1 if errors else 0


__all__ = [
    "AUDIO_EXTENSIONS",
    "RESULT_JSON_SCHEMA",
    "build_parser",
    "classify_to_jsonl",
    "expand_folders",
    "first_line",
    "format_table",
    "format_time",
    "load_classifier",
    "main",
    "output_paths",
]


if __name__ == "__main__":
    sys.exit(main())
