"""Seeded synthetic Carnatic raga dataset: the offline stand-in for the `sarayusapa/carnatic-ragas` Hub dataset.

The audio comes from `render.py` (see there for how a clip is made) and, for the `"hard"` variant, the concert
conditions of `conditions.py`; this module cuts recordings into clips and builds, caches and exports the
`datasets.Dataset`. The package docstring (`sam_audio_raga.synthetic`) shows its use and command line.
"""

import argparse
import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from transformers.utils import logging

from .conditions import RecordingConditions, sample_recording_conditions, schedule_events
from .ragas import RAGA_NAMES, TIMBRES
from .render import check_int, is_real, peak_normalize, render_recording
from .style import DEFAULT_SNR_RANGE_DB, RecordingStyle, sample_recording_style


if TYPE_CHECKING:
    import datasets


logger = logging.get_logger(__name__)

# Bump whenever the synthesis (`render.py`, `melody.py`, `ragas.py`, `style.py`, `conditions.py`, `accompaniment.py`,
# `dsp.py`) changes, so cached datasets built by an older generator are not reused.
GENERATOR_VERSION = 1
VARIANTS = ("standard", "hard")
# Columns describing each clip's recording conditions, and their Arrow types.
CONDITION_COLUMNS = {
    "drone_level_db": "float64",
    "drone_gaps": "bool",
    "drone_tuning": "string",
    "percussion_level_db": "float64",
    "violin_shadow": "bool",
    "pause_fraction": "float64",
    "snr_db": "float64",
    "rt60_seconds": "float64",
    "reverb_mix": "float64",
    "band_limited": "bool",
    "narrow_register": "bool",
    "pitch_drift_cents": "float64",
}


