"""Raga datasets for SAM-Audio: loading from the Hub or disk, a reproducible split, on-the-fly augmentation, batching.

Rows are decoded, cropped and augmented when they are read (`set_transform`), after the split, and only on the
training side, so no copy or crop of a validation clip is ever trained on.

Streamed datasets (`load_raga_dataset(..., streaming=True)`) are never read in advance: the ragas come from the
features (`declared_label_names`), the split from a hash of each row (`hash_split`), and the training stream is
shuffled through a buffer and split between processes (`streaming_training_set`).
"""

import hashlib
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import datasets
import numpy as np
import torch
from datasets.distributed import split_dataset_by_node
from huggingface_hub import constants
from transformers.utils import logging

from feature_extraction_sam_audio import SamAudioFeatureExtractor

from .hub import hub_unreachable_reason


if TYPE_CHECKING:
    from .synthetic import SyntheticRagaConfig


logger = logging.get_logger(__name__)

SYNTHETIC = "synthetic"
# Pitch shifts are resampling ratios `steps / PITCH_SHIFT_STEPS`: small integers keep torchaudio's kernel short, and
# 1/100 steps are 17 cents at worst.
PITCH_SHIFT_STEPS = 100
# Shards of a streamed `synthetic` or `save_to_disk` dataset: a multiple of 1, 2, 4 and 8 processes.
STREAMING_SHARDS = 8


# Audio files in a folder of recordings: these suffixes (case-insensitive), all formats FFmpeg decodes.
AUDIO_EXTENSIONS = frozenset(
    {".aac", ".ac3", ".aif", ".aifc", ".aiff", ".alac", ".amr", ".ape", ".au", ".caf", ".flac", ".m4a", ".mka",
     ".mp2", ".mp3", ".mp4", ".oga", ".ogg", ".opus", ".ra", ".spx", ".wav", ".weba", ".webm", ".wma", ".wv"}
)  # fmt: skip


def find_audio_files(folder: Path) -> list[Path]:
    """The audio files under `folder` (`AUDIO_EXTENSIONS`), recursively and sorted; hidden files and folders are left
    out."""
    found = []
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]  # hidden folders are not searched
        found += [
            Path(root, name)
            for name in names
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS
        ]
    return sorted(found)


class DatasetUnavailableError(RuntimeError):
    """The dataset cannot be loaded; the message says why and what to run instead."""


