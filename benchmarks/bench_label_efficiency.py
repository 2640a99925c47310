"""Label efficiency: test accuracy with 1, 2 and 4 labelled recordings per raga, from scratch and after
self-supervised pretraining on the unlabelled rest of the corpus, with full fine-tuning and with LoRA.

    python benchmarks/bench_label_efficiency.py --work-dir DIR --json label_efficiency.json
    python benchmarks/bench_label_efficiency.py --work-dir DIR --seeds 0 --labelled 1      # in parts (DIR is reused)
    python benchmarks/bench_label_efficiency.py --quick --work-dir /tmp/bench-le-quick       # smoke test

Corpus: the hard variant of the synthetic corpus of `bench_accuracy.py` (8 ragas x 8 recordings x 6 clips x 20 s,
generator seed 11). For each seed `s` (default 0 1 2) the recordings split as in `bench_accuracy.py`'s
`recording` split: 2 test recordings per raga (fold `s`), 1 validation recording per raga, 5 others. Then:

- **Unlabelled pool**: every recording that is not a test recording (6 per raga), written as a folder of audio
  files, one per recording (its clips joined), with no labels. `run_pretraining.py --config pretrain.yaml
  --dataset_name FOLDER` trains on it for `--pretrain-steps` steps (1500, as `pretrain.yaml`).
- **Labelled set** of size k (`--labelled`, default 1 2 4): the first k of the 5 training recordings of each raga in
  a seeded order. The validation recording picks the best epoch for every method alike; it is never trained on.
- **Methods**: `scratch` (`run_raga_classification.py --config config.yaml`), `pretrained` (the same with
  `--model_name_or_path` the pretrained folder), `pretrained + LoRA` (also `--use_lora true`, and
  `--lora_learning_rate` when `--lora-lr` is given), and the classical baseline of `bench_accuracy.py` on the same
  labelled clips.
- **Score**: top-1 accuracy on the test recordings (never seen by pretraining or fine-tuning) through
  `pipeline("audio-classification", model=DIR, trust_remote_code=True)`; mean and sample sd over seeds. Also, as
  a diagnostic, the mean accuracy of each of the model's two classifiers alone (segment classifier, pitch-class head).

Every finished pretraining and run is reused from `--work-dir`, so the benchmark can run in parts.
"""

import argparse
import hashlib
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import datasets
import numpy as np
from bench_accuracy import (
    accuracy,
    classical_baseline,
    classifier_accuracies,
    clip_audio,
    corpus_config,
    corpus_features,
    make_split,
    mean_sd,
    run_and_score,
)

from sam_audio_raga.synthetic import config_fingerprint, load_synthetic_dataset


ROOT = Path(__file__).resolve().parent.parent
VARIANT = "hard"
METHODS = ("scratch", "pretrained", "pretrained + LoRA")


def labelled_recordings(names: list[str], ragas: list[str], train_rows: list[int], k: int, seed: int) -> set[str]:
    """The first `k` training recordings of each raga in an order fixed by the seed and the raga."""
    by_raga: dict[str, list[str]] = {}
    for row in train_rows:
        by_raga.setdefault(ragas[row], [])
        if names[row] not in by_raga[ragas[row]]:
            by_raga[ragas[row]].append(names[row])
    chosen = set()
    for raga_index, raga in enumerate(sorted(by_raga)):
        recordings = sorted(by_raga[raga])
        order = np.random.default_rng([seed, 7, raga_index]).permutation(len(recordings))
        chosen.update(recordings[i] for i in order[:k])
    return chosen


def write_pool(corpus: datasets.Dataset, rows: list[int], folder: Path) -> None:
    """One FLAC file per recording of `rows`, its clips joined in order: unlabelled concert recordings."""
    import soundfile

    names = corpus["recording_id"]
    by_recording: dict[str, list[int]] = {}
    for row in rows:
        by_recording.setdefault(names[row], []).append(row)
    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    for name, members in by_recording.items():
        audio = np.concatenate([clip_audio(corpus, row) for row in sorted(members)])
        soundfile.write(partial / f"{name}.flac", audio, corpus.features["audio"].sampling_rate or 16000)
    partial.rename(folder)


