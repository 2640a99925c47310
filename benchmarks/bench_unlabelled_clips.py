"""Pretraining on a folder of unlabelled clips, then fine-tuning on 5 labelled clips per raga: test accuracy from
scratch, after pretraining with full fine-tuning, and with LoRA, each through the plain run-script commands.

    python benchmarks/bench_unlabelled_clips.py --work-dir DIR --json unlabelled_clips.json
    python benchmarks/bench_unlabelled_clips.py --work-dir DIR --seeds 0                     # in parts (DIR is reused)
    python benchmarks/bench_unlabelled_clips.py --quick --work-dir /tmp/bench-clips-quick    # smoke test
    python benchmarks/bench_unlabelled_clips.py --work-dir DIR --pretrain-args "--view_noise_probability 0"

Where `bench_label_efficiency.py` holds whole recordings, this benchmark holds what a collection of separate clips
offers: no recording a clip came from, no validation set, and the commands exactly as a user types them:

    python run_pretraining.py --config pretrain.yaml --dataset_name POOL --output_dir P --max_steps 1500
    python run_raga_classification.py --config config.yaml --dataset_name LABELLED [--model_name_or_path P
        [--use_lora true]]

Corpus: a second corpus of the synthetic generator, hard variant, made with another seed (23) and other sizes than
the accuracy benchmark's: 8 ragas x 20 recordings x 5 clips x 20 s. For each seed `s` (default 0 1 2), per raga in
an order fixed by `s`: 3 recordings are the test side (15 clips; never heard by pretraining or fine-tuning); of the
other 17, 5 give one labelled clip each, and every other clip of those 17 goes to the pool (80 per raga).

- **Pool**: 640 clips written as single FLAC files under shuffled names, with no labels and no recording ids.
- **Labelled set**: 40 clips saved with `save_to_disk` as a `train` split with the columns `audio` and `raga` only,
  so the run script makes its own 90/10 validation split.
- **Score**: top-1 accuracy on the 120 test clips through `pipeline("audio-classification", ...)`, mean and sample sd
  over seeds, beside the classical baseline of `bench_accuracy.py` fitted on the 40 labelled clips; and, as a
  diagnostic, the accuracy of each of the model's two classifiers alone (segment classifier, pitch-class head).
"""

import argparse
import hashlib
import json
import math
import os
import shlex
import tempfile
from pathlib import Path

import datasets
import numpy as np
from bench_accuracy import (
    accuracy,
    classical_baseline,
    clip_audio,
    corpus_features,
    mean_sd,
    run_and_score,
)
from bench_label_efficiency import METHODS, pretrain, scored_row

from sam_audio_raga.synthetic import SyntheticRagaConfig, config_fingerprint, load_synthetic_dataset


CORPUS = {"recordings_per_raga": 20, "clips_per_recording": 5, "clip_seconds": 20.0, "seed": 23}
QUICK_CORPUS = {"recordings_per_raga": 5, "clips_per_recording": 2, "clip_seconds": 6.0, "seed": 23}
TEST_RECORDINGS_PER_RAGA = 3
LABELLED_CLIPS_PER_RAGA = 5


def split_clips(ragas: list[str], recordings: list[str], seed: int, labelled_per_raga: int) -> dict[str, list[int]]:
    """Row indices of the `test`, `labelled` and `pool` sides for `seed` (see the module docstring)."""
    rows_of: dict[str, dict[str, list[int]]] = {}
    for row, (raga, recording) in enumerate(zip(ragas, recordings)):
        rows_of.setdefault(raga, {}).setdefault(recording, []).append(row)
    sides: dict[str, list[int]] = {"test": [], "labelled": [], "pool": []}
    for raga_index, raga in enumerate(sorted(rows_of)):
        names = sorted(rows_of[raga])
        rng = np.random.default_rng([seed, 5, raga_index])
        order = [names[i] for i in rng.permutation(len(names))]
        for name in order[:TEST_RECORDINGS_PER_RAGA]:
            sides["test"] += rows_of[raga][name]
        rest = order[TEST_RECORDINGS_PER_RAGA:]
        if len(rest) < labelled_per_raga:
            raise ValueError(f"{raga} has {len(names)} recordings, too few for the test side and the labelled clips")
        for position, name in enumerate(rest):
            clips = rows_of[raga][name]
            labelled = int(rng.integers(len(clips))) if position < labelled_per_raga else None
            sides["labelled"] += [row for i, row in enumerate(clips) if i == labelled]
            sides["pool"] += [row for i, row in enumerate(clips) if i != labelled]
    return {side: sorted(rows) for side, rows in sides.items()}