def load_raga_dataset(
    name: str,
    config_name: str | None = None,
    cache_dir: str | None = None,
    synthetic_config: "SyntheticRagaConfig | None" = None,
    streaming: bool = False,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Load `name`: `"synthetic"`, a local folder (`save_to_disk`, parquet files or an audiofolder with
    `metadata.csv`), parquet files (path or glob), or a Hub dataset id. Always returns a `DatasetDict`.

    With `streaming=True` it returns an `IterableDatasetDict`: parquet files, audiofolders and Hub datasets are then
    read as they are iterated, never copied into the cache; `synthetic` and `save_to_disk` folders (Arrow files
    already) are iterated in `STREAMING_SHARDS` shards.
    """
    if name == SYNTHETIC:
        from .synthetic import load_synthetic_dataset

        loaded = datasets.DatasetDict({"train": load_synthetic_dataset(synthetic_config, cache_dir=cache_dir)})
        return _as_streaming(loaded) if streaming else loaded

    path = Path(name).expanduser()
    if path.is_dir() or path.is_file() or "*" in name:
        loaded = _load_local(name, path, cache_dir, streaming)
    else:
        # In offline mode a cached copy may still load; otherwise fail fast when the Hub does not answer.
        reason = None if constants.HF_HUB_OFFLINE else hub_unreachable_reason()
        if reason is None:
            try:
                loaded = datasets.load_dataset(name, config_name, cache_dir=cache_dir, streaming=streaming)
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
    if isinstance(loaded, datasets.IterableDataset):
        loaded = datasets.IterableDatasetDict({"train": loaded})
    return _as_streaming(loaded) if streaming and isinstance(loaded, datasets.DatasetDict) else loaded


def _as_streaming(loaded: datasets.DatasetDict) -> datasets.IterableDatasetDict:
    return datasets.IterableDatasetDict(
        {
            name: split.to_iterable_dataset(num_shards=max(1, min(STREAMING_SHARDS, len(split))))
            for name, split in loaded.items()
        }
    )


def _load_local(
    name: str, path: Path, cache_dir: str | None, streaming: bool = False
) -> datasets.Dataset | datasets.DatasetDict | datasets.IterableDatasetDict:
    """A `save_to_disk` folder, parquet files or an audiofolder, with one clear error when it cannot be read."""
    try:
        if path.is_dir():
            if any((path / marker).exists() for marker in ("dataset_dict.json", "dataset_info.json", "state.json")):
                return datasets.load_from_disk(str(path))
            if any(path.rglob("*.parquet")):
                return datasets.load_dataset("parquet", data_dir=str(path), cache_dir=cache_dir, **_parquet(streaming))
            return datasets.load_dataset("audiofolder", data_dir=str(path), cache_dir=cache_dir, streaming=streaming)
        if not name.endswith(".parquet"):
            raise ValueError("pass a folder, a .parquet file or a parquet glob")
        data_files = str(path) if path.is_file() else name
        return datasets.load_dataset("parquet", data_files=data_files, cache_dir=cache_dir, **_parquet(streaming))
    except Exception as error:  # whatever the reader raised, the user needs the path and the reason
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DatasetUnavailableError(f"Cannot read the dataset at {name!r}: {reason}.") from error


def _parquet(streaming: bool) -> dict:
    """Options of a local parquet load. A stream reads each file without pyarrow's pre-buffering, which would keep
    every row group read so far until the file ends: with it, memory grows with the size of the files."""
    if not streaming:
        return {}
    import pyarrow.dataset

    return {"streaming": True, "fragment_scan_options": pyarrow.dataset.ParquetFragmentScanOptions(pre_buffer=False)}


def check_columns(dataset: datasets.Dataset, columns: dict[str, str | None]) -> None:
    """Raise a `ValueError` naming each configured column that `dataset` lacks and the option that sets it (a stream
    whose columns are unknown until it is read is not checked)."""
    if dataset.column_names is None:
        return
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


def check_label_coverage(labels: Sequence[str], label_column: str, splits: dict) -> None:
    """Every raga of the splits after the first (the training split) was trained on, and every raga is in `labels`.

    `splits` maps a name used in the error ("Training", "Validation", ...) to a dataset, or to `None` to skip it.
    """
    known = set(labels)
    trained = None
    for name, dataset in splits.items():
        present = set(label_names_of(dataset, label_column)) if dataset is not None else set()
        if trained is None:
            trained = present
        elif present - trained:
            raise ValueError(
                f"{name} has ragas with no training clip: {sorted(present - trained)}. Add clips of them or drop them."
            )
        if present - known:
            raise ValueError(f"{name} has ragas missing from `raga_names`: {sorted(present - known)}.")


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
            audio = add_noise(audio, config.noise_snr_db)
        return audio.astype(np.float32, copy=False)


def add_noise(audio: np.ndarray, snr_range_db: Sequence[float]) -> np.ndarray:
    """White noise added at a signal-to-noise ratio drawn uniformly from `snr_range_db` (low, high), in dB."""
    low, high = snr_range_db
    snr_db = low + (high - low) * torch.rand(()).item()
    noise = torch.randn(audio.shape[0]).numpy()
    return audio + noise * np.sqrt(np.mean(audio**2) / 10 ** (snr_db / 10))


def tilt_spectrum(audio: np.ndarray, max_db_per_octave: float, sampling_rate: int) -> np.ndarray:
    """The spectrum tilted about 500 Hz by a random slope of up to `max_db_per_octave` dB per octave either way (the
    colour another microphone, hall or instrument gives), at the input's peak level."""
    slope = (2 * torch.rand(()).item() - 1) * max_db_per_octave
    # Below 50 Hz the slope stops, so a steep tilt cannot blow up the DC and sub-audio bins.
    frequencies = np.maximum(np.fft.rfftfreq(audio.shape[0], 1 / sampling_rate), 50.0)
    tilted = np.fft.irfft(np.fft.rfft(audio) * 10 ** (slope * np.log2(frequencies / 500.0) / 20), n=audio.shape[0])
    return tilted * (np.abs(audio).max() / max(np.abs(tilted).max(), 1e-8))


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


def declared_label_names(
    dataset: datasets.Dataset | datasets.IterableDataset,
    label_column: str,
    raga_names: Sequence[str] | None = None,
    required: bool = False,
) -> list[str] | None:
    """Class names known without reading the rows: the label column's `ClassLabel` names, else `raga_names`.

    With `required=True` (a streamed dataset, which cannot be read through to collect them) a string label column
    and no `raga_names` raise a `ValueError` that says how to name them; otherwise that case gives `None`.
    """
    if raga_names and len(set(raga_names)) != len(raga_names):
        raise ValueError(f"`raga_names` lists a raga twice: {list(raga_names)}.")
    feature = (dataset.features or {}).get(label_column)
    if isinstance(feature, datasets.ClassLabel):
        if raga_names and list(raga_names) != list(feature.names):
            raise ValueError(
                f"`raga_names` {list(raga_names)} differ from the names of the ClassLabel column {label_column!r} "
                f"({feature.names}), which fix the label ids; drop `raga_names` or give those names in that order."
            )
        return list(feature.names)
    if raga_names:
        return list(raga_names)
    if required:
        raise ValueError(
            f"A streamed dataset is not read through to collect its ragas, and its column {label_column!r} is not a "
            "ClassLabel: name them with --raga_names Kalyani Todi ... (or `raga_names: [...]` in the YAML)."
        )
    return None


def in_validation_split(key: str | bytes, validation_fraction: float, seed: int) -> bool:
    """Whether the clip or recording identified by `key` is held out: a stable hash of `seed` and `key`, read as a
    number in [0, 1), falls below `validation_fraction`. The same in every run and process, with no pass over the data.
    """
    key = key.encode() if isinstance(key, str) else key
    digest = hashlib.blake2b(f"{seed}:".encode() + key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < validation_fraction


def _on_side(
    row: dict, validation: bool, validation_fraction: float, seed: int, group_column: str | None, audio_column: str
) -> bool:
    if group_column is not None:
        key = str(row[group_column])
    else:
        audio = row[audio_column]
        key = audio.get("bytes") or audio.get("path") or b""
    return in_validation_split(key, validation_fraction, seed) == validation


def hash_split(
    dataset: datasets.IterableDataset,
    validation_fraction: float,
    seed: int,
    group_column: str | None = None,
    audio_column: str = "audio",
) -> tuple[datasets.IterableDataset, datasets.IterableDataset]:
    """Training and validation streams of `dataset`, split by `in_validation_split` of each row's group (with
    `group_column`: a recording never spans the split) or else of its encoded audio (bytes, or path without bytes).

    The audio column must not decode (`Audio(decode=False)`): the key is the encoded clip.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"`validation_fraction` must lie strictly between 0 and 1, got {validation_fraction!r}.")
    sides = [
        partial(
            _on_side,
            validation=validation,
            validation_fraction=validation_fraction,
            seed=seed,
            group_column=group_column,
            audio_column=audio_column,
        )
        for validation in (False, True)
    ]
    return dataset.filter(sides[0]), dataset.filter(sides[1])


class _KnownRagas:
    """Filter keeping rows whose (string) raga has a label id; warns once per unknown raga."""

    def __init__(self, label_column: str, label2id: dict[str, int]):
        self.label_column = label_column
        self.label2id = label2id
        self.warned: set[str] = set()

    def __call__(self, row: dict) -> bool:
        label = row[self.label_column]
        if not isinstance(label, str) or label in self.label2id:
            return True
        if label not in self.warned:
            self.warned.add(label)
            logger.warning(f"Skipping the clips of raga {label!r}, which is not in `raga_names`.")
        return False


def _decoded_stream(dataset: datasets.IterableDataset, transform: RagaAudioTransform) -> datasets.IterableDataset:
    """Rows of known ragas, decoded one at a time by `transform` (no batch of decoded clips is ever held)."""
    dataset = dataset.filter(_KnownRagas(transform.label_column, transform.label2id))
    return dataset.map(transform, batched=True, batch_size=1, remove_columns=dataset.column_names)


def streaming_training_set(
    dataset: datasets.IterableDataset,
    transform: RagaAudioTransform,
    seed: int,
    shuffle_buffer_size: int,
    rank: int = 0,
    world_size: int = 1,
) -> datasets.IterableDataset:
    """The training stream: shuffled (shard order, then a buffer of `shuffle_buffer_size` encoded rows, both from
    `seed`, so every process shuffles alike), this process's part of it (`split_dataset_by_node`), then decoded,
    cropped and augmented by `transform` as it is read.

    Memory is that of the shuffle buffer, whatever the size of the dataset.
    """
    dataset = dataset.shuffle(seed=seed, buffer_size=shuffle_buffer_size)
    if world_size > 1:
        if dataset.num_shards % world_size:
            logger.warning(
                f"The stream has {dataset.num_shards} shard(s), not a multiple of the {world_size} processes: each "
                f"process reads and decodes every row and keeps one in {world_size}. Write a multiple of "
                f"{world_size} shards (files) to give each process its own."
            )
        dataset = split_dataset_by_node(dataset, rank=rank, world_size=world_size)
    return _decoded_stream(dataset, transform)


def streaming_evaluation_set(
    dataset: datasets.IterableDataset, transform: RagaAudioTransform
) -> datasets.IterableDataset:
    """An evaluation stream, in its stored order, decoded (and cut, if `transform` says so) as it is read."""
    return _decoded_stream(dataset, transform)


__all__ = [
    "check_label_coverage",
    "SYNTHETIC",
    "AugmentationConfig",
    "DatasetUnavailableError",
    "RagaAudioTransform",
    "SamAudioDataCollator",
    "add_noise",
    "check_columns",
    "declared_label_names",
    "hash_split",
    "in_validation_split",
    "label_names_of",
    "load_raga_dataset",
    "stratified_group_split",
    "streaming_evaluation_set",
    "streaming_training_set",
    "tilt_spectrum",
]