def pretrain(pool_dir: Path, output_dir: Path, seed: int, steps: int, extra: list[str], env: dict) -> None:
    """`run_pretraining.py --config pretrain.yaml` on the unlabelled pool (skipped when it finished before)."""
    if (output_dir / "model.safetensors").is_file():
        return
    command = [
        sys.executable, str(ROOT / "run_pretraining.py"), "--config", str(ROOT / "pretrain.yaml"),
        "--dataset_name", str(pool_dir), "--output_dir", str(output_dir), "--max_steps", str(steps),
        "--seed", str(seed), "--report_to", "none", *extra,
    ]  # fmt: skip
    output_dir.mkdir(parents=True, exist_ok=True)
    log = output_dir / "run.log"
    with open(log, "a", encoding="utf-8") as handle:
        result = subprocess.run(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"pretraining failed (exit {result.returncode}):\n{log.read_text()[-3000:]}")


def trainable_share(run_dir: Path) -> float | None:
    """The share of parameters LoRA trained, from the run's log line."""
    match = re.search(r"LoRA: training [\d,]+ of [\d,]+ parameters \(([\d.]+)%\)", (run_dir / "run.log").read_text())
    return float(match.group(1)) if match else None


def scored_row(
    method: str, run_dir: Path, predictions: list[str], test_clips: list[np.ndarray], test_labels: list[str], rate: int
) -> dict:
    """One method's result: test accuracy of its `pipeline(...)` predictions, each classifier's alone, and for LoRA
    the share of parameters trained."""
    row = {"method": method, "accuracy": accuracy(np.array(test_labels), np.array(predictions))}
    alone = classifier_accuracies(run_dir, test_clips, test_labels, rate)
    row.update({f"{name}_accuracy": value for name, value in alone.items()})
    if method == "pretrained + LoRA":
        row["trainable_percent"] = trainable_share(run_dir)
    return row


