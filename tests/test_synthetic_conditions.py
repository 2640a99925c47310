"""Tests for the concert conditions of the synthetic corpus's hard variant (`sam_audio_raga.synthetic.conditions`):
each knob, switched on alone over a quiet recording, does what `RecordingConditions` says."""

import dataclasses
import math

import numpy as np
import pytest

from sam_audio_raga.synthetic import (
    RecordingConditions,
    generate_clip,
    sample_recording_conditions,
    sample_recording_style,
    schedule_events,
)
from sam_audio_raga.synthetic.conditions import NARROW_REGISTER
from sam_audio_raga.synthetic.dsp import rms
from sam_audio_raga.synthetic.render import render_recording


SR = 16000
# Every concert condition off: a soloist over a -12 dB Sa-Pa drone, dry and noiseless. Tests switch one on at a time.
QUIET = RecordingConditions(
    drone_level_db=-12.0,
    drone_gaps=False,
    drone_tuning="sa_pa",
    percussion_level_db=-math.inf,
    stroke_rate_hz=6.0,
    violin_shadow=False,
    violin_delay_seconds=0.25,
    violin_level_db=-10.0,
    pause_share=0.0,
    snr_db=math.inf,
    hum_hz=50.0,
    hum_share=0.0,
    babble_share=0.0,
    rt60_seconds=0.5,
    reverb_mix=0.0,
    band_limit="none",
    narrow_register=False,
    pitch_drift_cents=0.0,
    seed=0,
)


def _spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    return np.fft.rfftfreq(len(x), 1.0 / SR), power


def _conditions(**changes) -> RecordingConditions:
    return dataclasses.replace(QUIET, **changes)


def _concert_clip(conditions, seed=0, seconds=6.0, tonic=180.0, **kwargs):
    """A peak-normalized Kalyani clip (voice) under `conditions`."""
    rng = np.random.default_rng(seed)
    return generate_clip("Kalyani", tonic, "voice", seconds=seconds, rng=rng, conditions=conditions, **kwargs)


def _raw_recording(conditions, seed=0, seconds=8.0, tonic=170.0, **kwargs):
    """An unnormalized Todi recording (violin) under `conditions`: the soloist has unit RMS while it sounds."""
    rng = np.random.default_rng(seed)
    style = sample_recording_style(rng)
    n = int(seconds * SR)
    return render_recording("Todi", tonic, "violin", style, n, SR, rng, conditions=conditions, **kwargs)


def _frame_rms(x: np.ndarray, hop: int) -> np.ndarray:
    n = len(x) // hop
    return np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))


def _db(x: float) -> float:
    return 20.0 * math.log10(x)


def test_sampled_conditions_cover_their_ranges():
    draws = [sample_recording_conditions(np.random.default_rng(seed)) for seed in range(600)]

    def values(name):
        return np.array([getattr(c, name) for c in draws])

    for name, low, high in [
        ("drone_level_db", -30.0, -6.0),
        ("percussion_level_db", -15.0, 0.0),
        ("violin_delay_seconds", 0.1, 0.4),
        ("violin_level_db", -14.0, -6.0),
        ("pause_share", 0.0, 0.3),
        ("snr_db", 0.0, 25.0),
        ("rt60_seconds", 0.2, 2.5),
        ("reverb_mix", 0.1, 1.5),
        ("pitch_drift_cents", -35.0, 35.0),
    ]:
        drawn = values(name)
        assert drawn.min() >= low and drawn.max() <= high, name
        assert drawn.min() < low + 0.1 * (high - low) and drawn.max() > high - 0.1 * (high - low), name
    for name, share in [("drone_gaps", 0.3), ("violin_shadow", 0.5), ("narrow_register", 0.3)]:
        assert values(name).mean() == pytest.approx(share, abs=0.07), name
    assert np.mean(values("drone_tuning") == "sa_ma") == pytest.approx(1 / 3, abs=0.07)
    assert np.mean(values("band_limit") != "none") == pytest.approx(0.3, abs=0.07)
    assert np.mean(values("rt60_seconds") > 1.1) == pytest.approx(0.3, abs=0.07)
    assert set(values("hum_hz")) == {50.0, 60.0}
    assert np.mean(values("hum_share") > 0) == pytest.approx(0.5, abs=0.08)
    assert np.mean(values("babble_share") > 0) == pytest.approx(0.5, abs=0.08)