@dataclass(frozen=True)
class SyntheticRagaConfig:
    """
    Size and randomness of a synthetic raga dataset. Every clip of a recording shares its raga, tonic, timbre,
    tempo, room and noise level (and, in the hard variant, its concert conditions).

    The `"standard"` variant is a soloist over a steady Sa-Pa tanpura, mild noise and a mild room: easy for a model
    and for a pitch-class baseline alike. The `"hard"` variant draws per recording, independently and identically
    for every raga, the concert conditions of `conditions.RecordingConditions` (ranges there):

    - a faint tanpura, 6 to 30 dB under the soloist, fading out for 3-8 s stretches in 30 % of the recordings;
    - a Sa-Ma tanpura instead of Sa-Pa in a third of the recordings;
    - a mridangam tuned to Sa throughout (-15 to 0 dB), with dense solos in about a third of the melody pauses;
    - a violin shadowing the soloist 0.1-0.4 s late, 6-14 dB softer, in half the recordings;
    - long melody pauses (3-8 s each, up to ~30 % of the recording);
    - noise at 0-25 dB SNR, with mains hum (50/60 Hz and harmonics) and audience babble in half the recordings each;
    - a large hall (rt60 1.2-2.5 s, strong wet mix) in 30 % of the recordings;
    - a telephone-band (300-3400 Hz) or 4 kHz low-pass channel in 30 % of the recordings;
    - a narrow register (mandra Pa to madhya Pa) in 30 % of the recordings;
    - a pitch drift of the whole ensemble of up to +-35 cents over the recording.

    Rows carry the conditions as columns in both variants (see [`build_synthetic_dataset`]), so results can be
    broken down by condition.

    Args:
        recordings_per_raga (`int`, *optional*, defaults to 6): Recordings (performances) generated per raga.
        clips_per_recording (`int`, *optional*, defaults to 8): Consecutive clips cut from each recording.
        clip_seconds (`float`, *optional*, defaults to 20.0): Length of each clip, as in the Hub dataset.
        sampling_rate (`int`, *optional*, defaults to 16000): Sampling rate of the audio.
        tonic_range_hz (`tuple[float, float]`, *optional*, defaults to `(130.0, 280.0)`): Range of the performer's
            tonic (shruti), sampled log-uniformly and stratified so every raga covers the whole range.
        snr_range_db (`tuple[float, float]`, *optional*, defaults to `(15.0, 40.0)`): Range of the per-recording
            signal-to-noise ratio of the standard variant (the hard variant draws from 0-25 dB and rejects another
            range).
        timbres (`tuple[str, ...]`, *optional*, defaults to all of `TIMBRES`): Melody timbres, assigned to the
            recordings of every raga in the same rotation.
        seed (`int`, *optional*, defaults to 0): Seed; the same config always gives byte-identical audio.
        variant (`str`, *optional*, defaults to `"standard"`): `"standard"` (clean conditions) or `"hard"` (concert
            conditions, above).
    """

    # Recordings (performances) generated per raga.
    recordings_per_raga: int = 6
    # Consecutive clips cut from each recording.
    clips_per_recording: int = 8
    # Length of each clip in seconds.
    clip_seconds: float = 20.0
    # Sampling rate of the audio in Hz.
    sampling_rate: int = 16000
    # Range of the performer's tonic in Hz.
    tonic_range_hz: tuple[float, float] = (130.0, 280.0)
    # Range of the per-recording signal-to-noise ratio in dB.
    snr_range_db: tuple[float, float] = DEFAULT_SNR_RANGE_DB
    # Melody timbres to use.
    timbres: tuple[str, ...] = TIMBRES
    # Seed of every random draw.
    seed: int = 0
    # "standard" or "hard" recording conditions.
    variant: str = "standard"

    def __post_init__(self) -> None:
        # Frozen: normalise through object.__setattr__ (numpy ints to int, lists to tuples) so the config hashes
        # and serialises the same however it was written.
        for name, low, high in (
            ("recordings_per_raga", 1, 100_000),
            ("clips_per_recording", 1, 100_000),
            ("sampling_rate", 8000, 192_000),
            ("seed", 0, 2**63 - 1),
        ):
            object.__setattr__(self, name, check_int(name, getattr(self, name), low, high))
        if not is_real(self.clip_seconds) or not 0.0 < self.clip_seconds <= 3600.0:
            raise ValueError(f"clip_seconds must be a number in (0, 3600], got {self.clip_seconds!r}")
        object.__setattr__(self, "clip_seconds", float(self.clip_seconds))
        object.__setattr__(self, "tonic_range_hz", _check_range("tonic_range_hz", self.tonic_range_hz, 40.0, 1000.0))
        object.__setattr__(self, "snr_range_db", _check_range("snr_range_db", self.snr_range_db, -10.0, 120.0))
        timbres = (self.timbres,) if isinstance(self.timbres, str) else tuple(self.timbres)
        if not timbres or len(set(timbres)) != len(timbres) or any(t not in TIMBRES for t in timbres):
            raise ValueError(
                f"timbres must be a non-empty tuple of distinct names from {TIMBRES}, got {self.timbres!r}"
            )
        object.__setattr__(self, "timbres", timbres)
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.variant == "hard" and self.snr_range_db != DEFAULT_SNR_RANGE_DB:
            raise ValueError(
                f"snr_range_db applies to the standard variant only (the hard variant draws 0-25 dB), got "
                f"{self.snr_range_db!r} with variant='hard'"
            )

    @property
    def total_seconds(self) -> float:
        """Seconds of audio in the dataset."""
        return len(RAGA_NAMES) * self.recordings_per_raga * self.clips_per_recording * self.clip_seconds