def _mean_of(rows: list[dict], key: str) -> str:
    values = [row[key] for row in rows if key in row]
    return f"{np.mean(values):.3f}" if values else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, help="Folder for the corpus, models and results (reused).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labelled", type=int, nargs="+", default=[1, 2, 4], help="Labelled recordings per raga.")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--pretrain-steps", type=int, default=1500)
    parser.add_argument(
        "--lora-lr", type=float, default=None, help="Learning rate of the LoRA runs (default: the run script's)."
    )
    parser.add_argument("--pretrain-args", default="", help="More run_pretraining.py arguments, e.g. '--views 1'.")
    parser.add_argument("--epochs", type=float, default=None, help="Fine-tuning epochs (default: config.yaml's).")
    parser.add_argument("--quick", action="store_true", help="Smoke run: a tiny corpus, 20 pretraining steps.")
    parser.add_argument("--json", type=Path, help="Also write every result to this file.")
    args = parser.parse_args()
    if args.quick:
        args.pretrain_steps, args.epochs = 20, args.epochs or 2
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="bench_label_efficiency_"))
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}

    config = corpus_config(VARIANT, args.quick)
    # The same layout as bench_accuracy.py's, so one work folder serves both.
    corpus = load_synthetic_dataset(config, cache_dir=work_dir / "corpus")
    corpus_dir = work_dir / f"{VARIANT}-{config_fingerprint(config)}"
    names, ragas, tonics = corpus["recording_id"], corpus["raga"], corpus["tonic_hz"]
    raga_names = sorted(set(ragas))
    targets = np.array([raga_names.index(raga) for raga in ragas])
    features = corpus_features(corpus, corpus_dir / "baseline_features.npy")

    rows = []
    sampling_rate = corpus.features["audio"].sampling_rate or 16000
    for seed in args.seeds:
        split = make_split(ragas, names, tonics, "recording", seed)
        test_clips = [clip_audio(corpus, row) for row in split["test"]]
        test_labels = [ragas[row] for row in split["test"]]
        seed_dir = corpus_dir / "label_efficiency" / f"seed{seed}"
        pool_dir = seed_dir / "unlabelled_recordings"
        if not pool_dir.exists():
            write_pool(corpus, split["train"] + split["validation"], pool_dir)
        pretrain_args = shlex.split(args.pretrain_args)
        suffix = "-recordings" + (
            "-" + hashlib.sha1(args.pretrain_args.encode()).hexdigest()[:8] if pretrain_args else ""
        )
        pretrained_dir = seed_dir / f"pretrained{suffix}"
        if any(method != "scratch" for method in args.methods):
            print(f"seed {seed}: pretraining on the {len(os.listdir(pool_dir))} unlabelled recordings in {pool_dir}")
            pretrain(pool_dir, pretrained_dir, seed, args.pretrain_steps, pretrain_args, env)
        for k in args.labelled:
            chosen = labelled_recordings(names, ragas, split["train"], k, seed)
            train_rows = [row for row in split["train"] if names[row] in chosen]
            split_dir = seed_dir / f"k{k}" / "split"
            if not split_dir.exists():
                datasets.DatasetDict(
                    {"train": corpus.select(train_rows), "validation": corpus.select(split["validation"])}
                ).save_to_disk(split_dir)
            truth = targets[split["test"]]
            baseline = classical_baseline(features, targets, train_rows, split["test"])
            rows.append({"seed": seed, "labelled": k, "method": "classical baseline",
                         "accuracy": accuracy(truth, baseline)})  # fmt: skip
            for method in args.methods:
                extra = []
                if method != "scratch":
                    extra += ["--model_name_or_path", str(pretrained_dir)]
                name = method.replace(" + ", "-").replace(" ", "-") + suffix * (method != "scratch")
                if method == "pretrained + LoRA":
                    extra += ["--use_lora", "true"]
                    if args.lora_lr is not None:
                        extra += ["--lora_learning_rate", str(args.lora_lr)]
                    name += f"-lr{args.lora_lr:g}" if args.lora_lr is not None else "-lr-config"
                run_dir = seed_dir / f"k{k}" / name
                results = run_and_score(corpus, split_dir, run_dir, split["test"], extra, seed, args.epochs, env)
                scores = scored_row(method, run_dir, results["predictions"], test_clips, test_labels, sampling_rate)
                row = {"seed": seed, "labelled": k, **scores}
                rows.append(row)
                print(f"seed {seed}, {k} labelled recording(s) per raga, {method}: {row['accuracy']:.3f}", flush=True)

    print("\n| labelled recordings per raga | " + " | ".join(["classical baseline", *args.methods]) + " |")
    print("|---" * (2 + len(args.methods)) + "|")
    for k in args.labelled:
        cells = []
        for method in ["classical baseline", *args.methods]:
            values = [row["accuracy"] for row in rows if row["labelled"] == k and row["method"] == method]
            mean, sd = mean_sd(values)
            cells.append(f"{mean:.3f} ± {sd:.3f}" if not math.isnan(sd) else f"{mean:.3f}")
        print(f"| {k} | " + " | ".join(cells) + " |")
    print("\nEach classifier alone (segment classifier / pitch-class head), mean test accuracy:\n")
    print("| labelled recordings per raga | " + " | ".join(args.methods) + " |")
    print("|---" * (1 + len(args.methods)) + "|")
    for k in args.labelled:
        cells = []
        for method in args.methods:
            chosen = [row for row in rows if row["labelled"] == k and row["method"] == method]
            cells.append(" / ".join(_mean_of(chosen, f"{name}_accuracy") for name in ("segment", "pitch_class")))
        print(f"| {k} | " + " | ".join(cells) + " |")
    shares = [row["trainable_percent"] for row in rows if row.get("trainable_percent") is not None]
    if shares:
        print(f"\nLoRA trains {shares[0]:.2f}% of the parameters.")
    print(f"Seeds {args.seeds}; test: {len(split['test'])} clips of 2 recordings per raga per seed.")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "args": {k: str(v) for k, v in vars(args).items()}}, indent=2))


if __name__ == "__main__":
    main()
