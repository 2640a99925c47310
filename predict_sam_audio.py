r"""Classify the raga of recordings of any length from the command line: `sam-audio-predict`.

Usage:

    sam-audio-predict AUDIO... --model DIR_OR_ID [--top-k K] [--json] [--timeline PNG] [--attention PNG]
                      [--window-seconds S] [--hop-seconds S] [--batch-size N] [--device cpu|cuda]
                      [--no-progress] [--trust-remote-code]

(or `python -m predict_sam_audio ...`). Each file is decoded in pieces and classified in windows by
`SamAudioClassificationPipeline` (see `pipeline_sam_audio`), so whole concerts in any format FFmpeg reads work.

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
cannot be loaded (one line on stderr) or the arguments are invalid.

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
import sys
from pathlib import Path
from typing import Any

import torch
from transformers import pipeline
from transformers.utils import logging

from modeling_sam_audio import register_auto_classes
from pipeline_sam_audio import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_WINDOW_SECONDS,
    TASK,
    SamAudioClassificationPipeline,
    read_audio_segment,
)
from visualization_sam_audio import plot_segment_attention, plot_timeline


logger = logging.get_logger(__name__)

PROG = "sam-audio-predict"

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
        "audio", nargs="+", metavar="AUDIO", help="Audio files (wav, flac, mp3, ...: what FFmpeg reads)."
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
    parser.add_argument("--no-progress", action="store_true", help="Never show progress bars.")
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="Run the model code stored in the model folder or Hub repository instead of the installed classes.",
    )
    return parser


def _one_line(error: BaseException) -> str:
    """The first line of an exception's message (transformers' loading errors run over many lines)."""
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


def _format_time(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` from an hour on."""
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def format_table(entry: dict[str, Any]) -> str:
    """The plain-text report of one classified file."""
    labels = entry["labels"]
    width = max(len("raga"), *(len(item["label"]) for item in labels))
    lines = [
        f"{entry['file']}  ({_format_time(entry['duration'])}, {len(entry['timeline'])} windows)",
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
    title = f"{Path(audio).name}, {_format_time(window['start'])}-{_format_time(window['end'])}: {winner}"
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

    show_progress = not args.no_progress and sys.stderr.isatty()
    if not show_progress:
        logging.disable_progress_bar()

    try:
        classifier = load_classifier(args.model, args.device, args.trust_remote_code)
    except Exception as error:  # any failure to load means the same to the user: no model, exit 2
        print(f"{PROG}: error: could not load model {args.model!r}: {_one_line(error)}", file=sys.stderr)
        return 2

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
            message = _one_line(error)
            print(f"{PROG}: error: {audio}: {message}", file=sys.stderr)
            errors.append({"file": audio, "error": message})
            continue
        results.append(entry)
        if not args.json:
            print(format_table(entry), flush=True)

    if args.json:
        print(json.dumps({"model": args.model, "results": results, "errors": errors}, indent=2))
    return 1 if errors else 0


__all__ = ["RESULT_JSON_SCHEMA", "build_parser", "format_table", "load_classifier", "main", "output_paths"]


if __name__ == "__main__":
    sys.exit(main())
