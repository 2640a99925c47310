"""Loading raga datasets from every supported place, transforms and the collator's handling of bad rows."""

import logging
import os

import datasets
import numpy as np
import pytest
import soundfile

from feature_extraction_sam_audio import SamAudioFeatureExtractor
from run_raga_classification import SamAudioTrainingArguments
from sam_audio_raga.cli import setup_wandb
from sam_audio_raga.data import (
    AugmentationConfig,
    DatasetUnavailableError,
    RagaAudioTransform,
    SamAudioDataCollator,
    check_columns,
    label_names_of,
    load_raga_dataset,
)
from sam_audio_raga.synthetic import SyntheticRagaConfig, export_synthetic_dataset, load_synthetic_dataset


TINY = SyntheticRagaConfig(recordings_per_raga=1, clips_per_recording=2, clip_seconds=2.0)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return load_synthetic_dataset(TINY, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("export_format", ["audiofolder", "parquet", "disk"])
def test_local_copies_load_through_the_same_option(tmp_path, synthetic, export_format):
    folder = tmp_path / export_format
    export_synthetic_dataset(TINY, folder, export_format=export_format)
    loaded = load_raga_dataset(str(folder), cache_dir=str(tmp_path / "hf"))["train"]
    assert len(loaded) == len(synthetic)
    assert {"audio", "raga", "recording_id"} <= set(loaded.column_names)
    assert sorted(loaded["raga"]) == sorted(synthetic["raga"])
    if export_format == "parquet":
        single = load_raga_dataset(str(folder / "train.parquet"), cache_dir=str(tmp_path / "hf"))["train"]
        assert len(single) == len(synthetic)


def test_synthetic_name_and_unknown_files(tmp_path):
    assert "train" in load_raga_dataset("synthetic", cache_dir=str(tmp_path), synthetic_config=TINY)
    (tmp_path / "notes.txt").write_text("not audio")
    with pytest.raises(DatasetUnavailableError, match="Cannot read the dataset.*parquet"):
        load_raga_dataset(str(tmp_path / "notes.txt"))


def test_missing_column_names_the_option(synthetic):
    with pytest.raises(ValueError, match="label_column_name"):
        check_columns(synthetic, {"label_column_name": "label"})


def test_label_names_from_strings_and_class_labels(synthetic):
    assert label_names_of(synthetic, "raga") == sorted(set(synthetic["raga"]))
    encoded = synthetic.class_encode_column("raga")
    assert label_names_of(encoded, "raga") == encoded.features["raga"].names


def test_training_transform_crops_and_augments_only_training_rows(synthetic):
    rows = synthetic.cast_column("audio", datasets.Audio(sampling_rate=16000, decode=False))
    label2id = {name: index for index, name in enumerate(sorted(set(synthetic["raga"])))}
    augmentation = AugmentationConfig(pitch_shift_probability=1.0, pitch_shift_semitones=2.0, noise_probability=1.0)
    train = RagaAudioTransform("audio", "raga", label2id, 16000, max_length_seconds=1.0, augmentation=augmentation)
    evaluation = RagaAudioTransform("audio", "raga", label2id, 16000, max_length_seconds=None)
    batch = rows[:2]
    cropped = train(batch)
    assert all(len(values) == 16000 for values in cropped["input_values"])
    assert cropped["labels"] == [label2id[name] for name in batch["raga"]]
    full = evaluation(batch)
    assert all(len(values) == 32000 for values in full["input_values"])
    np.testing.assert_array_equal(full["input_values"][0], evaluation(batch)["input_values"][0])


def test_undecodable_rows_are_skipped_and_counted(tmp_path, caplog):
    good = tmp_path / "good.wav"
    soundfile.write(good, np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1, 16000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    transform = RagaAudioTransform("audio", "raga", {"Todi": 0}, 16000, max_length_seconds=None)
    with caplog.at_level(logging.WARNING):
        rows = transform({"audio": [{"path": str(good), "bytes": None}, {"path": str(broken), "bytes": None}],
                          "raga": ["Todi", "Todi"]})  # fmt: skip
    assert rows["input_values"][1] is None
    collator = SamAudioDataCollator(SamAudioFeatureExtractor())
    with caplog.at_level(logging.WARNING):
        batch = collator(
            [{"input_values": v, "labels": label} for v, label in zip(rows["input_values"], rows["labels"])]
        )
    assert batch["input_values"].shape == (1, 16000) and batch["labels"].tolist() == [0]
    assert "Dropped 1 undecodable clip" in caplog.text
    with pytest.raises(ValueError, match="Every clip in this batch failed"):
        collator([{"input_values": None, "labels": 0}])


def test_wandb_runs_offline_without_an_api_key(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    args = SamAudioTrainingArguments(output_dir=str(tmp_path), report_to="wandb", use_cpu=True)
    with caplog.at_level(logging.WARNING):
        setup_wandb(args)
    assert os.environ["WANDB_MODE"] == "offline" and "wandb sync" in caplog.text

    monkeypatch.setenv("WANDB_MODE", "disabled")
    setup_wandb(args)
    assert os.environ["WANDB_MODE"] == "disabled"
