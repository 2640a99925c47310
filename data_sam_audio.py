"""Raga datasets for SAM-Audio: loading from the Hub or disk, a reproducible split, on-the-fly augmentation, batching.

Rows are decoded, cropped and augmented when they are read (`set_transform`), after the split, and only on the
training side, so no copy or crop of a validation clip is ever trained on.
"""

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import datasets
import numpy as np
import torch
from huggingface_hub import constants
from transformers.utils import logging

from feature_extraction_sam_audio import SamAudioFeatureExtractor
from hub_sam_audio import hub_unreachable_reason


if TYPE_CHECKING:
    from synthetic_ragas import SyntheticRagaConfig


logger = logging.get_logger(__name__)

SYNTHETIC = "synthetic"
# Pitch shifts are resampling ratios `steps / PITCH_SHIFT_STEPS`: small integers keep torchaudio's kernel short, and
# 1/100 steps are 17 cents at worst.
PITCH_SHIFT_STEPS = 100


class DatasetUnavailableError(RuntimeError):
    """The dataset cannot be loaded; the message says why and what to run instead."""


def load_raga_dataset(
    name: str,
    config_name: str | None = None,
    cache_dir: str | None = None,
    synthetic_config: "SyntheticRagaConfig | None" = None,
) -> datasets.DatasetDict:
    """Load `name`: `"synthetic"`, a local folder (`save_to_disk`, parquet files or an audiofolder with
    `metadata.csv`), parquet files (path or glob), or a Hub dataset id. Always returns a `DatasetDict`."""
    if name == SYNTHETIC:
        from synthetic_ragas import load_synthetic_dataset

        return datasets.DatasetDict({"train": load_synthetic_dataset(synthetic_config, cache_dir=cache_dir)})

    path = Path(name).expanduser()
    if path.is_dir() or path.is_file() or "*" in name:
        loaded = _load_local(name, path, cache_dir)
    else:
        # In offline mode a cached copy may still load; otherwise fail fast when the Hub does not answer.
        reason = None if constants.HF_HUB_OFFLINE else hub_unreachable_reason()
        if reason is None:
            try:
                loaded = datasets.load_dataset(name, config_name, cache_dir=cache_dir)
            except (ConnectionError, OSError) as error:
                reason = str(error).splitlines()[0]
        if reason is not None:
            raise DatasetUnavailableError(
                f"Cannot load dataset {name!r} from the Hugging Face Hub: {reason}. Without network access, train on "
                f"the built-in synthetic corpus (--dataset_name {SYNTHETIC}), on a local copy (--dataset_name "
                "/path/to/audiofolder, parquet files or a save_to_disk folder), or on a cached copy with "
                "HF_HUB_OFFLINE=1."
            )
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    return loaded


def _load_local(name: str, path: Path, cache_dir: str | None) -> datasets.Dataset | datasets.DatasetDict:
    """A `save_to_disk` folder, parquet files or an audiofolder, with one clear error when it cannot be read."""
    try:
        if path.is_dir():
            if any((path / marker).exists() for marker in ("dataset_dict.json", "dataset_info.json", "state.json")):
                return datasets.load_from_disk(str(path))
            if any(path.rglob("*.parquet")):
                return datasets.load_dataset("parquet", data_dir=str(path), cache_dir=cache_dir)
            return datasets.load_dataset("audiofolder", data_dir=str(path), cache_dir=cache_dir)
        if not name.endswith(".parquet"):
            raise ValueError("pass a folder, a .parquet file or a parquet glob")
        data_files = str(path) if path.is_file() else name
        return datasets.load_dataset("parquet", data_files=data_files, cache_dir=cache_dir)
    except Exception as error:  # whatever the reader raised, the user needs the path and the reason
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DatasetUnavailableError(f"Cannot read the dataset at {name!r}: {reason}.") from error