@pytest.mark.parametrize(
    "field, value",
    [
        ("drone_tuning", "sa_ni"),
        ("band_limit", "radio"),
        ("hum_hz", 55.0),
        ("pause_share", 0.8),
        ("babble_share", 1.5),
        ("percussion_level_db", math.inf),
        ("snr_db", math.nan),
        ("seed", -3),
    ],
)
def test_invalid_conditions_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        _conditions(**{field: value})


@pytest.mark.parametrize("seed", range(3))
def test_sa_ma_drone_sounds_ma_instead_of_pa(seed):
    tonic = 150.0 + 20.0 * seed

    def ma_over_pa(tuning):
        clip = _concert_clip(_conditions(drone_tuning=tuning), seed=seed, tonic=tonic, include_melody=False)
        freqs, power = _spectrum(clip)
        near = [power[np.abs(freqs / (ratio * tonic) - 1) < 0.01].max() for ratio in (4 / 3, 3 / 2)]
        return 10 * math.log10(near[0] / near[1])

    # Lower Sa's third harmonic is also Pa, so Pa never vanishes; but Ma appears and outweighs it.
    assert ma_over_pa("sa_ma") > 5.0
    assert ma_over_pa("sa_pa") < -30.0


@pytest.mark.parametrize("kind, low_hz, high_hz", [("telephone", 300.0, 3400.0), ("lowpass", None, 4000.0)])
def test_band_limited_channel_removes_energy_outside_the_band(kind, low_hz, high_hz):
    noisy = {"snr_db": 10.0, "hum_share": 0.2, "babble_share": 0.3}
    for limited in (False, True):
        clip = _concert_clip(_conditions(band_limit=kind if limited else "none", **noisy))
        freqs, power = _spectrum(clip)
        above = power[freqs > high_hz + 300.0].sum() / power.sum()
        below = power[freqs < low_hz - 100.0].sum() / power.sum() if low_hz else 0.0
        if limited:
            assert above < 1e-4 and below < 1e-3, (above, below)
        else:
            assert above > 1e-3, above


def test_pauses_silence_the_melody_for_their_share():
    for seed in range(3):
        conditions = _conditions(pause_share=0.3, seed=seed)
        clip = _concert_clip(conditions, seed=seed, seconds=40.0, include_drone=False)
        level = _frame_rms(clip, SR // 100)
        silent = level < 1e-3 * np.percentile(level, 95)
        pauses = schedule_events(conditions, 40.0).pauses
        assert len(pauses)
        for start, end in pauses:
            assert silent[int(start * 100) + 1 : int(end * 100) - 1].all()
        # Silent stretches over 2.5 s are the pauses (plus any rest next to one): a phrase rest lasts < 1.2 s.
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], silent.astype(int), [0]]))).reshape(-1, 2)).ravel()
        measured = runs[runs >= 250].sum() / len(silent)
        assert measured == pytest.approx(np.sum(pauses[:, 1] - pauses[:, 0]) / 40.0, abs=0.05)


