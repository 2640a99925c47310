"""Tests for the synthetic Carnatic raga corpus (`sam_audio_raga.synthetic`) and its hard variant (`conditions`)."""

import dataclasses
import hashlib
import io
import math

import datasets
import numpy as np
import pytest
import soundfile as sf

from sam_audio_raga.synthetic import (
    CONDITION_COLUMNS,
    GENERATOR_VERSION,
    RAGA_NAMES,
    RAGAS,
    TIMBRES,
    SyntheticRagaConfig,
    build_synthetic_dataset,
    config_fingerprint,
    corpus,
    generate_clip,
    load_synthetic_dataset,
    sample_recording_conditions,
    sample_recording_style,
    schedule_events,
)
from sam_audio_raga.synthetic.corpus import default_cache_dir, encode_flac, main, recording_plan
from sam_audio_raga.synthetic.render import peak_normalize, render_recording


SR = 16000
TINY = SyntheticRagaConfig(recordings_per_raga=1, clips_per_recording=2, clip_seconds=2.0)
HARD = dataclasses.replace(TINY, variant="hard")
BASE_COLUMNS = {"audio", "raga", "recording_id", "tonic_hz", "timbre"}
# Scales from DATASET.md, as pitch classes above Sa.
EXPECTED_SCALES = {
    "Kalyani": (0, 2, 4, 6, 7, 9, 11),
    "Kharaharapriya": (0, 2, 3, 5, 7, 9, 10),
    "Mayamalavagoulai": (0, 1, 4, 5, 7, 8, 11),
    "Todi": (0, 1, 3, 5, 7, 8, 10),
    "Amritavarshini": (0, 4, 6, 7, 11),
    "Hamsanaadam": (0, 2, 6, 7, 11),
    "Varali": (0, 1, 2, 6, 7, 8, 11),
    "Sindhubhairavi": (0, 2, 3, 5, 7, 8, 10),
}


@pytest.fixture(scope="module")
def tiny_dataset():
    return build_synthetic_dataset(TINY)


@pytest.fixture(scope="module")
def hard_dataset():
    return build_synthetic_dataset(HARD)


def _quiet_style(seed: int):
    """A recording style without room or noise, so spectra show the instruments alone."""
    return dataclasses.replace(sample_recording_style(np.random.default_rng(seed)), snr_db=math.inf, reverb_mix=0.0)


def _spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    return np.fft.rfftfreq(len(x), 1.0 / SR), power


def _audio_bytes(ds):
    return ds.data.column("audio").combine_chunks().field("bytes").to_pylist()


def _db(x: float) -> float:
    return 20.0 * math.log10(x)


def test_raga_specs_match_dataset_card():
    assert RAGA_NAMES == (
        "Kalyani",
        "Kharaharapriya",
        "Mayamalavagoulai",
        "Todi",
        "Amritavarshini",
        "Hamsanaadam",
        "Varali",
        "Sindhubhairavi",
    )
    assert tuple(RAGAS) == RAGA_NAMES
    for name, spec in RAGAS.items():
        assert spec.name == name
        assert spec.scale == EXPECTED_SCALES[name]
        assert spec.arohana[0] == 0 and spec.arohana[-1] == 12
        assert spec.avarohana[0] == 12 and spec.avarohana[-1] == 0
        assert len(spec.emphasis) == 12
        allowed = set(spec.scale) | set(spec.foreign_notes)
        for phrase in spec.phrases:
            assert {note % 12 for note in phrase} <= allowed, (name, phrase)
    assert RAGAS["Varali"].arohana == (0, 2, 1, 2, 6, 7, 8, 11, 12)
    assert set(RAGAS["Sindhubhairavi"].foreign_notes) == {1, 4, 9, 11}
    # The four modes of one note set really are rotations of each other.
    modes = [EXPECTED_SCALES[name] for name in ("Kalyani", "Kharaharapriya", "Todi", "Sindhubhairavi")]
    rotations = [{(pc - shift) % 12 for pc in modes[0]} for shift in range(12)]
    assert all(set(mode) in rotations for mode in modes)