def write_clip_pool(corpus: datasets.Dataset, rows: list[int], folder: Path, seed: int) -> None:
    """One FLAC file per clip, under names that say nothing of the raga or the recording."""
    import soundfile

    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    sampling_rate = corpus.features["audio"].sampling_rate or 16000
    for number, row in enumerate(np.random.default_rng(seed).permutation(rows)):
        soundfile.write(partial / f"clip-{number:04d}.flac", clip_audio(corpus, row), sampling_rate)
    partial.rename(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, help="Folder for the corpus, models and results (reused).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--pretrain-steps", type=int, default=1500)
    parser.add_argument("--pretrain-args", default="", help="More run_pretraining.py arguments, e.g. '--views 1'.")
    parser.add_argument("--epochs", type=float, default=None, help="Fine-tuning epochs (default: config.yaml's).")
    parser.add_argument("--quick", action="store_true", help="Smoke run: a tiny corpus, 20 pretraining steps.")
    parser.add_argument("--json", type=Path, help="Also write every result to this file.")
    args = parser.parse_args()
    labelled_per_raga = 2 if args.quick else LABELLED_CLIPS_PER_RAGA
    if args.quick:
        args.pretrain_steps, args.epochs = 20, args.epochs or 2
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="bench_unlabelled_clips_"))
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}

    config = SyntheticRagaConfig(**(QUICK_CORPUS if args.quick else CORPUS), variant="hard")
    corpus = load_synthetic_dataset(config, cache_dir=work_dir / "corpus")
    corpus_dir = work_dir / f"clips-{config_fingerprint(config)}"
    ragas, recordings = corpus["raga"], corpus["recording_id"]
    raga_names = sorted(set(ragas))
    targets = np.array([raga_names.index(raga) for raga in ragas])
    features = corpus_features(corpus, corpus_dir / "baseline_features.npy")

    pretrain_args = shlex.split(args.pretrain_args)
    suffix = "-" + hashlib.sha1(args.pretrain_args.encode()).hexdigest()[:8] if pretrain_args else ""
    rows = []
    sampling_rate = corpus.features["audio"].sampling_rate or 16000
    for seed in args.seeds:
        sides = split_clips(ragas, recordings, seed, labelled_per_raga)
        seed_dir = corpus_dir / f"seed{seed}"
        pool_dir, labelled_dir = seed_dir / "unlabelled_clips", seed_dir / "labelled"
        if not pool_dir.exists():
            write_clip_pool(corpus, sides["pool"], pool_dir, seed)
        if not labelled_dir.exists():
            labelled = corpus.select(sides["labelled"]).select_columns(["audio", "raga"])
            datasets.DatasetDict({"train": labelled}).save_to_disk(labelled_dir)
        if any(method != "scratch" for method in args.methods):
            print(f"seed {seed}: pretraining on the {len(sides['pool'])} unlabelled clips in {pool_dir}", flush=True)
            pretrain(pool_dir, seed_dir / f"pretraining{suffix}", seed, args.pretrain_steps, pretrain_args, env)
        truth = targets[sides["test"]]
        test_clips = [clip_audio(corpus, row) for row in sides["test"]]
        test_labels = [ragas[row] for row in sides["test"]]
        baseline = classical_baseline(features, targets, sides["labelled"], sides["test"])
        rows.append({"seed": seed, "method": "classical baseline", "accuracy": accuracy(truth, baseline)})
        for method in args.methods:
            extra = [] if method == "scratch" else ["--model_name_or_path", str(seed_dir / f"pretraining{suffix}")]
            extra += ["--use_lora", "true"] if method == "pretrained + LoRA" else []
            run_dir = seed_dir / (method.replace(" + ", "-") + suffix * (method != "scratch"))
            results = run_and_score(corpus, labelled_dir, run_dir, sides["test"], extra, seed, args.epochs, env)
            scores = scored_row(method, run_dir, results["predictions"], test_clips, test_labels, sampling_rate)
            row = {"seed": seed, **scores}
            rows.append(row)
            print(f"seed {seed}, {method}: {row['accuracy']:.3f}", flush=True)

    methods = ["classical baseline", *args.methods]
    print("\n| " + " | ".join(methods) + " |")
    print("|---" * len(methods) + "|")
    cells = []
    for method in methods:
        mean, sd = mean_sd([row["accuracy"] for row in rows if row["method"] == method])
        cells.append(f"{mean:.3f} ± {sd:.3f}" if not math.isnan(sd) else f"{mean:.3f}")
    print("| " + " | ".join(cells) + " |")
    for method in methods:
        print(f"{method}, per seed: " + " / ".join(f"{r['accuracy']:.3f}" for r in rows if r["method"] == method))
    for method in args.methods:
        chosen = [row for row in rows if row["method"] == method and "segment_accuracy" in row]
        if chosen:
            print(
                f"{method}, each classifier alone: segment classifier "
                f"{np.mean([row['segment_accuracy'] for row in chosen]):.3f}, pitch-class head "
                f"{np.mean([row['pitch_class_accuracy'] for row in chosen]):.3f}"
            )
    shares = [row["trainable_percent"] for row in rows if row.get("trainable_percent") is not None]
    if shares:
        print(f"LoRA trains {shares[0]:.2f}% of the parameters.")
    print(f"Seeds {args.seeds}; {len(sides['labelled'])} labelled clips, {len(sides['pool'])} unlabelled clips and "
          f"{len(sides['test'])} test clips per seed.")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "args": {k: str(v) for k, v in vars(args).items()}}, indent=2))


if __name__ == "__main__":
    main()
