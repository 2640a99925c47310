"""Test accuracy of SAM-Audio on held-out recordings of the synthetic corpus, over seeds, against a classical baseline.

    python benchmarks/bench_accuracy.py --work-dir DIR --json accuracy.json        # everything (the lead's run)
    python benchmarks/bench_accuracy.py --work-dir DIR --variants standard         # in parts: a rerun on the same
    python benchmarks/bench_accuracy.py --work-dir DIR --only "no segment"         # DIR skips finished runs
    python benchmarks/bench_accuracy.py --quick --variants standard --work-dir /tmp/bench-quick   # smoke test

Corpus, per variant (`standard`, and `hard` with concert conditions): 8 ragas x 8 recordings x 6 clips x 20 s,
generator seed 11. Every figure is measured on a TEST set of whole recordings that the run never sees: it neither
trains on them nor picks its checkpoint with them. For each seed `s` (`--seeds`, default 0 1 2):

- `recording`: per raga, a fixed shuffle of its recordings (seeded by the raga alone) is cut into folds of 2, and
  seed `s` tests on fold `s` (seeds 0-3 are 4 disjoint folds; seed 4 starts a new shuffle). Of the 6 remaining
  recordings of each raga, 1 chosen with seed `s` is the validation recording, the other 5 are trained on.
- `tonic` (cross-tonic): the test set is every recording with a tonic of 200 Hz or more, the same for all seeds.
  The recordings below 200 Hz are trained on, except 1 per raga, chosen with seed `s`, for validation.

The validation side is given explicitly: each (variant, split, seed) is saved as a `DatasetDict({"train",
"validation"})` with `save_to_disk` and passed to `run_raga_classification.py --config config.yaml --dataset_name DIR
--seed s` in a subprocess, which picks its best epoch on that validation split. The saved model (the run's
`output_dir`) is then scored on the test clips through `transformers.pipeline("audio-classification", model=DIR,
trust_remote_code=True)`, one 16 kHz clip per call, exactly as a user would. The run's own best validation
accuracy goes to the JSON only, labelled as validation: it picked the checkpoint, so it flatters.

The classical baseline estimates the tonic from the drone, builds a tonic-normalised pitch-class profile at 20-cent
resolution (mean and spread over time) and fits a logistic regression, on train + validation of the same seed, and
is scored on the same test clips. For the `hard` variant the test accuracy of both is also broken down by condition
(drone tuning, pauses, low SNR, violin shadow, band limiting) and per raga (recall), pooled over seeds.

Experiments: `default` on both variants and both splits; on (hard, recording) the ablations `no segment
competition` (`--segment_competition false`) and `tonic from drone only` (`--tonic_estimation drone`); on both
variants (recording split) `segment logits unweighted` (`--segment_logit_weight 1`: the plain sum of the two
classifiers' logits, not the weight fitted on the validation split), `no pitch-class head` (`--pitch_class_head
false`), `no auxiliary losses` (`--mask_weight 0 --contrastive_weight 0`) and `waveform frontend` (`--frontend
waveform`). `--epochs` defaults to `num_train_epochs` of config.yaml. With `--work-dir`, the corpus, the baseline
features, the splits and every finished run (its model and `test_results.json`) are reused, so the benchmark can
run in parts; a run cut short resumes from its last checkpoint. A failed run is reported and the others go on (exit
status 1 at the end).
"""

import argparse
import dataclasses
import hashlib
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers

from sam_audio_raga.synthetic import SyntheticRagaConfig, config_fingerprint, load_synthetic_dataset


ROOT = Path(__file__).resolve().parent.parent


CORPUS = {"recordings_per_raga": 8, "clips_per_recording": 6, "clip_seconds": 20.0, "seed": 11}
QUICK_CORPUS = {"recordings_per_raga": 4, "clips_per_recording": 1, "clip_seconds": 6.0, "seed": 11}
VARIANTS = ("standard", "hard")
TEST_RECORDINGS_PER_RAGA = 2
VALIDATION_RECORDINGS_PER_RAGA = 1
TONIC_THRESHOLD_HZ = 200.0