@pytest.mark.parametrize("timbre", TIMBRES)
def test_generate_clip_format(timbre):
    clip = generate_clip("Todi", 171.3, timbre, seconds=2.5, sampling_rate=SR, rng=np.random.default_rng(0))
    assert clip.shape == (int(2.5 * SR),)
    assert clip.dtype == np.float32
    assert np.all(np.isfinite(clip))
    assert np.max(np.abs(clip)) == pytest.approx(1.0, abs=1e-6)
    assert np.std(clip) > 0.05  # not a silent clip with one spike


def test_generate_clip_other_sampling_rate_and_long_clip():
    clip = generate_clip("Kalyani", 140.0, "violin", seconds=1.0, sampling_rate=22050, rng=np.random.default_rng(1))
    assert clip.shape == (22050,)
    # A long "concert" renders blockwise: check it is well formed all the way to the end.
    concert = generate_clip("Varali", 200.0, "veena", seconds=60.0, rng=np.random.default_rng(2))
    assert concert.shape == (60 * SR,)
    assert np.all(np.isfinite(concert))
    assert np.std(concert[-SR:]) > 0.01


def test_generate_clip_is_deterministic():
    def make(seed):
        return generate_clip("Hamsanaadam", 190.0, "flute", seconds=2.0, rng=np.random.default_rng(seed))

    np.testing.assert_array_equal(make(5), make(5))
    assert not np.array_equal(make(5), make(6))