def test_noise_reaches_its_snr_with_hum_and_babble():
    for snr_db in (0.0, 12.0):
        for hum_share, babble_share in [(0.0, 0.0), (0.4, 0.0), (0.0, 0.6), (0.3, 0.5)]:
            kinds = {"hum_share": hum_share, "babble_share": babble_share, "percussion_level_db": -6.0}
            clean = _concert_clip(_conditions(reverb_mix=0.3, **kinds))
            noisy = _concert_clip(_conditions(reverb_mix=0.3, snr_db=snr_db, **kinds))
            # Both are peak-normalized: project out the music, the rest is the noise.
            music = np.dot(noisy, clean) / np.dot(clean, clean) * clean
            assert _db(np.linalg.norm(music) / np.linalg.norm(noisy - music)) == pytest.approx(snr_db, abs=0.3)

    def noise(hum_hz=50.0, **kinds):
        with_noise, _ = _raw_recording(_conditions(snr_db=10.0, hum_hz=hum_hz, **kinds))
        without, _ = _raw_recording(_conditions(hum_hz=hum_hz, **kinds))
        return with_noise - without

    def hum_peak_db(x, hz):
        freqs, power = np.fft.rfftfreq(len(x), 1.0 / SR), np.abs(np.fft.rfft(x)) ** 2
        near = (np.abs(freqs - hz) > 2.0) & (np.abs(freqs - hz) < 8.0)
        return 10 * math.log10(power[np.abs(freqs - hz) < 0.5].sum() / power[near].mean())

    for hum_hz in (50.0, 60.0):
        hummed = noise(hum_hz=hum_hz, hum_share=0.4)
        assert hum_peak_db(hummed, hum_hz) > 15.0 and hum_peak_db(hummed, 3 * hum_hz) > 10.0
    assert hum_peak_db(noise(), 50.0) < 5.0

    def fluctuation(x):
        level = _frame_rms(x, SR // 20)
        return level.std() / level.mean()

    # Murmuring voices come and go; room noise and hum are steady.
    assert fluctuation(noise(babble_share=0.6)) > 0.2 > 0.1 > fluctuation(noise())


def test_drone_and_mridangam_levels_relative_to_the_soloist():
    for db in (-30.0, -6.0):
        melody, _ = _raw_recording(_conditions(drone_level_db=db), include_drone=False)
        both, _ = _raw_recording(_conditions(drone_level_db=db))
        assert _db(rms(both - melody)) == pytest.approx(db, abs=0.05)
    without, _ = _raw_recording(_conditions())
    for db in (-15.0, 0.0):
        with_mridangam, _ = _raw_recording(_conditions(percussion_level_db=db))
        assert _db(rms(with_mridangam - without)) == pytest.approx(db, abs=0.05)


def test_mridangam_is_tuned_to_sa_and_plays_solos_in_pauses():
    tonic = 170.0
    conditions = _conditions(percussion_level_db=0.0, pause_share=0.3, seed=3)
    mridangam, _ = _raw_recording(conditions, seconds=40.0, tonic=tonic, include_melody=False, include_drone=False)
    freqs, power = _spectrum(mridangam)
    band = (freqs > 120.0) & (freqs < 1000.0)
    assert freqs[band][np.argmax(power[band])] / tonic == pytest.approx(1.0, abs=0.02)
    # Strokes are sharp: each starts loud and decays, so the 5 ms level swings widely (a tanpura's: by < 2x).
    level = _frame_rms(mridangam, SR // 200)
    assert np.percentile(level, 95) > 2.5 * np.percentile(level, 25)
    events = schedule_events(conditions, 40.0)
    assert events.solos.any() and not events.solos.all()
    for (start, end), solo in zip(events.pauses, events.solos):
        inside = rms(mridangam[int(start * SR) : int(end * SR)])
        assert (inside > 1.2) if solo else (inside < 1.0), (solo, inside)


def test_drone_gaps_silence_the_drone():
    for seed in range(3):
        gaps = schedule_events(_conditions(drone_gaps=True, seed=seed), 30.0).drone_gaps
        assert len(gaps) >= 1 and np.all(gaps[:, 1] - gaps[:, 0] >= 3.0)
        for drone_gaps in (True, False):
            clip = _concert_clip(_conditions(drone_gaps=drone_gaps, seed=seed), seconds=30.0, include_melody=False)
            level = _frame_rms(clip, SR // 100)
            inside = np.concatenate([level[int(start * 100) + 1 : int(end * 100) - 1] for start, end in gaps])
            if drone_gaps:
                assert inside.max() < 1e-4 * np.median(level)
            else:
                assert inside.min() > 0.1 * np.median(level)


def test_violin_shadows_the_soloist():
    for seed, delay, db in [(0, 0.1, -14.0), (1, 0.4, -6.0), (2, 0.25, -10.0)]:
        conditions = _conditions(violin_shadow=True, violin_delay_seconds=delay, violin_level_db=db)
        both, pitch = _raw_recording(conditions, seed=seed, seconds=12.0, include_drone=False, return_pitch=True)
        soloist, _ = _raw_recording(_conditions(), seed=seed, seconds=12.0, include_drone=False)
        violin = both - soloist
        assert _db(rms(violin, violin != 0)) == pytest.approx(db, abs=1.0)
        # It follows the soloist's phrasing `delay` later...
        soloist_level, violin_level = (_frame_rms(x, SR // 200) for x in (soloist, violin))
        soloist_level -= soloist_level.mean()
        violin_level -= violin_level.mean()
        lags = np.arange(120)
        correlation = [np.dot(soloist_level[: len(soloist_level) - lag], violin_level[lag:]) for lag in lags]
        assert lags[np.argmax(correlation)] / 200 == pytest.approx(delay, abs=0.03)

        # ... on the soloist's pitch of `delay` earlier: the violin repeats with that pitch's period.
        def periodicity(at, hz):
            frame = violin[at : at + 640]
            lag = int(round(SR / hz))
            a, b = frame[:-lag], frame[lag:]
            return np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b))

        shift = int(delay * SR)
        starts = [t for t in range(SR, len(violin) - SR, 320) if np.isfinite(pitch[t - shift + 320])]
        starts = [t for t in starts if rms(violin[t : t + 640]) > 0.3 * 10 ** (db / 20)]
        then = [periodicity(t, pitch[t - shift + 320]) for t in starts]
        now = [periodicity(t, pitch[t + 320]) for t in starts if np.isfinite(pitch[t + 320])]
        assert np.median(then) > 0.75 and np.median(then) > np.median(now) + 0.1


def test_narrow_register_keeps_the_melody_near_sa():
    low, high = NARROW_REGISTER
    for seed in range(3):
        spans = {}
        for narrow in (True, False):
            conditions = _conditions(narrow_register=narrow)
            _, pitch = _concert_clip(conditions, seed=seed, seconds=20.0, include_drone=False, return_pitch=True)
            semitones = 12 * np.log2(pitch[np.isfinite(pitch)] / 180.0)
            spans[narrow] = np.percentile(semitones, [1, 99])
        # Gamakas may swing a few semitones past the top note; the full range reaches tara sthayi.
        assert low - 1.5 < spans[True][0] and spans[True][1] < high + 3.5, spans
        assert spans[False][1] - spans[False][0] > spans[True][1] - spans[True][0] + 3.0, spans


@pytest.mark.parametrize("cents", [35.0, -20.0])
def test_pitch_drift_moves_the_whole_performance(cents):
    def drone_pitch(x):
        n_fft = 1 << 19
        freqs = np.fft.rfftfreq(n_fft, 1.0 / SR)
        power = np.abs(np.fft.rfft(x * np.hanning(len(x)), n_fft))
        near = np.abs(freqs / 200.0 - 1) < 0.03
        return freqs[near][np.argmax(power[near])]

    for drift in (cents, 0.0):
        clip = _concert_clip(_conditions(pitch_drift_cents=drift), seconds=12.0, tonic=200.0, include_melody=False)
        moved = 1200 * math.log2(drone_pitch(clip[-2 * SR :]) / drone_pitch(clip[: 2 * SR]))
        # Windows centred at 1 s and 11 s of 12 s: 10/12 of the drift apart.
        assert moved == pytest.approx(drift * 10 / 12, abs=4.0)
    # The melody drifts with it: near the end its notes sit off the tonic's semitone grid by the drift.
    for drift in (cents, 0.0):
        _, pitch = _concert_clip(_conditions(pitch_drift_cents=drift), seconds=12.0, return_pitch=True)
        last = pitch[-3 * SR :]
        cents_off_grid = (1200 * np.log2(last[np.isfinite(last)] / 180.0) + 50.0) % 100.0 - 50.0
        assert np.median(cents_off_grid) == pytest.approx(drift * 10.5 / 12, abs=8.0)


def test_heavy_reverb_rings_into_a_pause():
    conditions = _conditions(pause_share=0.3, seed=1)
    start = schedule_events(conditions, 30.0).pauses[0, 0]
    tails = {}
    for reverb_mix in (0.0, 1.5):
        clip = _concert_clip(
            dataclasses.replace(conditions, rt60_seconds=2.5, reverb_mix=reverb_mix),
            seed=1,
            seconds=30.0,
            include_drone=False,
        )
        before = rms(clip[int((start - 2.0) * SR) : int((start - 0.3) * SR)])
        tails[reverb_mix] = rms(clip[int((start + 0.5) * SR) : int((start + 1.0) * SR)]) / before
    assert tails[0.0] < 1e-4 and tails[1.5] > 10 ** (-30 / 20), tails