# (experiment, variant, split, extra run_raga_classification.py arguments)
EXPERIMENTS = [
    ("default", "standard", "recording", []),
    ("default", "standard", "tonic", []),
    ("default", "hard", "recording", []),
    ("default", "hard", "tonic", []),
    ("no segment competition", "hard", "recording", ["--segment_competition", "false"]),
    ("tonic from drone only", "hard", "recording", ["--tonic_estimation", "drone"]),
    ("segment logits unweighted", "standard", "recording", ["--segment_logit_weight", "1"]),
    ("segment logits unweighted", "hard", "recording", ["--segment_logit_weight", "1"]),
    ("no pitch-class head", "standard", "recording", ["--pitch_class_head", "false"]),
    ("no pitch-class head", "hard", "recording", ["--pitch_class_head", "false"]),
    ("no auxiliary losses", "standard", "recording", ["--mask_weight", "0", "--contrastive_weight", "0"]),
    ("no auxiliary losses", "hard", "recording", ["--mask_weight", "0", "--contrastive_weight", "0"]),
    ("waveform frontend", "standard", "recording", ["--frontend", "waveform"]),
    ("waveform frontend", "hard", "recording", ["--frontend", "waveform"]),
]

# Variants whose test accuracy is also broken down by condition and per raga.
BREAKDOWN_VARIANTS = ("hard",)
# Per-condition breakdown: name -> (metadata column, value -> group). Columns the corpus lacks are left out.
CONDITIONS = {
    "drone_tuning": ("drone_tuning", str),
    "pause_fraction > 0.2": ("pause_fraction", lambda value: bool(value > 0.2)),
    "snr_db < 10": ("snr_db", lambda value: bool(value < 10.0)),
    "violin_shadow": ("violin_shadow", bool),
    "band_limited": ("band_limited", bool),
}


def corpus_config(variant: str, quick: bool) -> SyntheticRagaConfig:
    """The corpus of one variant; a clear exit for a variant the generator does not know."""
    sizes = QUICK_CORPUS if quick else CORPUS
    try:
        return SyntheticRagaConfig(**sizes, variant=variant)
    except ValueError as error:
        raise SystemExit(f"error: sam_audio_raga.synthetic rejects variant {variant!r}: {error}") from None


def _recordings_by_raga(ragas: list[str], recordings: list[str]) -> dict[str, list[str]]:
    by_raga: dict[str, set[str]] = {}
    for raga, recording in zip(ragas, recordings):
        by_raga.setdefault(raga, set()).add(recording)
    return {raga: sorted(by_raga[raga]) for raga in sorted(by_raga)}


def make_split(ragas: list[str], recordings: list[str], tonics: list[float], split: str, seed: int) -> dict:
    """Row indices of the `train`, `validation` and `test` sides of `split` for `seed` (see the module docstring)."""
    tonic_of = dict(zip(recordings, tonics))
    sides: dict[str, set[str]] = {"train": set(), "validation": set(), "test": set()}
    for raga_index, (raga, names) in enumerate(_recordings_by_raga(ragas, recordings).items()):
        if split == "recording":
            if len(names) < TEST_RECORDINGS_PER_RAGA + VALIDATION_RECORDINGS_PER_RAGA + 1:
                raise ValueError(f"{raga} has {len(names)} recordings, too few for a test, validation and train side")
            folds = len(names) // TEST_RECORDINGS_PER_RAGA
            shuffle, fold = divmod(seed, folds)
            order = [names[i] for i in np.random.default_rng([shuffle, raga_index]).permutation(len(names))]
            test = order[fold * TEST_RECORDINGS_PER_RAGA : (fold + 1) * TEST_RECORDINGS_PER_RAGA]
            rest = [name for name in names if name not in test]
        elif split == "tonic":
            test = [name for name in names if tonic_of[name] >= TONIC_THRESHOLD_HZ]
            rest = [name for name in names if tonic_of[name] < TONIC_THRESHOLD_HZ]
            if not rest:
                raise ValueError(f"{raga} has no recording with a tonic below {TONIC_THRESHOLD_HZ:g} Hz to train on")
        else:
            raise ValueError(f"unknown split {split!r}")
        # At least one recording of every raga stays in training.
        count = min(VALIDATION_RECORDINGS_PER_RAGA, len(rest) - 1)
        validation = list(np.random.default_rng([seed, 1, raga_index]).choice(rest, count, replace=False))
        sides["test"].update(test)
        sides["validation"].update(validation)
        sides["train"].update(name for name in rest if name not in validation)
    return {side: [i for i, name in enumerate(recordings) if name in names] for side, names in sides.items()}