def check_columns(dataset: datasets.Dataset, columns: dict[str, str | None]) -> None:
    """Raise a `ValueError` naming each configured column that `dataset` lacks and the option that sets it."""
    for option, column in columns.items():
        if column is not None and column not in dataset.column_names:
            raise ValueError(
                f"Column {column!r} is not in the dataset (columns: {', '.join(dataset.column_names)}); set "
                f"`{option}` to the right one."
            )


def label_names_of(dataset: datasets.Dataset, label_column: str) -> list[str]:
    """Class names: a `ClassLabel`'s own names, else the sorted distinct values."""
    feature = dataset.features[label_column]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    return sorted({str(value) for value in dataset[label_column]})


def stratified_group_split(
    labels: Sequence, groups: Sequence | None, validation_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Row indices of a train/validation split, stratified by label and, when `groups` is given, by whole groups.

    For each label, its groups are shuffled with a generator seeded by `seed` alone (the same split in every process
    and every run), and moved to validation until they hold about `validation_fraction` of that label's rows. A label
    keeps at least one group on each side when it has two or more.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"`validation_fraction` must lie strictly between 0 and 1, got {validation_fraction!r}.")
    groups = list(range(len(labels))) if groups is None else list(groups)
    rows_of_group: dict[object, list[int]] = defaultdict(list)
    label_of_group: dict[object, object] = {}
    for index, (label, group) in enumerate(zip(labels, groups)):
        if label_of_group.setdefault(group, label) != label:
            raise ValueError(
                f"Group {group!r} holds clips of two labels ({label_of_group[group]!r} and {label!r}); the group "
                "column must identify one recording of one raga."
            )
        rows_of_group[group].append(index)

    groups_of_label: dict[object, list] = defaultdict(list)
    for group, label in label_of_group.items():
        groups_of_label[label].append(group)

    rng = np.random.default_rng(seed)
    validation: list[int] = []
    for label in sorted(groups_of_label, key=str):
        label_groups = sorted(groups_of_label[label], key=str)
        if len(label_groups) < 2:
            continue
        order = rng.permutation(len(label_groups))
        target = validation_fraction * sum(len(rows_of_group[group]) for group in label_groups)
        taken = 0
        for position in order[:-1]:  # the last group always stays in training
            size = len(rows_of_group[label_groups[position]])
            if taken > 0 and taken + size / 2 > target:
                break
            validation.extend(rows_of_group[label_groups[position]])
            taken += size
    validation_set = set(validation)
    train = [index for index in range(len(labels)) if index not in validation_set]
    return train, sorted(validation)


@dataclass
class AugmentationConfig:
    """On-the-fly augmentation of training clips; probabilities of 0 turn a step off."""

    gain_db: float = 0.0
    pitch_shift_probability: float = 0.0
    pitch_shift_semitones: float = 0.0
    noise_probability: float = 0.0
    noise_snr_db: tuple[float, float] = (20.0, 40.0)