def _check_range(name: str, value: object, low: float, high: float) -> tuple[float, float]:
    """Return `value` as a (low, high) float pair, or raise a ValueError naming `name`."""
    try:
        pair = tuple(value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(is_real(v) for v in pair) or not low <= pair[0] <= pair[1] <= high:
        raise ValueError(f"{name} must be a pair (low, high) with {low} <= low <= high <= {high}, got {value!r}")
    return float(pair[0]), float(pair[1])


def recording_plan(config: SyntheticRagaConfig, raga_index: int) -> list[tuple[float, str]]:
    """
    Tonic and timbre of each recording of one raga. Tonics are stratified (one per slice of the log-frequency range,
    slices shuffled per raga) and timbres rotate identically for every raga, so even a small dataset gives no raga a
    tonic range or timbre of its own.
    """
    n = config.recordings_per_raga
    # Distinct leading tags keep these streams apart from the per-recording streams [seed, 1, i, j].
    order = np.random.default_rng([config.seed, 2, raga_index]).permutation(n)
    rotation = int(np.random.default_rng([config.seed, 3]).integers(len(config.timbres)))
    low, high = (math.log(f) for f in config.tonic_range_hz)
    plan = []
    for j in range(n):
        u = float(np.random.default_rng([config.seed, 4, raga_index, j]).random())
        tonic = math.exp(low + (order[j] + u) / n * (high - low))
        plan.append((tonic, config.timbres[(j + rotation) % len(config.timbres)]))
    return plan


def encode_flac(audio: np.ndarray, sampling_rate: int) -> bytes:
    """16-bit FLAC bytes (deterministic: FLAC stores no timestamps)."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, audio, sampling_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def build_synthetic_dataset(config: SyntheticRagaConfig) -> "datasets.Dataset":
    """
    Generate the dataset described by `config` in memory.

    Each recording uses its own generator `np.random.default_rng([seed, 1, raga_index, recording_index])`, so rows do
    not depend on generation order, and the clips of a recording are consecutive, non-overlapping cuts of one
    continuous performance. In the hard variant the same generator then draws the recording's conditions.

    Args:
        config ([`SyntheticRagaConfig`]): Size, seed and variant of the dataset.

    Returns:
        `datasets.Dataset` ordered by raga, recording and clip, with columns `audio`
        (`Audio(sampling_rate=config.sampling_rate)`, FLAC bytes), `raga`, `recording_id` (e.g. `"Kalyani-03"`),
        `tonic_hz` (the nominal tonic, at the start of the recording), `timbre`, and the recording conditions
        (standard variant's values in brackets): `drone_level_db` (tanpura RMS relative to the soloist's, -30 to
        -6 dB [-9 to -2]), `drone_gaps` (bool [False]), `drone_tuning` (`"sa_pa"` or `"sa_ma"` ["sa_pa"]),
        `percussion_level_db` (mridangam relative to the soloist, -15 to 0 dB [-inf: none]), `violin_shadow` (bool
        [False]), `pause_fraction` (share of this clip inside long melody pauses, 0 to 1 [0.0]), `snr_db` (0 to 25
        [15 to 40]), `rt60_seconds` (0.2 to 2.5 [0.2 to 1.0]), `reverb_mix` (0.1 to 1.5 [0.1 to 0.5]),
        `band_limited` (bool [False]), `narrow_register` (bool [False]) and `pitch_drift_cents` (offset of the
        tonic at the end of the recording, -35 to 35 [0.0]).
    """
    import datasets
    import pyarrow as pa

    features = datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=config.sampling_rate),
            "raga": datasets.Value("string"),
            "recording_id": datasets.Value("string"),
            "tonic_hz": datasets.Value("float64"),
            "timbre": datasets.Value("string"),
            **{name: datasets.Value(dtype) for name, dtype in CONDITION_COLUMNS.items()},
        }
    )
    clip_samples = max(1, round(config.clip_seconds * config.sampling_rate))
    # One Arrow table per recording, concatenated without copying. `Dataset.from_dict` would run
    # `Audio.encode_example` on every row (which only repacks our bytes and imports torch via torchcodec) and grow
    # one builder for all rows, using about twice the memory of the encoded audio.
    tables = []
    for i, raga in enumerate(RAGA_NAMES):
        for j, (tonic, timbre) in enumerate(recording_plan(config, i)):
            rng = np.random.default_rng([config.seed, 1, i, j])
            style = sample_recording_style(rng, config.snr_range_db)
            conditions = sample_recording_conditions(rng) if config.variant == "hard" else None
            n_samples = clip_samples * config.clips_per_recording
            audio, _ = render_recording(
                raga, tonic, timbre, style, n_samples, config.sampling_rate, rng, conditions=conditions
            )
            recording_id = f"{raga}-{j:02d}"
            clips = [
                {
                    "bytes": encode_flac(
                        peak_normalize(audio[k * clip_samples : (k + 1) * clip_samples]), config.sampling_rate
                    ),
                    "path": f"{recording_id}_{k:02d}.flac",
                }
                for k in range(config.clips_per_recording)
            ]
            n = len(clips)
            columns = {"audio": clips, "raga": [raga] * n, "recording_id": [recording_id] * n}
            columns.update(tonic_hz=[tonic] * n, timbre=[timbre] * n)
            columns.update(_condition_columns(style, conditions, n, clip_samples / config.sampling_rate))
            tables.append(pa.Table.from_pydict(columns, schema=features.arrow_schema))
    # An explicit fingerprint spares `datasets` from hashing (pickling) the whole audio table to make one.
    return datasets.Dataset(
        pa.concat_tables(tables),
        info=datasets.DatasetInfo(features=features),
        fingerprint=f"synthetic-ragas-{config_fingerprint(config)}",
    )


def _condition_columns(
    style: RecordingStyle, conditions: RecordingConditions | None, n_clips: int, clip_seconds: float
) -> dict[str, list]:
    """The `CONDITION_COLUMNS` of the clips of one recording: from `conditions`, or the standard style's values."""
    if conditions is None:
        values = {
            "drone_level_db": 20.0 * math.log10(style.drone_gain),
            "drone_gaps": False,
            "drone_tuning": "sa_pa",
            "percussion_level_db": -math.inf,
            "violin_shadow": False,
            "snr_db": style.snr_db,
            "rt60_seconds": style.rt60_seconds,
            "reverb_mix": style.reverb_mix,
            "band_limited": False,
            "narrow_register": False,
            "pitch_drift_cents": 0.0,
        }
        pause_fraction = [0.0] * n_clips
    else:
        names = [name for name in CONDITION_COLUMNS if name not in ("pause_fraction", "band_limited")]
        values = {name: getattr(conditions, name) for name in names}
        values["band_limited"] = conditions.band_limit != "none"
        pauses = schedule_events(conditions, n_clips * clip_seconds).pauses
        starts = np.arange(n_clips)[:, None] * clip_seconds  # (n_clips, 1) against (num_pauses,)
        inside = np.minimum(pauses[:, 1], starts + clip_seconds) - np.maximum(pauses[:, 0], starts)
        pause_fraction = (np.clip(inside, 0.0, None).sum(axis=1) / clip_seconds).tolist()
    columns = {name: [value] * n_clips for name, value in values.items()}
    columns["pause_fraction"] = pause_fraction
    return columns


def config_fingerprint(config: SyntheticRagaConfig) -> str:
    """Short hash of the config and `GENERATOR_VERSION`: the cache folder name of a dataset."""
    fields = dataclasses.asdict(config)
    if config.variant == "standard":
        # Standard configs hash as they did before variants existed, so their cached datasets stay valid.
        del fields["variant"]
    payload = json.dumps({"version": GENERATOR_VERSION, **fields}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def default_cache_dir() -> Path:
    """`$SAM_AUDIO_CACHE/synthetic` if the package cache root is set, else `~/.cache/sam_audio/synthetic`."""
    root = os.environ.get("SAM_AUDIO_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "sam_audio") / "synthetic"


def load_synthetic_dataset(
    config: SyntheticRagaConfig | None = None, cache_dir: str | os.PathLike | None = None
) -> "datasets.Dataset":
    """
    Load the synthetic dataset for `config`, building and caching it on first use.

    The dataset is saved with `Dataset.save_to_disk` under `cache_dir/v{GENERATOR_VERSION}-{hash}`. The build goes
    to a temporary folder next to it that is renamed into place only when complete, so an interrupted build never
    leaves a broken cache and concurrent builders do not clobber each other.

    Args:
        config ([`SyntheticRagaConfig`], *optional*): Dataset to load; the default config when omitted.
        cache_dir (`str` or `os.PathLike`, *optional*): Folder holding the cached datasets; defaults to
            `$SAM_AUDIO_CACHE/synthetic`, or `~/.cache/sam_audio/synthetic` when that variable is unset.

    Returns:
        `datasets.Dataset`: Memory-mapped from the cache.
    """
    import datasets

    config = SyntheticRagaConfig() if config is None else config
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / f"v{GENERATOR_VERSION}-{config_fingerprint(config)}"
    if (target / "dataset_info.json").is_file():
        logger.info(f"Loading synthetic raga dataset from cache {target}")
        return datasets.load_from_disk(str(target))

    logger.info(f"Building synthetic raga dataset ({config.total_seconds / 3600:.2f} h of audio) into {target}")
    start = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=root))
    try:
        build_synthetic_dataset(config).save_to_disk(str(staging))
        try:
            os.replace(staging, target)
        except OSError:
            # Another process finished the same build first; its copy is identical, keep it.
            if not (target / "dataset_info.json").is_file():
                raise
            logger.info(f"Synthetic raga dataset {target} was built concurrently; using that copy")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info(f"Built synthetic raga dataset in {time.perf_counter() - start:.1f} s")
    return datasets.load_from_disk(str(target))


def export_synthetic_dataset(
    config: SyntheticRagaConfig, output_dir: str | os.PathLike, export_format: str = "audiofolder"
) -> "datasets.Dataset":
    """
    Build the dataset for `config` and write it to `output_dir`.

    Args:
        config ([`SyntheticRagaConfig`]): Dataset to build.
        output_dir (`str` or `os.PathLike`): Destination folder (created if needed).
        export_format (`str`, *optional*, defaults to `"audiofolder"`): `"audiofolder"` (one FLAC per row plus
            `metadata.csv`, for `load_dataset("audiofolder", data_dir=...)`), `"parquet"` (`train.parquet` with
            the audio bytes embedded) or `"disk"` (`Dataset.save_to_disk`).

    Returns:
        `datasets.Dataset`: The dataset that was written.
    """
    if export_format not in ("audiofolder", "parquet", "disk"):
        raise ValueError(f"export_format must be one of 'audiofolder', 'parquet', 'disk', got {export_format!r}")
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    dataset = build_synthetic_dataset(config)
    if export_format == "disk":
        dataset.save_to_disk(str(output))
    elif export_format == "parquet":
        dataset.to_parquet(str(output / "train.parquet"))
    else:
        import datasets

        raw = dataset.cast_column("audio", datasets.Audio(decode=False))
        names = [name for name in raw.column_names if name != "audio"]
        with open(output / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_name", *names])
            for row in raw:
                (output / row["audio"]["path"]).write_bytes(row["audio"]["bytes"])
                writer.writerow(
                    [row["audio"]["path"], *(repr(v) if isinstance(v, float) else v for v in map(row.get, names))]
                )
    return dataset


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: `python -m sam_audio_raga.synthetic --output DIR [--format ...]`."""
    import logging as std_logging

    parser = argparse.ArgumentParser(
        prog="python -m sam_audio_raga.synthetic", description="Export a seeded synthetic Carnatic raga dataset."
    )
    parser.add_argument("--output", required=True, help="Destination folder (created if needed).")
    parser.add_argument(
        "--format",
        default="audiofolder",
        choices=("audiofolder", "parquet", "disk"),
        help="audiofolder: FLAC files + metadata.csv; parquet: train.parquet with embedded audio; disk: save_to_disk.",
    )
    defaults = SyntheticRagaConfig()
    parser.add_argument("--recordings-per-raga", type=int, default=defaults.recordings_per_raga)
    parser.add_argument("--clips-per-recording", type=int, default=defaults.clips_per_recording)
    parser.add_argument("--clip-seconds", type=float, default=defaults.clip_seconds)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--variant",
        default=defaults.variant,
        choices=VARIANTS,
        help="standard: clean conditions; hard: concert conditions (faint or Sa-Ma drone, mridangam, violin, pauses, "
        "noise, reverb, band-limiting, pitch drift).",
    )
    args = parser.parse_args(argv)

    std_logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s")
    logger.setLevel(std_logging.INFO)
    try:
        config = SyntheticRagaConfig(
            recordings_per_raga=args.recordings_per_raga,
            clips_per_recording=args.clips_per_recording,
            clip_seconds=args.clip_seconds,
            seed=args.seed,
            variant=args.variant,
        )
    except ValueError as error:
        parser.error(str(error))
    start = time.perf_counter()
    dataset = export_synthetic_dataset(config, args.output, args.format)
    logger.info(
        f"Wrote {len(dataset)} clips ({config.total_seconds / 3600:.2f} h, {len(RAGA_NAMES)} ragas) as "
        f"{args.format} to {args.output} in {time.perf_counter() - start:.1f} s"
    )
    return 0


__all__ = [
    "CONDITION_COLUMNS",
    "GENERATOR_VERSION",
    "VARIANTS",
    "SyntheticRagaConfig",
    "build_synthetic_dataset",
    "config_fingerprint",
    "default_cache_dir",
    "encode_flac",
    "export_synthetic_dataset",
    "load_synthetic_dataset",
    "main",
    "recording_plan",
]