BINS_PER_OCTAVE = 60  # 20 cents
N_FFT, HOP, MIN_HZ, OCTAVES = 4096, 1024, 130.0, 5


def _filterbank(sampling_rate: int) -> np.ndarray:
    freqs = np.linspace(0, sampling_rate / 2, N_FFT // 2 + 1)
    centres = MIN_HZ * 2.0 ** (np.arange(OCTAVES * BINS_PER_OCTAVE) / BINS_PER_OCTAVE)
    width = np.maximum(centres * (2 ** (1 / BINS_PER_OCTAVE) - 1), sampling_rate / N_FFT)
    weights = np.clip(1 - np.abs(freqs[:, None] - centres[None, :]) / width[None, :], 0, None)
    return weights / weights.sum(0, keepdims=True)


def pitch_class_features(audio: np.ndarray, filterbank: np.ndarray) -> np.ndarray:
    """Tonic-normalised pitch-class profile (mean and standard deviation over time) of one clip."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT)[::HOP] * np.hanning(N_FFT)
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    bands = np.log(power @ filterbank + 1e-6).reshape(len(frames), OCTAVES, BINS_PER_OCTAVE)
    profile = (bands - bands.mean(axis=2, keepdims=True)).mean(axis=1)  # (frames, pitch classes)
    # Tonic: the rotation where the drone's Sa and Pa (7 semitones up) are loudest together.
    mean = profile.mean(axis=0)
    pa = round(7 * BINS_PER_OCTAVE / 12)
    tonic = int(np.argmax(mean + np.roll(mean, -pa)))
    aligned = np.roll(profile, -tonic, axis=1)
    return np.concatenate([aligned.mean(axis=0), (aligned - aligned.mean(axis=0)).std(axis=0)])


def corpus_features(corpus: datasets.Dataset, path: Path) -> np.ndarray:
    """Baseline features of every clip, computed once per corpus (clip by clip, so the audio is never all in memory)
    and cached in `path`."""
    if path.is_file():
        return np.load(path)
    filterbank = _filterbank(corpus.features["audio"].sampling_rate or 16000)
    features = np.stack([pitch_class_features(clip_audio(corpus, index), filterbank) for index in range(len(corpus))])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, features)
    return features


def classical_baseline(features: np.ndarray, targets: np.ndarray, train: list[int], test: list[int]) -> np.ndarray:
    """Logistic regression on the pitch-class features of `train`; predicted class indices of `test`."""
    num_labels = int(targets.max()) + 1
    x_train, x_test = torch.tensor(features[train]).float(), torch.tensor(features[test]).float()
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    weights = torch.zeros(x_train.shape[1], num_labels, requires_grad=True)
    bias = torch.zeros(num_labels, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], max_iter=500, line_search_fn="strong_wolfe")
    y_train = torch.tensor(targets[train])

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x_train @ weights + bias, y_train) + 1e-3 * weights.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return (x_test @ weights + bias).argmax(-1).numpy()


def accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(truth == predicted)) if len(truth) else math.nan


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over the classes that occur in `truth` or `predicted` of 2 TP / (2 TP + FP + FN), as scikit-learn."""
    scores = []
    for label in np.union1d(truth, predicted):
        true_positives = np.sum((truth == label) & (predicted == label))
        scores.append(2 * true_positives / (np.sum(truth == label) + np.sum(predicted == label)))
    return float(np.mean(scores)) if scores else math.nan


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN for a single value)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), (float(values.std(ddof=1)) if len(values) > 1 else math.nan)


def clip_audio(corpus: datasets.Dataset, index: int) -> np.ndarray:
    return np.asarray(corpus[int(index)]["audio"]["array"], dtype=np.float32)


def train_run(split_dir: Path, output_dir: Path, extra: list[str], seed: int, epochs: float | None, env: dict) -> None:
    """`run_raga_classification.py --config config.yaml` on one split, in a subprocess logging to `run.log`."""
    command = [
        sys.executable,
        str(ROOT / "run_raga_classification.py"),
        "--config",
        str(ROOT / "config.yaml"),
        "--dataset_name",
        str(split_dir),
        "--output_dir",
        str(output_dir),
        "--seed",
        str(seed),
        "--report_to",
        "none",
        "--save_total_limit",
        "1",
        *([] if epochs is None else ["--epochs", str(epochs)]),
        *extra,
    ]
    output_dir.mkdir(parents=True, exist_ok=True)
    log = output_dir / "run.log"
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(command)}\n")
        handle.flush()
        result = subprocess.run(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    if result.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"run failed (exit {result.returncode}, log {log}):\n{tail}")


