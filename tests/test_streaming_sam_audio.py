"""Streaming: labels and a train/validation split known without reading the data, node splitting, and runs of
`run_raga_classification.py --streaming true` on local parquet shards in one and two processes."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile as sf
from transformers.testing_utils import slow

from configuration_sam_audio import SamAudioConfig
from feature_extraction_sam_audio import SamAudioFeatureExtractor
from modeling_sam_audio import SamAudioForAudioClassification
from run_raga_classification import SamAudioTrainer, SamAudioTrainingArguments, cli, main
from sam_audio_raga.data import (
    RagaAudioTransform,
    SamAudioDataCollator,
    declared_label_names,
    hash_split,
    in_validation_split,
    streaming_training_set,
)


ROOT = Path(__file__).resolve().parent.parent
RAGAS = ["Kalyani", "Todi"]
TINY_MODEL = [
    "--hidden_size", "16", "--num_attention_heads", "2", "--intermediate_size", "32",
    "--num_segment_tokens", "4", "--num_segment_layers", "1", "--conv_dim", "8", "8",
]  # fmt: skip
TINY_RUN = [
    "--batch-size", "2", "--per_device_eval_batch_size", "4", "--max_length_seconds", "1", "--report_to", "none",
    "--logging_steps", "1", "--save_total_limit", "1", "--seed", "3",
]  # fmt: skip


def _flac(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, 16000, format="FLAC")
    return buffer.getvalue()


def write_shards(directory: Path, num_shards: int, clips_per_shard: int, class_label: bool = True) -> Path:
    """Parquet shards of 1.5 s clips with embedded audio: a tone per raga over noise, recordings of 2 clips."""
    rng = np.random.default_rng(0)
    label_feature = datasets.ClassLabel(names=RAGAS) if class_label else datasets.Value("string")
    features = datasets.Features(
        {"audio": datasets.Audio(), "raga": label_feature, "recording_id": datasets.Value("string")}
    )
    directory.mkdir(parents=True)
    for shard in range(num_shards):
        rows = {"audio": [], "raga": [], "recording_id": []}
        for clip in range(clips_per_shard):
            raga = (shard + clip // 2) % len(RAGAS)
            time = np.arange(24000) / 16000
            samples = 0.3 * np.sin(2 * np.pi * (220.0 + 110.0 * raga) * time) + 0.05 * rng.standard_normal(time.size)
            rows["audio"].append({"bytes": _flac(samples.astype(np.float32)), "path": f"s{shard}-c{clip}.flac"})
            rows["raga"].append(raga if class_label else RAGAS[raga])
            rows["recording_id"].append(f"{RAGAS[raga]}-{shard}-{clip // 2}")
        datasets.Dataset.from_dict(rows, features=features).to_parquet(directory / f"part-{shard:02d}.parquet")
    return directory


def stream(directory: Path) -> datasets.IterableDataset:
    raw = datasets.load_dataset("parquet", data_dir=str(directory), split="train", streaming=True)
    return raw.cast_column("audio", datasets.Audio(sampling_rate=16000, decode=False))


@pytest.fixture(autouse=True)
def no_shutdown_sleep(monkeypatch):
    """datasets waits 5 s after a shuffled parquet stream ends or is dropped (a guard for interpreter shutdown)."""
    monkeypatch.setattr(datasets.config, "SLEEP_TIME_ON_THREADS_SHUTDOWN", 0)


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("stream") / "shards", num_shards=4, clips_per_shard=6)


def test_hash_split_is_reproducible_disjoint_and_keeps_recordings_whole(shards):
    rows = stream(shards)
    train, validation = hash_split(rows, 0.3, seed=1, group_column="recording_id")
    train_ids = [row["audio"]["path"] for row in train]
    validation_ids = [row["audio"]["path"] for row in validation]
    assert train_ids and validation_ids and set(train_ids).isdisjoint(validation_ids)
    assert sorted(train_ids + validation_ids) == sorted(row["audio"]["path"] for row in rows)
    again = hash_split(rows, 0.3, seed=1, group_column="recording_id")[1]
    assert [row["audio"]["path"] for row in again] == validation_ids
    recordings = {side: {row["recording_id"] for row in split} for side, split in (("t", train), ("v", validation))}
    assert recordings["t"].isdisjoint(recordings["v"])
    # Without a group the key is the clip's encoded audio; another seed draws another split.
    by_clip = {seed: [row["audio"]["path"] for row in hash_split(rows, 0.3, seed=seed)[1]] for seed in (1, 2)}
    assert by_clip[1] != by_clip[2]
    # The hash is uniform: about the asked share of many keys lands on the validation side.
    share = np.mean([in_validation_split(f"clip-{index}", 0.1, seed=0) for index in range(20000)])
    assert share == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize("num_shards", [4, 3])
def test_each_process_reads_its_own_part_of_the_training_stream(tmp_path, num_shards, caplog):
    directory = write_shards(tmp_path / "shards", num_shards=num_shards, clips_per_shard=2)
    transform = RagaAudioTransform("audio", "raga", {name: i for i, name in enumerate(RAGAS)}, 16000, None)
    parts = []
    with caplog.at_level(logging.WARNING):
        for rank in range(2):
            part = streaming_training_set(stream(directory), transform, 0, 4, rank=rank, world_size=2)
            parts.append([tuple(np.round(row["input_values"][:8], 5)) for row in part])
    assert parts[0] and parts[1] and set(parts[0]).isdisjoint(parts[1])
    assert len(parts[0]) + len(parts[1]) == 2 * num_shards
    assert ("not a multiple of the 2 processes" in caplog.text) == (num_shards == 3)


def test_label_names_are_known_without_reading_the_stream(shards, tmp_path):
    assert declared_label_names(stream(shards), "raga", required=True) == RAGAS
    strings = stream(write_shards(tmp_path / "strings", num_shards=1, clips_per_shard=2, class_label=False))
    assert declared_label_names(strings, "raga", ["Todi", "Kalyani"], required=True) == ["Todi", "Kalyani"]
    assert declared_label_names(strings, "raga") is None
    with pytest.raises(ValueError, match="--raga_names"):
        declared_label_names(strings, "raga", required=True)
    with pytest.raises(ValueError, match="differ from the names of the ClassLabel"):
        declared_label_names(stream(shards), "raga", ["Todi", "Kalyani"])


def test_streaming_run_trains_from_parquet_shards(shards, tmp_path, caplog):
    output_dir = tmp_path / "out"
    arguments = ["--config", str(ROOT / "config.yaml"), "--dataset_name", str(shards), "--streaming", "true"]
    with caplog.at_level(logging.INFO):
        metrics = main([*arguments, "--max_steps", "16", *TINY_MODEL, *TINY_RUN, "--output_dir", str(output_dir)])
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["global_step"] == 16 and state["epoch"] > 1  # about 11 batches of training clips: a second pass
    # config.yaml evaluates and saves every epoch; a stream has none, so both happen once, at the last step (not also
    # where the first pass over the stream ended).
    assert [entry["step"] for entry in state["log_history"] if "eval_loss" in entry] == [16]
    assert [path.name for path in output_dir.glob("checkpoint-*")] == ["checkpoint-16"]
    assert "by a hash of each clip" in caplog.text
    assert (output_dir / "model.safetensors").is_file()


def test_streaming_needs_max_steps_and_named_ragas(tmp_path, capsys):
    strings = write_shards(tmp_path / "strings", num_shards=1, clips_per_shard=2, class_label=False)
    base = ["--dataset_name", str(strings), "--streaming", "true", *TINY_MODEL, "--output_dir", str(tmp_path / "o")]
    assert cli(base) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: A streamed dataset has no length")
    assert cli([*base, "--max_steps", "2"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("(or `raga_names: [...]` in the YAML).")


def test_the_trainer_reads_its_own_part_of_the_stream_as_it_is(shards, tmp_path, monkeypatch):
    """With several processes, the training loader reads this process's part of the stream itself: accelerate neither
    deals out batches read on the main process nor splits the part again (`test_streaming_run_in_two_processes` runs
    two real processes)."""
    from accelerate.data_loader import DataLoaderDispatcher

    monkeypatch.setattr(SamAudioTrainingArguments, "world_size", property(lambda self: 2))
    transform = RagaAudioTransform("audio", "raga", {name: i for i, name in enumerate(RAGAS)}, 16000, None)
    part = streaming_training_set(stream(shards), transform, 0, 4, rank=1, world_size=2)
    config = SamAudioConfig(
        hidden_size=16, num_attention_heads=2, intermediate_size=32, num_segment_tokens=4, num_segment_layers=1,
        conv_dim=(8, 8), num_conv_pos_embedding_groups=4, num_labels=2,
    )  # fmt: skip
    args = SamAudioTrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=1, report_to="none", eval_strategy="no",
        save_strategy="no", load_best_model_at_end=False, use_cpu=True, dataloader_pin_memory=False,
    )  # fmt: skip
    trainer = SamAudioTrainer(
        model=SamAudioForAudioClassification(config),
        args=args,
        train_dataset=part,
        data_collator=SamAudioDataCollator(SamAudioFeatureExtractor()),
    )
    loader = trainer.get_train_dataloader()
    assert not isinstance(loader, DataLoaderDispatcher)
    assert sum(len(batch["labels"]) for batch in loader) == 12  # its 2 of the 4 shards of 6 clips


@pytest.mark.slow
@slow
def test_streaming_run_in_two_processes(tmp_path):
    """Each process trains on its own 2 of the 4 training shards: 12 clips, 6 batches of 2 per pass over its part."""
    shards = write_shards(tmp_path / "shards", num_shards=5, clips_per_shard=6)
    for index in range(4):
        (shards / f"part-{index:02d}.parquet").rename(shards / f"train-{index:02d}.parquet")
    (shards / "part-04.parquet").rename(shards / "validation-00.parquet")
    accelerate = Path(sys.executable).with_name("accelerate")
    launcher = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no"]  # fmt: skip
    output_dir = tmp_path / "ddp"
    arguments = ["--config", str(ROOT / "config.yaml"), "--dataset_name", str(shards), "--streaming", "true"]
    environment = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    result = subprocess.run(
        [*launcher, str(ROOT / "run_raga_classification.py"), *arguments, "--max_steps", "4", *TINY_MODEL, *TINY_RUN,
         "--output_dir", str(output_dir)],
        cwd=tmp_path, env={**environment, "ACCELERATE_USE_CPU": "1"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Process 0 of 2, on" in result.stdout + result.stderr
    # 4 steps stay within each process's 6 batches: epoch 4/4. A stream read by the main process and dealt out (or
    # split twice) would give each process 3 batches per pass, and a second pass: epoch 1 + 1/4.
    assert json.loads((output_dir / "trainer_state.json").read_text())["epoch"] == pytest.approx(1.0)
