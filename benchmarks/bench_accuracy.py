"""Accuracy of SAM-Audio on the synthetic corpus under four splits, against a classical baseline, with ablations.

    python benchmarks/bench_accuracy.py [--quick] [--only NAME ...] [--work-dir DIR] [--json PATH]

Every SAM-Audio figure comes from a real run of `run_raga_classification.py --config config.yaml` (in a subprocess)
on a `DatasetDict` with the split's own `validation` side, so it measures exactly what a user would train. Splits:

- (a) `random`: stratified 90/10 clip by clip (clips of one recording on both sides, as with the Hub dataset);
- (b) `recording`: stratified 90/10 by recording (no recording on both sides);
- (c) `tonic`: train on recordings with a tonic below 200 Hz, validate on those above;
- (d) `timbre`: validate on every recording of one timbre, train on the others.

The baseline is a classical pipeline: estimate the tonic from the drone, build a tonic-normalised pitch-class
profile at 20-cent resolution (mean and spread over time), and fit a logistic regression.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
import torch


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data_sam_audio import stratified_group_split  # noqa: E402
from synthetic_ragas import SyntheticRagaConfig, load_synthetic_dataset  # noqa: E402


CORPUS = SyntheticRagaConfig(recordings_per_raga=8, clips_per_recording=6, clip_seconds=20.0, seed=11)
HELD_OUT_TIMBRE = "violin"
SPLIT_LETTERS = {"random": "a", "recording": "b", "tonic": "c", "timbre": "d"}
TONIC_THRESHOLD_HZ = 200.0

# name: (split, extra run_raga_classification.py arguments)
EXPERIMENTS = {
    "default (a)": ("random", []),
    "default (b)": ("recording", []),
    "default (c)": ("tonic", []),
    "default (d)": ("timbre", []),
    "no masked loss (b)": ("recording", ["--mask_weight", "0"]),
    "no contrastive loss (b)": ("recording", ["--contrastive_weight", "0"]),
    "no masked loss (c)": ("tonic", ["--mask_weight", "0"]),
    "no contrastive loss (c)": ("tonic", ["--contrastive_weight", "0"]),
    "no auxiliary losses (c)": ("tonic", ["--mask_weight", "0", "--contrastive_weight", "0"]),
    "no tonic alignment (b)": ("recording", ["--tonic_alignment", "false"]),
    "no tonic alignment (c)": ("tonic", ["--tonic_alignment", "false"]),
    "log_mel frontend (b)": ("recording", ["--frontend", "log_mel"]),
    "log_mel frontend (c)": ("tonic", ["--frontend", "log_mel"]),
    "waveform frontend (b)": ("recording", ["--frontend", "waveform"]),
    "waveform frontend (c)": ("tonic", ["--frontend", "waveform"]),
    "full fine-tuning of a pretrained base (b)": ("recording", ["@pretrained"]),
    "LoRA on a pretrained base (b)": ("recording", ["@pretrained", "--use_lora", "true", "--lr", "3.0e-3"]),
}


def make_splits(corpus: datasets.Dataset, seed: int) -> dict[str, tuple[list[int], list[int]]]:
    """Row indices (train, validation) of the four splits."""
    ragas, recordings = corpus["raga"], corpus["recording_id"]
    tonics, timbres = np.asarray(corpus["tonic_hz"]), np.asarray(corpus["timbre"])
    rows = np.arange(len(corpus))
    return {
        "random": stratified_group_split(ragas, None, 0.1, seed),
        "recording": stratified_group_split(ragas, recordings, 0.1, seed),
        "tonic": (rows[tonics < TONIC_THRESHOLD_HZ].tolist(), rows[tonics >= TONIC_THRESHOLD_HZ].tolist()),
        "timbre": (rows[timbres != HELD_OUT_TIMBRE].tolist(), rows[timbres == HELD_OUT_TIMBRE].tolist()),
    }


# ---------------------------------------------------------------------------------------------------------------
# Classical baseline
# ---------------------------------------------------------------------------------------------------------------

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


def classical_baseline(corpus: datasets.Dataset, train: list[int], validation: list[int], labels: list[str]) -> float:
    filterbank = _filterbank(corpus.features["audio"].sampling_rate or 16000)
    features = np.stack([pitch_class_features(np.asarray(row["array"]), filterbank) for row in corpus["audio"]])
    targets = np.array([labels.index(raga) for raga in corpus["raga"]])
    x_train, x_val = torch.tensor(features[train]).float(), torch.tensor(features[validation]).float()
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
    weights = torch.zeros(x_train.shape[1], len(labels), requires_grad=True)
    bias = torch.zeros(len(labels), requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], max_iter=500, line_search_fn="strong_wolfe")
    y_train = torch.tensor(targets[train])

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x_train @ weights + bias, y_train) + 1e-3 * weights.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    predictions = (x_val @ weights + bias).argmax(-1).numpy()
    return float((predictions == targets[validation]).mean())


# ---------------------------------------------------------------------------------------------------------------
# SAM-Audio runs
# ---------------------------------------------------------------------------------------------------------------


def pretrain_base(corpus: datasets.Dataset, train: list[int], path: Path, steps: int) -> Path:
    """Self-supervised SAM-Audio base (masked segments + contrastive, no labels) on the training clips."""
    from configuration_sam_audio import SamAudioConfig
    from feature_extraction_sam_audio import SamAudioFeatureExtractor
    from modeling_sam_audio import SamAudioForPreTraining

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    audio = [np.asarray(corpus[index]["audio"]["array"], dtype=np.float32) for index in train]
    extractor = SamAudioFeatureExtractor()
    model = SamAudioForPreTraining(SamAudioConfig()).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    crop = 16 * 16000
    for _ in range(steps):
        batch = []
        for index in rng.integers(0, len(audio), 8):
            start = rng.integers(0, max(1, len(audio[index]) - crop))
            batch.append(audio[index][start : start + crop])
        inputs = extractor(batch, sampling_rate=16000, return_tensors="pt")
        loss = model(**inputs).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.save_pretrained(path)
    extractor.save_pretrained(path)
    return path


def run_sam_audio(split_dir: Path, output_dir: Path, extra: list[str], epochs: float, env: dict) -> dict:
    command = [
        sys.executable,
        str(ROOT / "run_raga_classification.py"),
        "--config",
        str(ROOT / "config.yaml"),
        "--dataset_name",
        str(split_dir),
        "--output_dir",
        str(output_dir),
        "--epochs",
        str(epochs),
        "--report_to",
        "none",
        "--save_total_limit",
        "1",
        *extra,
    ]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"run failed ({' '.join(extra)}):\n{result.stderr[-3000:]}")
    metrics = json.loads((output_dir / "eval_results.json").read_text())
    return {
        "accuracy": metrics["eval_accuracy"],
        "macro_f1": metrics["eval_macro_f1"],
        "minutes": (time.perf_counter() - started) / 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny corpus, one epoch")
    parser.add_argument("--only", nargs="*", help="experiment names (substring match)")
    parser.add_argument("--epochs", type=float, default=10.0)
    parser.add_argument("--pretrain-steps", type=int, default=300)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="sam-audio-accuracy-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "HF_HOME": str(work_dir / "hf")}
    corpus_config = CORPUS
    epochs, pretrain_steps = args.epochs, args.pretrain_steps
    if args.quick:
        corpus_config = SyntheticRagaConfig(recordings_per_raga=5, clips_per_recording=1, clip_seconds=6.0, seed=11)
        epochs, pretrain_steps = 1.0, 2
    corpus = load_synthetic_dataset(corpus_config, cache_dir=work_dir / "corpus")
    labels = sorted(set(corpus["raga"]))
    splits = make_splits(corpus, seed=42)

    split_dirs = {}
    for name, (train, validation) in splits.items():
        split_dirs[name] = work_dir / "splits" / name
        if not split_dirs[name].exists():
            datasets.DatasetDict(
                {"train": corpus.select(train), "validation": corpus.select(validation)}
            ).save_to_disk(str(split_dirs[name]))

    print(f"corpus: {len(corpus)} clips of {corpus_config.clip_seconds:.0f} s, {len(set(corpus['recording_id']))} "
          f"recordings; torch threads {torch.get_num_threads()}; work dir {work_dir}", flush=True)  # fmt: skip
    results = []
    for name, (train, validation) in splits.items():
        accuracy = classical_baseline(corpus, train, validation, labels)
        results.append({"experiment": f"classical baseline ({SPLIT_LETTERS[name]})",
                        "split": name, "train": len(train), "validation": len(validation), "accuracy": accuracy,
                        "macro_f1": None, "minutes": None})  # fmt: skip
        print(json.dumps(results[-1]), flush=True)

    pretrained = None
    for experiment, (split, extra) in EXPERIMENTS.items():
        if args.only and not any(key in experiment for key in args.only):
            continue
        if "@pretrained" in extra:
            if pretrained is None:
                pretrained = pretrain_base(corpus, splits["recording"][0], work_dir / "pretrained", pretrain_steps)
            extra = [argument for argument in extra if argument != "@pretrained"]
            extra = ["--model_name_or_path", str(pretrained), *extra]
        slug = "".join(c if c.isalnum() else "-" for c in experiment).strip("-")
        metrics = run_sam_audio(split_dirs[split], work_dir / "runs" / slug, extra, epochs, env)
        train, validation = splits[split]
        results.append({"experiment": experiment, "split": split, "train": len(train), "validation": len(validation),
                        **metrics})  # fmt: skip
        print(json.dumps(results[-1]), flush=True)

    print("\n| experiment | split | train / validation clips | accuracy | macro-F1 | minutes |")
    print("|---|---|---|---|---|---|")
    for row in results:
        f1 = "" if row["macro_f1"] is None else f"{row['macro_f1']:.3f}"
        minutes = "" if row["minutes"] is None else f"{row['minutes']:.1f}"
        print(f"| {row['experiment']} | {row['split']} | {row['train']} / {row['validation']} | "
              f"{row['accuracy']:.3f} | {f1} | {minutes} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