def pipeline_predictions(model_dir: Path, clips: list[np.ndarray], sampling_rate: int) -> list[str]:
    """Top-1 raga of each clip from `pipeline("audio-classification", model=model_dir, trust_remote_code=True)`."""
    from transformers import pipeline

    device = "cuda" if torch.cuda.is_available() else "cpu"
    classifier = pipeline("audio-classification", model=str(model_dir), trust_remote_code=True, device=device)
    inputs = [{"raw": clip, "sampling_rate": sampling_rate} for clip in clips]
    return [result[0]["label"] for result in classifier(inputs, top_k=1)]


def _args_suffix(extra: list[str]) -> str:
    """Run-folder suffix for arguments beyond the experiment's own (none for the listed experiments)."""
    listed = {tuple(experiment[3]) for experiment in EXPERIMENTS}
    if tuple(extra) in listed:
        return ""
    return "-args-" + hashlib.sha1(" ".join(extra).encode()).hexdigest()[:10]


def run_and_score(
    corpus: datasets.Dataset,
    split_dir: Path,
    output_dir: Path,
    test: list[int],
    extra: list[str],
    seed: int,
    epochs: float | None,
    env: dict,
) -> dict:
    """Train (unless the run finished before) and score on the test rows; the result is kept in test_results.json."""
    results_path = output_dir / "test_results.json"
    if results_path.is_file():
        results = json.loads(results_path.read_text())
        if results["test_rows"] == list(test):
            return results
    started = time.perf_counter()
    if not ((output_dir / "eval_results.json").is_file() and (output_dir / "config.json").is_file()):
        train_run(split_dir, output_dir, extra, seed, epochs, env)
    trained = time.perf_counter()
    validation = json.loads((output_dir / "eval_results.json").read_text())
    clips = [clip_audio(corpus, index) for index in test]
    predictions = pipeline_predictions(output_dir, clips, corpus.features["audio"].sampling_rate or 16000)
    results = {
        "test_rows": list(test),
        "predictions": predictions,
        "validation_accuracy": validation.get("eval_accuracy"),
        "validation_macro_f1": validation.get("eval_macro_f1"),
        "train_minutes": (trained - started) / 60,
        "score_minutes": (time.perf_counter() - trained) / 60,
    }
    results_path.write_text(json.dumps(results, indent=2))
    return results


def tonic_found(model_dir: Path, clips: list[np.ndarray], tonics_hz: list[float], sampling_rate: int) -> list[bool]:
    """Whether the model's tonic estimate (`tonic_probabilities`) lies within one bin of each clip's true tonic.

    The weights are loaded into this checkout's classes, which return the estimate; empty for a model whose frontend
    does not align to a tonic.
    """
    from feature_extraction_sam_audio import SamAudioFeatureExtractor
    from modeling_sam_audio import SamAudioForAudioClassification

    model = SamAudioForAudioClassification.from_pretrained(model_dir).eval()
    config = model.config
    if config.frontend not in ("log_frequency", "waveform") or not config.tonic_alignment:
        return []
    extractor = SamAudioFeatureExtractor.from_pretrained(model_dir)
    bins = config.bins_per_octave
    hits = []
    for clip, tonic_hz in zip(clips, tonics_hz):
        inputs = extractor(clip, sampling_rate=sampling_rate, return_tensors="pt")
        with torch.no_grad():
            found = model(**inputs).tonic_probabilities[0].argmax().item()
        expected = round(bins * math.log2(tonic_hz / config.min_frequency)) % bins
        hits.append(min((found - expected) % bins, (expected - found) % bins) <= 1)
    return hits