class RagaAudioTransform:
    """Decodes, crops and (for training) augments dataset rows; the feature extractor runs later, per batch.

    Rows that fail to decode become `None` and are dropped, counted and logged by `SamAudioDataCollator`, so one
    bad file never stops a run.
    """

    def __init__(
        self,
        audio_column: str,
        label_column: str,
        label2id: dict[str, int],
        sampling_rate: int,
        max_length_seconds: float | None,
        augmentation: AugmentationConfig | None = None,
    ):
        self.audio_column = audio_column
        self.label_column = label_column
        self.label2id = label2id
        self.decoder = datasets.Audio(sampling_rate=sampling_rate)
        self.sampling_rate = sampling_rate
        self.max_length = None if max_length_seconds is None else round(max_length_seconds * sampling_rate)
        self.augmentation = augmentation

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        input_values, labels = [], []
        for value, label in zip(batch[self.audio_column], batch[self.label_column]):
            input_values.append(self._prepare(value))
            labels.append(self.label2id[str(label)] if isinstance(label, str) else int(label))
        return {"input_values": input_values, "labels": labels}

    def _prepare(self, value: dict) -> np.ndarray | None:
        try:
            audio = np.asarray(self.decoder.decode_example(value)["array"], dtype=np.float32)
        except Exception as error:  # undecodable row: dropped and counted by the collator
            logger.warning(f"Skipping an undecodable clip ({value.get('path') or 'bytes'}): {error}")
            return None
        if audio.size == 0 or not np.isfinite(audio).all():
            logger.warning(f"Skipping a clip that is empty or holds NaN/inf samples ({value.get('path') or 'bytes'}).")
            return None
        if self.augmentation is None:
            return audio if self.max_length is None else audio[: self.max_length]
        return self._augment(audio)

    def _augment(self, audio: np.ndarray) -> np.ndarray:
        config = self.augmentation
        steps = PITCH_SHIFT_STEPS
        if config.pitch_shift_semitones > 0 and torch.rand(()) < config.pitch_shift_probability:
            semitones = (2 * torch.rand(()).item() - 1) * config.pitch_shift_semitones
            steps = round(PITCH_SHIFT_STEPS * 2.0 ** (semitones / 12))
        if self.max_length is not None:
            # Crop enough that the resampled audio still fills `max_length` samples.
            audio = random_crop(audio, math.ceil(self.max_length * steps / PITCH_SHIFT_STEPS) + steps)
        if steps != PITCH_SHIFT_STEPS:
            audio = pitch_shift(audio, steps)
        audio = audio[: self.max_length]
        if config.gain_db > 0:
            audio = audio * 10 ** ((2 * torch.rand(()).item() - 1) * config.gain_db / 20)
        if torch.rand(()) < config.noise_probability:
            low, high = config.noise_snr_db
            snr_db = low + (high - low) * torch.rand(()).item()
            noise = torch.randn(audio.shape[0]).numpy()
            audio = audio + noise * np.sqrt(np.mean(audio**2) / 10 ** (snr_db / 10))
        return audio.astype(np.float32, copy=False)


def random_crop(audio: np.ndarray, length: int) -> np.ndarray:
    """A random window of `length` samples (the whole clip when it is shorter)."""
    if audio.shape[0] <= length:
        return audio
    start = int(torch.randint(0, audio.shape[0] - length + 1, ()))
    return audio[start : start + length]


def pitch_shift(audio: np.ndarray, steps: int) -> np.ndarray:
    """Raise pitch by `steps / PITCH_SHIFT_STEPS` by resampling (drone and melody move together; tempo follows, as
    with tape speed)."""
    import torchaudio.functional

    return torchaudio.functional.resample(torch.from_numpy(audio), steps, PITCH_SHIFT_STEPS).numpy()


@dataclass
class SamAudioDataCollator:
    """Runs the feature extractor on a list of transformed rows: padding, normalisation and `attention_mask`."""

    feature_extractor: SamAudioFeatureExtractor

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        usable = [row for row in rows if row["input_values"] is not None]
        if len(usable) < len(rows):
            logger.warning(f"Dropped {len(rows) - len(usable)} undecodable clip(s) from a batch of {len(rows)}.")
        if not usable:
            raise ValueError(
                "Every clip in this batch failed to decode; check the dataset's audio column (see the warnings above)."
            )
        batch = self.feature_extractor(
            [row["input_values"] for row in usable],
            sampling_rate=self.feature_extractor.sampling_rate,
            padding=True,
            return_tensors="pt",
        )
        batch["labels"] = torch.tensor([row["labels"] for row in usable], dtype=torch.long)
        return batch


__all__ = [
    "SYNTHETIC",
    "AugmentationConfig",
    "DatasetUnavailableError",
    "RagaAudioTransform",
    "SamAudioDataCollator",
    "check_columns",
    "label_names_of",
    "load_raga_dataset",
    "stratified_group_split",
]