@pytest.mark.parametrize("raga", RAGA_NAMES)
def test_pitch_histogram_peaks_on_scale(raga):
    rng = np.random.default_rng(RAGA_NAMES.index(raga))
    tonic = float(rng.uniform(130.0, 280.0))
    timbre = TIMBRES[RAGA_NAMES.index(raga) % len(TIMBRES)]
    _, pitch = generate_clip(raga, tonic, timbre, seconds=40.0, rng=rng, include_drone=False, return_pitch=True)
    pitch = pitch[np.isfinite(pitch)]
    assert len(pitch) > 20 * SR
    cents = (1200 * np.log2(pitch / tonic)) % 1200
    spec = RAGAS[raga]
    scale = list(EXPECTED_SCALES[raga])
    others = [pc for pc in range(12) if pc not in scale and pc not in spec.foreign_notes]

    # Semitone bins: every scale degree is used more than any note foreign to the raga, and glides and gamakas
    # leave most of the time on the scale.
    histogram = np.bincount(np.round(cents / 100).astype(int) % 12, minlength=12) / len(cents)
    assert histogram[scale].min() > histogram[others].max(), histogram.round(3)
    assert histogram[scale].sum() > 0.8, histogram.round(3)

    # 10-cent bins: every prominent peak sits on a swara (gamakas dwell on notes, not between them).
    fine = np.bincount((cents // 10).astype(int) % 120, minlength=120).astype(float)
    fine = np.convolve(np.concatenate([fine[-2:], fine, fine[:2]]), [1, 2, 3, 2, 1], mode="valid")
    peaks = (fine > np.roll(fine, 1)) & (fine >= np.roll(fine, -1)) & (fine >= 0.2 * fine.max())
    allowed = 100 * np.array(scale + list(spec.foreign_notes))
    for peak in np.flatnonzero(peaks) * 10 + 5:
        assert np.min(np.abs((peak - allowed + 600) % 1200 - 600)) <= 40, (peak, allowed)


@pytest.mark.parametrize("seed", range(4))
def test_drone_spectrum_marks_the_tonic(seed):
    rng = np.random.default_rng(seed)
    tonic = float(rng.uniform(130, 280))
    clip = generate_clip("Kalyani", tonic, TIMBRES[seed], seconds=3.0, rng=rng, include_melody=False)
    freqs, power = _spectrum(clip)
    band = (freqs > 50) & (freqs < 1000)
    peak = freqs[band][np.argmax(power[band])]
    ratios = np.array([0.5, 1.0, 1.5, 2.0, 3.0])  # lower Sa, Sa, Pa, upper Sa, upper Pa
    assert np.min(np.abs(peak / (tonic * ratios) - 1)) < 0.02, peak / tonic


def test_full_clip_spectrum_marks_the_tonic():
    tonic = 211.4
    clip = generate_clip("Todi", tonic, "violin", seconds=20.0, rng=np.random.default_rng(3))
    freqs, power = _spectrum(clip)
    band = (freqs > 50) & (freqs < 1000)
    peak = freqs[band][np.argmax(power[band])]
    assert np.min(np.abs(peak / (tonic * np.array([0.5, 1.0, 1.5, 2.0, 3.0])) - 1)) < 0.02, peak / tonic


def test_timbres_differ_in_brightness():
    centroids = {}
    for timbre in TIMBRES:
        values = []
        for seed in range(3):
            clip = generate_clip(
                "Kalyani",
                180.0,
                timbre,
                seconds=4.0,
                rng=np.random.default_rng(seed),
                style=_quiet_style(seed),
                include_drone=False,
            )
            freqs, power = _spectrum(clip)
            values.append(np.sum(freqs * power) / np.sum(power))
        centroids[timbre] = float(np.mean(values))
    ordered = sorted(centroids.values())
    assert min(b / a for a, b in zip(ordered, ordered[1:])) > 1.1, centroids


def test_generate_clip_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="raga"):
        generate_clip("Kalyan", 150.0, "voice", seconds=1.0, rng=rng)
    with pytest.raises(ValueError, match="timbre"):
        generate_clip("Kalyani", 150.0, "sitar", seconds=1.0, rng=rng)
    with pytest.raises(ValueError, match="tonic_hz"):
        generate_clip("Kalyani", 5.0, "voice", seconds=1.0, rng=rng)


@pytest.mark.parametrize(
    "field, value",
    [
        ("recordings_per_raga", 0),
        ("clips_per_recording", 2.5),
        ("clip_seconds", -1.0),
        ("sampling_rate", 100),
        ("tonic_range_hz", (280.0, 130.0)),
        ("tonic_range_hz", (10.0, 130.0)),
        ("snr_range_db", (40.0,)),
        ("timbres", ("voice", "sitar")),
        ("timbres", ()),
        ("seed", -1),
        ("variant", "medium"),
    ],
)
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SyntheticRagaConfig(**{field: value})


def test_hard_variant_rejects_an_snr_range():
    # The hard variant draws its own 0-25 dB; a range given for it would be silently ignored otherwise.
    with pytest.raises(ValueError, match="snr_range_db"):
        SyntheticRagaConfig(variant="hard", snr_range_db=(5.0, 10.0))


def test_recording_plan_balances_tonic_and_timbre():
    config = SyntheticRagaConfig(recordings_per_raga=6, tonic_range_hz=(130.0, 280.0))
    plans = [recording_plan(config, i) for i in range(len(RAGA_NAMES))]
    timbre_counts = [sorted(timbre for _, timbre in plan) for plan in plans]
    assert all(counts == timbre_counts[0] for counts in timbre_counts)
    edges = np.geomspace(130.0, 280.0, 7)
    for plan in plans:
        # One tonic per slice of the (log) range for every raga.
        assert sorted(np.searchsorted(edges, [tonic for tonic, _ in plan]) - 1) == list(range(6))


def test_dataset_columns_labels_and_grouping(tiny_dataset):
    ds = tiny_dataset
    assert len(ds) == len(RAGA_NAMES) * TINY.recordings_per_raga * TINY.clips_per_recording
    assert set(ds.column_names) == BASE_COLUMNS | set(CONDITION_COLUMNS)
    assert ds.features["audio"].sampling_rate == SR
    assert set(ds["raga"]) == set(RAGA_NAMES)
    groups = {}
    for row in ds.select_columns(["raga", "recording_id", "tonic_hz", "timbre"]):
        groups.setdefault(row["recording_id"], set()).add((row["raga"], row["tonic_hz"], row["timbre"]))
    assert all(len(values) == 1 for values in groups.values())
    assert all(recording_id.startswith(next(iter(v))[0] + "-") for recording_id, v in groups.items())
    tonics = np.array(ds["tonic_hz"])
    assert np.all((tonics >= 130.0) & (tonics <= 280.0))
    cents_off_grid = 100 * np.abs(12 * np.log2(tonics / 440.0) - np.round(12 * np.log2(tonics / 440.0)))
    assert cents_off_grid.max() > 5.0


def test_dataset_audio_decodes(tiny_dataset):
    audio = tiny_dataset[0]["audio"]
    array = np.asarray(audio["array"])
    assert audio["sampling_rate"] == SR
    assert array.shape == (int(TINY.clip_seconds * SR),)
    assert np.all(np.isfinite(array))
    assert np.max(np.abs(array)) == pytest.approx(1.0, abs=1e-3)
    raw = tiny_dataset.cast_column("audio", datasets.Audio(decode=False))[0]["audio"]
    assert raw["path"] == "Kalyani-00_00.flac" and raw["bytes"][:4] == b"fLaC"


def test_dataset_is_deterministic(tiny_dataset):
    assert _audio_bytes(build_synthetic_dataset(TINY)) == _audio_bytes(tiny_dataset)
    other = build_synthetic_dataset(dataclasses.replace(TINY, seed=1))
    assert _audio_bytes(other) != _audio_bytes(tiny_dataset)
    assert other["tonic_hz"] != tiny_dataset["tonic_hz"]


def test_standard_variant_is_unchanged_by_the_hard_variant():
    # Decoded PCM and cache names of a tiny standard dataset, recorded before the hard variant existed: the
    # standard corpus and its caches must stay exactly as they were.
    config = SyntheticRagaConfig(recordings_per_raga=1, clips_per_recording=2, clip_seconds=1.0)
    pcm = hashlib.sha256()
    for flac in _audio_bytes(build_synthetic_dataset(config)):
        pcm.update(sf.read(io.BytesIO(flac), dtype="int16")[0].tobytes())
    assert pcm.hexdigest() == "8024eb7e9a4be07f9f2c833382b62ccdd5e40af5d13e05761fba6664d7313553"
    assert config_fingerprint(config) == "38c7f0496f1d"
    assert config_fingerprint(SyntheticRagaConfig()) == "d631ec6522f3"
    hard = dataclasses.replace(config, variant="hard")
    assert config_fingerprint(hard) != config_fingerprint(config)


def test_hard_variant_is_deterministic_and_differs(hard_dataset, tiny_dataset):
    assert _audio_bytes(build_synthetic_dataset(HARD)) == _audio_bytes(hard_dataset)
    assert _audio_bytes(build_synthetic_dataset(dataclasses.replace(HARD, seed=1))) != _audio_bytes(hard_dataset)
    hard_clips, standard_clips = _audio_bytes(hard_dataset), _audio_bytes(tiny_dataset)
    assert all(a != b for a, b in zip(hard_clips, standard_clips))
    # Same plan (raga, tonic, timbre), other conditions.
    assert hard_dataset["tonic_hz"] == tiny_dataset["tonic_hz"] and hard_dataset["timbre"] == tiny_dataset["timbre"]

    # A recording regenerated alone from its seed gives the bytes of the build.
    i, j = RAGA_NAMES.index("Varali"), 0
    tonic, timbre = recording_plan(HARD, i)[j]
    rng = np.random.default_rng([HARD.seed, 1, i, j])
    style = sample_recording_style(rng)
    conditions = sample_recording_conditions(rng)
    clip_samples = int(HARD.clip_seconds * SR)
    audio, _ = render_recording(
        "Varali", tonic, timbre, style, clip_samples * HARD.clips_per_recording, SR, rng, conditions=conditions
    )
    index = hard_dataset["recording_id"].index("Varali-00") + 1  # the second clip
    expected = encode_flac(peak_normalize(audio[clip_samples:]), SR)
    assert hard_clips[index] == expected


def test_condition_columns(tiny_dataset, hard_dataset):
    standard = tiny_dataset.select_columns(list(CONDITION_COLUMNS)).to_pandas()
    assert set(standard["drone_tuning"]) == {"sa_pa"} and standard["percussion_level_db"].eq(-math.inf).all()
    for name in ("drone_gaps", "violin_shadow", "band_limited", "narrow_register"):
        assert not standard[name].any(), name
    assert standard["pause_fraction"].eq(0.0).all() and standard["pitch_drift_cents"].eq(0.0).all()
    assert standard["drone_level_db"].between(_db(0.35), _db(0.8)).all()
    assert standard["snr_db"].between(15.0, 40.0).all()

    hard = hard_dataset.select_columns(["recording_id", *CONDITION_COLUMNS]).to_pandas()
    assert hard["drone_level_db"].between(-30.0, -6.0).all()
    assert set(hard["drone_tuning"]) <= {"sa_pa", "sa_ma"}
    assert hard["percussion_level_db"].between(-15.0, 0.0).all()
    assert hard["pause_fraction"].between(0.0, 1.0).all()
    assert hard["snr_db"].between(0.0, 25.0).all()
    assert hard["rt60_seconds"].between(0.2, 2.5).all() and hard["reverb_mix"].between(0.1, 1.5).all()
    assert hard["pitch_drift_cents"].between(-35.0, 35.0).all()
    # The columns are the conditions each recording drew from its own stream.
    recording_seconds = HARD.clips_per_recording * HARD.clip_seconds
    for i, raga in enumerate(RAGA_NAMES):
        rng = np.random.default_rng([HARD.seed, 1, i, 0])
        sample_recording_style(rng)
        conditions = sample_recording_conditions(rng)
        rows = hard[hard["recording_id"] == f"{raga}-00"]
        assert rows["drone_tuning"].tolist() == [conditions.drone_tuning] * HARD.clips_per_recording
        assert rows["band_limited"].tolist() == [conditions.band_limit != "none"] * HARD.clips_per_recording
        assert rows["pitch_drift_cents"].tolist() == [conditions.pitch_drift_cents] * HARD.clips_per_recording
        pauses = schedule_events(conditions, recording_seconds).pauses
        paused = sum(min(end, recording_seconds) - start for start, end in pauses)
        assert rows["pause_fraction"].mean() == pytest.approx(paused / recording_seconds, abs=1e-9)


def test_recordings_use_independent_random_streams(tiny_dataset):
    # Recording j of raga i depends only on (seed, i, j): regenerating it alone gives the same bytes as the build.
    i, j = RAGA_NAMES.index("Todi"), 0
    tonic, timbre = recording_plan(TINY, i)[j]
    rng = np.random.default_rng([TINY.seed, 1, i, j])
    style = sample_recording_style(rng, TINY.snr_range_db)
    clip_samples = int(TINY.clip_seconds * SR)
    audio, _ = render_recording("Todi", tonic, timbre, style, clip_samples * TINY.clips_per_recording, SR, rng)
    first_clip = peak_normalize(audio[:clip_samples])
    row = tiny_dataset.cast_column("audio", datasets.Audio(decode=False))
    row = row.filter(lambda example: example["recording_id"] == "Todi-00")[0]
    assert row["audio"]["bytes"] == encode_flac(first_clip, SR)


def test_cache_is_built_once_and_reused(tmp_path, monkeypatch, tiny_dataset):
    calls = []

    def counting_build(config):
        calls.append(config)
        return tiny_dataset

    monkeypatch.setattr(corpus, "build_synthetic_dataset", counting_build)
    first = load_synthetic_dataset(TINY, cache_dir=tmp_path)
    second = load_synthetic_dataset(TINY, cache_dir=tmp_path)
    assert len(calls) == 1
    assert second["recording_id"] == first["recording_id"] == tiny_dataset["recording_id"]
    assert [p.name for p in tmp_path.iterdir()] == [f"v{GENERATOR_VERSION}-" + config_fingerprint(TINY)]
    # Another config gets its own folder.
    load_synthetic_dataset(dataclasses.replace(TINY, seed=3), cache_dir=tmp_path)
    assert len(calls) == 2 and len(list(tmp_path.iterdir())) == 2


def test_interrupted_build_leaves_no_cache(tmp_path, monkeypatch):
    def failing_build(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(corpus, "build_synthetic_dataset", failing_build)
    with pytest.raises(KeyboardInterrupt):
        load_synthetic_dataset(TINY, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_defaults_to_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM_AUDIO_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "synthetic"


@pytest.mark.parametrize("export_format", ["audiofolder", "parquet"])
def test_cli_export_reloads(tmp_path, export_format, tiny_dataset):
    output = tmp_path / "export"
    argv = ["--output", str(output), "--format", export_format, "--recordings-per-raga", "1"]
    assert main([*argv, "--clips-per-recording", "2", "--clip-seconds", "2"]) == 0
    if export_format == "audiofolder":
        # Moving the folder must not matter: metadata.csv refers to files by relative name.
        moved = output.rename(tmp_path / "moved")
        reloaded = datasets.load_dataset(
            "audiofolder", data_dir=str(moved), split="train", cache_dir=str(tmp_path / "hf")
        )
    else:
        # Parquet must embed the audio bytes, not refer to files elsewhere.
        moved = output.rename(tmp_path / "moved")
        reloaded = datasets.load_dataset(
            "parquet", data_files=str(moved / "train.parquet"), split="train", cache_dir=str(tmp_path / "hf")
        )
    assert len(reloaded) == len(tiny_dataset)
    assert set(reloaded.column_names) == BASE_COLUMNS | set(CONDITION_COLUMNS)
    # Condition columns keep their types and values, the "no mridangam" -inf included.
    assert reloaded.features["drone_gaps"].dtype == "bool"
    assert reloaded.features["percussion_level_db"].dtype == "float64"
    assert sorted(reloaded["snr_db"]) == sorted(tiny_dataset["snr_db"])
    assert all(value == -math.inf for value in reloaded["percussion_level_db"])
    by_id = dict(zip(tiny_dataset["recording_id"], tiny_dataset["raga"]))
    assert sorted(reloaded["raga"]) == sorted(tiny_dataset["raga"])
    assert all(by_id[rid] == raga for rid, raga in zip(reloaded["recording_id"], reloaded["raga"]))
    array = np.asarray(reloaded[0]["audio"]["array"])
    assert array.shape == (int(TINY.clip_seconds * SR),)
    assert np.max(np.abs(array)) == pytest.approx(1.0, abs=1e-3)


def test_cli_rejects_bad_values(tmp_path):
    with pytest.raises(SystemExit):
        main(["--output", str(tmp_path), "--clip-seconds", "-2"])
    with pytest.raises(SystemExit):
        main(["--output", str(tmp_path), "--variant", "medium"])


def test_cli_exports_the_hard_variant(tmp_path, hard_dataset):
    argv = [
        "--output",
        str(tmp_path / "export"),
        "--format",
        "disk",
        "--variant",
        "hard",
        "--recordings-per-raga",
        "1",
    ]
    assert main([*argv, "--clips-per-recording", "2", "--clip-seconds", "2"]) == 0
    reloaded = datasets.load_from_disk(str(tmp_path / "export"))
    assert _audio_bytes(reloaded) == _audio_bytes(hard_dataset)
    assert reloaded["drone_tuning"] == hard_dataset["drone_tuning"]