def classifier_accuracies(
    model_dir: Path, clips: list[np.ndarray], labels: list[str], sampling_rate: int
) -> dict[str, float]:
    """Test accuracy of each of the model's two classifiers alone, `segment` (the classifier on the segment states)
    and `pitch_class` (the pitch-class head), whose logits `config.segment_logit_weight` combines; empty for a model
    without a pitch-class head. The weights are loaded into this checkout's classes."""
    from feature_extraction_sam_audio import SamAudioFeatureExtractor
    from modeling_sam_audio import SamAudioForAudioClassification

    model = SamAudioForAudioClassification.from_pretrained(model_dir).eval()
    if model.pitch_class_head is None:
        return {}
    extractor = SamAudioFeatureExtractor.from_pretrained(model_dir)
    truth = torch.tensor([model.config.label2id[label] for label in labels])
    segment, pitch_class = [], []
    for start in range(0, len(clips), 16):
        inputs = extractor(clips[start : start + 16], sampling_rate=sampling_rate, return_tensors="pt")
        with torch.no_grad():
            outputs = model(**inputs)
        segment.append(outputs.segment_logits.argmax(-1))
        pitch_class.append(outputs.pitch_class_logits.argmax(-1))
    return {
        "segment": (torch.cat(segment) == truth).float().mean().item(),
        "pitch_class": (torch.cat(pitch_class) == truth).float().mean().item(),
    }


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _counts(values: list[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else f"{min(values)}–{max(values)}"


def breakdown(
    metadata: dict[str, list], runs: list[dict], labels: list[str]
) -> list[dict[str, float | int | str | None]]:
    """Test accuracy of SAM-Audio and the baseline by condition and per raga (recall), pooled over the seeds."""
    rows, truth, sam, baseline = [], [], [], []
    for run in runs:
        rows += run["test_rows"]
        truth += [metadata["raga"][index] for index in run["test_rows"]]
        sam += run["predictions"]
        baseline += run["baseline_predictions"]
    truth, sam, baseline = np.array(truth), np.array(sam), np.array(baseline)
    groups = []
    for name, (column, group_of) in CONDITIONS.items():
        if column not in metadata:
            continue
        keys = np.array([group_of(metadata[column][index]) for index in rows])
        for key in sorted(set(keys.tolist()), key=str):
            selected = keys == key
            groups.append((f"{name} = {key}", selected))
    groups += [(f"recall {raga}", truth == raga) for raga in labels]
    return [
        {
            "condition": condition,
            "test_clips_x_seeds": int(selected.sum()),
            "sam_audio": accuracy(truth[selected], sam[selected]),
            "baseline": accuracy(truth[selected], baseline[selected]),
        }
        for condition, selected in groups
    ]


def evaluate(
    corpus: datasets.Dataset,
    metadata: dict[str, list],
    features: np.ndarray,
    variant_dir: Path,
    experiment: tuple[str, str, str, list[str]],
    seed: int,
    epochs: float | None,
    env: dict,
) -> tuple[dict, dict]:
    """One seed of one experiment: split, run (or reuse) SAM-Audio, fit the baseline; its metrics and predictions."""
    name, variant, split, extra = experiment
    labels = sorted(set(metadata["raga"]))
    targets = np.array([labels.index(raga) for raga in metadata["raga"]])
    sides = make_split(metadata["raga"], metadata["recording_id"], metadata["tonic_hz"], split, seed)
    split_dir = variant_dir / "splits" / f"{split}-seed{seed}"
    if not (split_dir / "dataset_dict.json").is_file():
        datasets.DatasetDict(
            {"train": corpus.select(sides["train"]), "validation": corpus.select(sides["validation"])}
        ).save_to_disk(str(split_dir))
    slug = "".join(c if c.isalnum() else "-" for c in name)
    epochs_name = "config" if epochs is None else f"{epochs:g}"
    run_dir = variant_dir / "runs" / f"{slug}-{variant}-{split}-seed{seed}-epochs-{epochs_name}{_args_suffix(extra)}"
    run = run_and_score(corpus, split_dir, run_dir, sides["test"], extra, seed, epochs, env)
    if "tonic_found" not in run:
        clips = [clip_audio(corpus, index) for index in sides["test"]]
        tonics = [metadata["tonic_hz"][index] for index in sides["test"]]
        run["tonic_found"] = tonic_found(run_dir, clips, tonics, corpus.features["audio"].sampling_rate or 16000)
        (run_dir / "test_results.json").write_text(json.dumps(run, indent=2))

    truth = targets[sides["test"]]
    predicted = np.array([labels.index(raga) for raga in run["predictions"]])
    baseline = classical_baseline(features, targets, sides["train"] + sides["validation"], sides["test"])
    run = {**run, "baseline_predictions": [labels[index] for index in baseline]}
    metrics = {
        "experiment": name,
        "variant": variant,
        "split": split,
        "seed": seed,
        "test_accuracy": accuracy(truth, predicted),
        "test_macro_f1": macro_f1(truth, predicted),
        "baseline_test_accuracy": accuracy(truth, baseline),
        "baseline_test_macro_f1": macro_f1(truth, baseline),
        "validation_accuracy (picked the checkpoint)": run["validation_accuracy"],
        **tonic_metrics(np.array(run["tonic_found"], dtype=bool), truth == predicted),
        "clips": {side: len(rows) for side, rows in sides.items()},
        "train_minutes": run["train_minutes"],
        "run_dir": str(run_dir),
    }
    return metrics, run


def tonic_metrics(found: np.ndarray, correct: np.ndarray) -> dict:
    """Share of test clips whose tonic the model found, and the accuracy on those and on the others."""
    if found.size == 0:
        return {}
    return {
        "tonic_found": float(found.mean()),
        "test_accuracy_right_tonic": float(correct[found].mean()) if found.any() else math.nan,
        "test_accuracy_wrong_tonic": float(correct[~found].mean()) if (~found).any() else math.nan,
    }


def summarise(rows: list[dict]) -> dict:
    """Mean ± sample sd over the seeds of one experiment on one (variant, split)."""
    sam_mean, sam_sd = mean_sd([row["test_accuracy"] for row in rows])
    base_mean, base_sd = mean_sd([row["baseline_test_accuracy"] for row in rows])
    validation = [row["validation_accuracy (picked the checkpoint)"] for row in rows]
    return {
        **{key: rows[0][key] for key in ("experiment", "variant", "split")},
        "seeds": [row["seed"] for row in rows],
        "test_accuracy_mean": sam_mean,
        "test_accuracy_sd": sam_sd,
        "test_accuracy_per_seed": [row["test_accuracy"] for row in rows],
        "test_macro_f1_mean": mean_sd([row["test_macro_f1"] for row in rows])[0],
        "baseline_test_accuracy_mean": base_mean,
        "baseline_test_accuracy_sd": base_sd,
        "baseline_test_accuracy_per_seed": [row["baseline_test_accuracy"] for row in rows],
        "baseline_test_macro_f1_mean": mean_sd([row["baseline_test_macro_f1"] for row in rows])[0],
        "difference_points": 100 * (sam_mean - base_mean),
        "validation_accuracy_mean (picked the checkpoint)": mean_sd(
            [math.nan if value is None else value for value in validation]
        )[0],
        "clips": {side: [row["clips"][side] for row in rows] for side in ("train", "validation", "test")},
        **{
            f"{key}_per_seed": [row[key] for row in rows]
            for key in ("tonic_found", "test_accuracy_right_tonic", "test_accuracy_wrong_tonic")
            if all(key in row for row in rows)
        },
    }


def _per_seed(row: dict, key: str) -> str:
    values = row.get(f"{key}_per_seed")
    return "—" if values is None else " / ".join(_fmt(value) for value in values)


def markdown_tables(summary: list[dict], breakdowns: list[dict]) -> str:
    lines = [
        "| experiment | variant | split | test accuracy (mean ± sd) | per seed | test macro-F1 | classical baseline "
        "(mean ± sd) | difference (points) | clips train / validation / test | tonic found (per seed) | accuracy "
        "with a right tonic | with a wrong tonic |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary:
        per_seed = " / ".join(_fmt(value) for value in row["test_accuracy_per_seed"])
        clips = " / ".join(_counts(row["clips"][side]) for side in ("train", "validation", "test"))
        lines.append(
            f"| {row['experiment']} | {row['variant']} | {row['split']} | {_fmt(row['test_accuracy_mean'])} ± "
            f"{_fmt(row['test_accuracy_sd'])} | {per_seed} | {_fmt(row['test_macro_f1_mean'])} | "
            f"{_fmt(row['baseline_test_accuracy_mean'])} ± {_fmt(row['baseline_test_accuracy_sd'])} | "
            f"{row['difference_points']:+.1f} | {clips} | {_per_seed(row, 'tonic_found')} | "
            f"{_per_seed(row, 'test_accuracy_right_tonic')} | {_per_seed(row, 'test_accuracy_wrong_tonic')} |"
        )
    if breakdowns:
        lines += [
            "",
            "Test accuracy by condition, hard variant, pooled over seeds (recall: of that raga's test clips):",
            "",
            "| experiment | split | condition | test clips x seeds | SAM-Audio | classical baseline |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {row['experiment']} | {row['split']} | {row['condition']} | {row['test_clips_x_seeds']} | "
            f"{_fmt(row['sam_audio'])} | {_fmt(row['baseline'])} |"
            for row in breakdowns
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny corpus, one epoch, the first seed")
    parser.add_argument("--only", nargs="*", help="substrings of 'experiment (variant, split)' to run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--epochs", type=float, default=None, help="default: num_train_epochs of config.yaml")
    parser.add_argument("--work-dir", type=Path, default=None, help="reused between invocations (default: a tmp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--run-args",
        default="",
        help="more run_raga_classification.py arguments for every run, e.g. '--noise_probability 0.5' (runs with "
        "other arguments get their own folders)",
    )
    args = parser.parse_args()

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    work_dir = (args.work_dir or Path(tempfile.mkdtemp(prefix="sam-audio-accuracy-"))).resolve()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "HF_HOME": str(work_dir / "hf")}
    seeds, epochs = (args.seeds[:1], 1.0) if args.quick else (args.seeds, args.epochs)
    run_args = shlex.split(args.run_args)
    experiments = [
        (name, variant, split, extra + run_args)
        for name, variant, split, extra in EXPERIMENTS
        if variant in args.variants
        and (not args.only or any(key in f"{name} ({variant}, {split})" for key in args.only))
    ]
    if not experiments:
        raise SystemExit("error: no experiment matches --only and --variants")
    configs = {variant: corpus_config(variant, args.quick) for variant in dict.fromkeys(e[1] for e in experiments)}
    print(f"work dir {work_dir}; seeds {seeds}; epochs {epochs or 'of config.yaml'}; run args {run_args}", flush=True)

    summary, per_seed, breakdowns, failures = [], [], [], []
    for variant, config in configs.items():
        corpus = load_synthetic_dataset(config, cache_dir=work_dir / "corpus")
        variant_dir = work_dir / f"{variant}-{config_fingerprint(config)}"
        metadata = corpus.remove_columns("audio").to_dict()
        features = corpus_features(corpus, variant_dir / "baseline_features.npy")
        print(f"{variant}: {len(corpus)} clips of {config.clip_seconds:g} s, "
              f"{len(set(metadata['recording_id']))} recordings", flush=True)  # fmt: skip
        for experiment in (e for e in experiments if e[1] == variant):
            label = f"{experiment[0]} ({variant}, {experiment[2]})"
            rows, runs = [], []
            for seed in seeds:
                try:
                    metrics, run = evaluate(corpus, metadata, features, variant_dir, experiment, seed, epochs, env)
                except RuntimeError as error:
                    failures.append({"experiment": label, "seed": seed, "error": str(error)})
                    print(f"FAILED {label} seed {seed}: {error}", flush=True)
                    continue
                print(json.dumps(metrics), flush=True)
                rows.append(metrics)
                runs.append(run)
            per_seed += rows
            if rows:
                summary.append(summarise(rows))
            if runs and variant in BREAKDOWN_VARIANTS:
                labels = sorted(set(metadata["raga"]))
                keys = {key: summary[-1][key] for key in ("experiment", "variant", "split")}
                breakdowns += [{**keys, **row} for row in breakdown(metadata, runs, labels)]

    print("\n" + markdown_tables(summary, breakdowns))
    if args.json:
        report = {
            "corpus": {variant: dataclasses.asdict(config) for variant, config in configs.items()},
            "seeds": seeds,
            "epochs": epochs,
            "summary": summary,
            "per_seed": per_seed,
            "breakdown": breakdowns,
            "failures": failures,
        }
        args.json.write_text(json.dumps(report, indent=2))
    if failures:
        print(
            f"\n{len(failures)} run(s) failed: " + ", ".join(f"{f['experiment']} seed {f['seed']}" for f in failures)
        )
        raise SystemExit(1)


if __name__ == "__main__":
    main()
