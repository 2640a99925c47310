"""Concert recording conditions: what the hard variant of the synthetic raga corpus adds to a clean rendering.

The standard corpus (`raga_synthesis.py`) is a soloist over a steady Sa-Pa tanpura in a mild room. Concert recordings
are harder: the tanpura is faint, tuned Sa-Ma or missing for a while, a mridangam plays throughout and sometimes
alone, a violin shadows the soloist, the soloist pauses, the room is large, the hall is noisy (mains hum, a murmuring
audience), the recording is band-limited and the whole ensemble drifts in pitch. [`sample_recording_conditions`] draws
these per recording, from the same distributions for every raga, so none of them tells the raga; the functions below
render the parts that are neither the soloist nor the tanpura, and `raga_synthesis.generate_clip(...,
conditions=...)` mixes them.

Example:

```python
>>> import numpy as np
>>> from raga_conditions import sample_recording_conditions
>>> from raga_synthesis import generate_clip
>>> rng = np.random.default_rng(0)
>>> audio = generate_clip("Todi", 151.3, "voice", seconds=20.0, rng=rng, conditions=sample_recording_conditions(rng))
```
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


# Ratio of the first tanpura string to Sa: Pa (a just fifth) or, for ragas without Pa, Ma (a just fourth).
DRONE_TUNINGS = {"sa_pa": 1.5, "sa_ma": 4.0 / 3.0}
# Pass band (low, high) in Hz of each recording channel; `None` for no edge.
BAND_LIMITS = {"none": None, "telephone": (300.0, 3400.0), "lowpass": (None, 4000.0)}
# Melody range of a narrow-register performance, in semitones above Sa: mandra Pa to madhya Pa.
NARROW_REGISTER = (-5, 7)
MAINS_FREQUENCIES = (50.0, 60.0)

# Length of one long melody pause, the least melody between two, and the chance that the mridangam fills a pause
# with a solo.
_PAUSE_SECONDS = (3.0, 8.0)
_MIN_PLAY_SECONDS = 4.0
_SOLO_PROB = 0.35
# Length of one drone gap (silent part), its fades, and the mean drone time between gaps.
_GAP_SECONDS = (3.0, 8.0)
_GAP_FADE_SECONDS = 1.5
_SECONDS_PER_GAP = 45.0
# Weight of each mridangam stroke in the basic pattern and in a solo; "rest" is a silent slot.
_STROKE_WEIGHTS = {
    "rest": (0.2, 0.05),
    "tha": (0.22, 0.25),
    "thom": (0.12, 0.1),
    "nam": (0.2, 0.25),
    "dhin": (0.14, 0.15),
    "chapu": (0.12, 0.2),
}
# Control frames per second of the violin's pitch and bow envelope, as for the soloist.
_CONTROL_RATE_HZ = 500.0


@dataclass(frozen=True)
class RecordingConditions:
    """
    Concert conditions of one recording in the hard variant, drawn by [`sample_recording_conditions`] from the
    ranges given below, the same for every raga. Levels are relative to the soloist's RMS while it sounds.

    Args:
        drone_level_db (`float`): Tanpura RMS relative to the soloist, drawn from [-30, -6] dB: from barely audible
            to clearly present (the standard variant's drone is -9 to -2 dB).
        drone_gaps (`bool`): Whether the tanpura fades out (over 1.5 s) for 3-8 s stretches, about one per 45 s of
            recording and at least one; drawn with probability 0.3.
        drone_tuning (`str`): `"sa_pa"` or `"sa_ma"` (probability 1/3): the first tanpura string sounds Pa (3/2) or
            Ma (4/3) above Sa, so Pa is no longer a safe landmark.
        percussion_level_db (`float`): Mridangam RMS relative to the soloist, drawn from [-15, 0] dB; `-inf` for no
            mridangam. Its right head is tuned to Sa, so its strokes ring on Sa and its harmonics.
        stroke_rate_hz (`float`): Mridangam slots per second in the basic pattern, drawn from [4, 8]; solos play
            twice as densely.
        violin_shadow (`bool`): Whether a violin follows the soloist's pitch contour, a little late; drawn with
            probability 0.5.
        violin_delay_seconds (`float`): Lag of the violin behind the soloist, drawn from [0.1, 0.4] s.
        violin_level_db (`float`): Violin RMS relative to the soloist, drawn from [-14, -6] dB.
        pause_share (`float`): Expected share of the recording in long melody pauses (3-8 s each, at least 4 s of
            melody apart; only drone and mridangam sound; about a third are mridangam solos), drawn from [0, 0.3]
            (at most 0.5).
        snr_db (`float`): Ratio of the music (after the room) to all noise, drawn from [0, 25] dB; `math.inf` adds
            no noise.
        hum_hz (`float`): Mains frequency, 50 or 60 Hz, of the hum and its harmonics.
        hum_share (`float`): Share of the noise power in mains hum: 0 for half the recordings, else [0.05, 0.4].
        babble_share (`float`): Share of the noise power in audience babble (4-8 murmuring voices): 0 for half the
            recordings, else [0.1, 0.6]. The rest of the noise is coloured room noise.
        rt60_seconds (`float`): Reverberation time: [0.2, 1.0] s as in the standard variant, or for 30 % of the
            recordings a large hall of [1.2, 2.5] s.
        reverb_mix (`float`): Level of the reverberant sound relative to the direct sound: [0.1, 0.5], or [0.7, 1.5]
            in a large hall.
        band_limit (`str`): Recording channel: `"none"`, `"telephone"` (300-3400 Hz band-pass, like a phone or old
            tape) or `"lowpass"` (4 kHz low-pass); each band-limited kind with probability 0.15.
        narrow_register (`bool`): Whether the melody stays within `NARROW_REGISTER` (mandra Pa to madhya Pa, about an
            octave around Sa) instead of mandra Pa to tara Pa; drawn with probability 0.3.
        pitch_drift_cents (`float`): Drift of the whole performance (soloist, violin, tanpura and mridangam) from the
            nominal tonic at the start to this offset at the end, drawn from [-35, 35] cents.
        seed (`int`): Seed of the event schedule (pauses, solos, drone gaps), so [`schedule_events`] can recompute
            it from the conditions alone.
    """

    drone_level_db: float
    drone_gaps: bool
    drone_tuning: str
    percussion_level_db: float
    stroke_rate_hz: float
    violin_shadow: bool
    violin_delay_seconds: float
    violin_level_db: float
    pause_share: float
    snr_db: float
    hum_hz: float
    hum_share: float
    babble_share: float
    rt60_seconds: float
    reverb_mix: float
    band_limit: str
    narrow_register: bool
    pitch_drift_cents: float
    seed: int

    def __post_init__(self) -> None:
        for name, choices in (
            ("drone_tuning", DRONE_TUNINGS),
            ("band_limit", BAND_LIMITS),
            ("hum_hz", MAINS_FREQUENCIES),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {tuple(choices)}, got {getattr(self, name)!r}")
        for name, low, high in (
            ("drone_level_db", -120.0, 40.0),
            ("stroke_rate_hz", 0.5, 20.0),
            ("violin_delay_seconds", 0.0, 5.0),
            ("violin_level_db", -120.0, 40.0),
            ("pause_share", 0.0, 0.5),
            ("hum_share", 0.0, 1.0),
            ("babble_share", 0.0, 1.0 - self.hum_share),
            ("rt60_seconds", 0.05, 10.0),
            ("reverb_mix", 0.0, 10.0),
            ("pitch_drift_cents", -1200.0, 1200.0),
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
        if not (self.percussion_level_db == -math.inf or -120.0 <= self.percussion_level_db <= 40.0):
            raise ValueError(f"percussion_level_db must be -inf or in [-120, 40], got {self.percussion_level_db!r}")
        if not (self.snr_db == math.inf or -20.0 <= self.snr_db <= 120.0):
            raise ValueError(f"snr_db must be inf or in [-20, 120], got {self.snr_db!r}")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    def style_overrides(self) -> dict[str, object]:
        """The `raga_synthesis.RecordingStyle` fields these conditions set: drone, register, room and SNR."""
        return {
            "drone_gain": 10.0 ** (self.drone_level_db / 20.0),
            "drone_tuning": self.drone_tuning,
            "register_semitones": NARROW_REGISTER if self.narrow_register else None,
            "rt60_seconds": self.rt60_seconds,
            "reverb_mix": self.reverb_mix,
            "snr_db": self.snr_db,
        }


def sample_recording_conditions(rng: np.random.Generator) -> RecordingConditions:
    """
    Draw the concert conditions of one recording, each independently and from the same distribution for every raga
    (see [`RecordingConditions`] for the ranges). Every value is drawn whether or not its condition is on, so the
    stream of draws, and with it every later draw from `rng`, has the same structure for every recording.

    Args:
        rng (`numpy.random.Generator`): Source of randomness.

    Returns:
        [`RecordingConditions`]: The conditions.
    """
    drone_level_db, percussion_level_db = rng.uniform(-30.0, -6.0), rng.uniform(-15.0, 0.0)
    # Chances of a drone gap, a Sa-Ma drone, a violin, a large hall, a narrow register and a band-limited channel.
    switches = rng.random(6) < np.array([0.3, 1 / 3, 0.5, 0.3, 0.3, 0.3])
    drone_gaps, sa_ma, violin_shadow, heavy_reverb, narrow, band_limited = switches
    hum_on, babble_on = rng.random(2) < 0.5
    hum_share, babble_share = rng.uniform(0.05, 0.4), rng.uniform(0.1, 0.6)
    rt60 = rng.uniform(1.2, 2.5) if heavy_reverb else rng.uniform(0.2, 1.0)
    reverb_mix = rng.uniform(0.7, 1.5) if heavy_reverb else rng.uniform(0.1, 0.5)
    channel = str(rng.choice(("telephone", "lowpass")))
    return RecordingConditions(
        drone_level_db=float(drone_level_db),
        drone_gaps=bool(drone_gaps),
        drone_tuning="sa_ma" if sa_ma else "sa_pa",
        percussion_level_db=float(percussion_level_db),
        stroke_rate_hz=float(rng.uniform(4.0, 8.0)),
        violin_shadow=bool(violin_shadow),
        violin_delay_seconds=float(rng.uniform(0.1, 0.4)),
        violin_level_db=float(rng.uniform(-14.0, -6.0)),
        pause_share=float(rng.uniform(0.0, 0.3)),
        snr_db=float(rng.uniform(0.0, 25.0)),
        hum_hz=float(rng.choice(MAINS_FREQUENCIES)),
        hum_share=float(hum_share) if hum_on else 0.0,
        babble_share=float(babble_share) if babble_on else 0.0,
        rt60_seconds=float(rt60),
        reverb_mix=float(reverb_mix),
        band_limit=channel if band_limited else "none",
        narrow_register=bool(narrow),
        pitch_drift_cents=float(rng.uniform(-35.0, 35.0)),
        seed=int(rng.integers(2**63 - 1)),
    )


@dataclass(frozen=True)
class ConcertEvents:
    """
    Timed events of one recording, in seconds from its start.

    Args:
        pauses (`np.ndarray` of shape `(num_pauses, 2)`): Start and end of each long melody pause; the soloist fades
            out over 0.25 s before the start and back in after the end, and is silent in between.
        solos (`np.ndarray` of shape `(num_pauses,)`): Whether the mridangam plays a dense solo during each pause.
        drone_gaps (`np.ndarray` of shape `(num_gaps, 2)`): Start and end of each stretch without tanpura (it fades
            out over 1.5 s before the start and back in after the end).
    """

    pauses: np.ndarray
    solos: np.ndarray
    drone_gaps: np.ndarray


def schedule_events(conditions: RecordingConditions, seconds: float) -> ConcertEvents:
    """
    The pauses, solos and drone gaps of a recording of `seconds`, from `conditions.seed` alone.

    Args:
        conditions ([`RecordingConditions`]): Conditions of the recording.
        seconds (`float`): Length of the recording.

    Returns:
        [`ConcertEvents`]: The events, sorted by time and within `[0, seconds]`.
    """
    rng = np.random.default_rng([conditions.seed, 0])
    pauses = []
    if conditions.pause_share > 0:
        # Stretches of melody between pauses: at least `_MIN_PLAY_SECONDS`, so no 20 s clip is all pause, plus an
        # exponential part whose mean gives `pause_share` on average.
        mean_pause = sum(_PAUSE_SECONDS) / 2
        mean_play = mean_pause * (1.0 - conditions.pause_share) / conditions.pause_share
        start = rng.exponential(mean_play)
        while start < seconds:
            length = rng.uniform(*_PAUSE_SECONDS)
            pauses.append((start, min(start + length, seconds)))
            start += length + _MIN_PLAY_SECONDS + rng.exponential(mean_play - _MIN_PLAY_SECONDS)
    solos = rng.random(len(pauses)) < _SOLO_PROB
    gaps = np.zeros((0, 2))
    if conditions.drone_gaps:
        gap_rng = np.random.default_rng([conditions.seed, 1])
        count = max(1, int(gap_rng.poisson(seconds / _SECONDS_PER_GAP)))
        lengths = np.minimum(gap_rng.uniform(*_GAP_SECONDS, size=count), 0.4 * seconds)
        starts = gap_rng.uniform(0.0, 1.0, size=count) * (seconds - lengths)
        gaps = np.stack([starts, starts + lengths], axis=1)[np.argsort(starts)]
    return ConcertEvents(pauses=np.array(pauses).reshape(-1, 2), solos=solos, drone_gaps=gaps)


def mute(audio: np.ndarray, intervals: np.ndarray, fade: int, fill: float = 0.0) -> np.ndarray:
    """
    Silence `audio` in place over each `(start, end)` interval (in samples), with raised-cosine fades of `fade`
    samples outside the interval, and return it.

    Args:
        audio (`np.ndarray`): Signal, changed in place.
        intervals (`np.ndarray` of shape `(num_intervals, 2)`): Start and end sample of each silent stretch.
        fade (`int`): Length of the fade-out before and the fade-in after each interval.
        fill (`float`, *optional*, defaults to 0.0): Value inside the intervals (NaN for a pitch track).

    Returns:
        `np.ndarray`: `audio` itself.
    """
    down = (0.5 + 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / max(fade, 1))).astype(audio.dtype)
    for start, end in np.asarray(intervals).reshape(-1, 2):
        lo, hi = (int(np.clip(round(x), 0, len(audio))) for x in (start, end))
        audio[lo:hi] = fill
        if fade > 0:
            before, after = max(0, lo - fade), min(len(audio), hi + fade)
            audio[before:lo] *= down[fade - (lo - before) :]
            audio[hi:after] *= down[::-1][: after - hi]
    return audio


def fit_register(phrase: Sequence[int], low: int, high: int) -> list[int]:
    """
    Move a phrase (semitones above Sa) into the register `[low, high]`: shift it by the octave that keeps most notes
    inside, then fold any note still outside by octaves, so pitch classes, and with them the raga, are unchanged.
    """
    if high - low < 11:
        raise ValueError(f"(low, high) must span at least 11 semitones to hold every pitch class, got {(low, high)}")
    shift = max((0, -12, 12, -24, 24), key=lambda s: sum(low <= n + s <= high for n in phrase))
    notes = []
    for note in phrase:
        note += shift
        if note < low:
            note += 12 * math.ceil((low - note) / 12)
        elif note > high:
            note -= 12 * math.ceil((note - high) / 12)
        notes.append(note)
    return notes


class PitchDrift:
    """
    Slow drift of a whole performance by `cents` from its start to its end, as a tape or turntable running slowly
    faster (or slower) would give: the recording at sample `n` plays the performance at a rate of
    `2 ** (cents * n / n_samples / 1200)`. Render the performance to `input_length` samples, then [`PitchDrift.apply`]
    returns the `n_samples` of the recording. The tempo changes with the pitch, by at most 2 % for 35 cents.

    Args:
        n_samples (`int`): Length of the recording.
        cents (`float`): Pitch offset at the end of the recording.
    """

    def __init__(self, n_samples: int, cents: float):
        self.n_samples = n_samples
        self.cents = float(cents)
        self._slope = math.log(2.0) * self.cents / (1200.0 * n_samples)  # log rate per sample

    def positions(self, samples: np.ndarray) -> np.ndarray:
        """Performance-time position (float samples) heard at recording samples `samples`: the rate's running sum."""
        samples = np.asarray(samples, dtype=np.float64)
        if self._slope == 0.0:
            return samples
        return np.expm1(self._slope * samples) / math.expm1(self._slope)

    @property
    def input_length(self) -> int:
        """Samples of performance the recording needs, with the margin of the 4-point interpolation."""
        return int(math.ceil(float(self.positions(self.n_samples - 1)))) + 3

    def apply(self, audio: np.ndarray, block: int = 1 << 16) -> np.ndarray:
        """
        The recording (float32, `n_samples`) of a performance of at least `input_length` samples; blocks of 64 k
        samples keep the interpolation's temporaries in cache, twice as fast as one pass over 1 M samples.
        """
        if self.cents == 0.0:
            return audio[: self.n_samples].astype(np.float32)
        out = np.empty(self.n_samples, dtype=np.float32)
        for lo in range(0, self.n_samples, block):
            position = self.positions(np.arange(lo, min(lo + block, self.n_samples)))
            index = position.astype(np.int64)
            t = (position - index).astype(np.float32)
            # Index -1 wraps to the end, harmlessly: it only occurs at position 0, where t = 0 reads y1 alone.
            y0, y1, y2, y3 = (audio[index + k] for k in (-1, 0, 1, 2))
            # Catmull-Rom: linear interpolation would dull the highs a little more at every half-sample offset,
            # which the slowly sliding offset turns into an audible flutter.
            out[lo : lo + len(t)] = y1 + 0.5 * t * (
                y2 - y0 + t * (2 * y0 - 5 * y1 + 4 * y2 - y3 + t * (3 * (y1 - y2) + y3 - y0))
            )
        return out

    def apply_to_pitch(self, pitch_hz: np.ndarray) -> np.ndarray:
        """The pitch track (Hz, NaN where silent) of the recording, from that of the performance."""
        samples = np.arange(self.n_samples)
        index = np.rint(self.positions(samples)).astype(np.int64)
        rate = np.exp(self._slope * samples).astype(np.float32)
        return pitch_hz[index] * rate


def render_mridangam(
    tonic_hz: float,
    n_samples: int,
    sampling_rate: int,
    conditions: RecordingConditions,
    solos: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """
    Mridangam accompaniment at `conditions.percussion_level_db` (RMS relative to a unit-RMS soloist): a two-bar
    pattern of tha, thom, nam, dhin and chapu strokes (the main bar three times, then its variation) with
    accented first and fifth slots, random substitutions and timing jitter, and twice as dense, louder free strokes
    during `solos`.

    Args:
        tonic_hz (`float`): Sa, the pitch of the right head.
        n_samples (`int`): Length.
        sampling_rate (`int`): Sampling rate in Hz.
        conditions ([`RecordingConditions`]): Stroke rate and level.
        solos (`np.ndarray` of shape `(num_solos, 2)`): Start and end sample of each solo, sorted, not overlapping.
        rng (`numpy.random.Generator`): Source of randomness.

    Returns:
        `np.ndarray` of shape `(n_samples,)`, float32.
    """
    names = list(_STROKE_WEIGHTS)
    basic, dense = (np.array([w[k] for w in _STROKE_WEIGHTS.values()]) for k in (0, 1))
    basic, dense = basic / basic.sum(), dense / dense.sum()
    # Two takes of each stroke, so repeated strokes are not identical.
    kernels = [[_stroke(name, tonic_hz, sampling_rate, rng) for _ in range(2)] for name in names]
    rate = conditions.stroke_rate_hz
    slot = np.arange(int(n_samples / sampling_rate * rate) + 2)
    bars = rng.choice(len(names), size=(2, 8), p=basic)
    bars[:, 0] = rng.choice([names.index("thom"), names.index("dhin")], size=2)
    kinds = bars[((slot // 8) % 4 == 3).astype(np.int64), slot % 8]
    kinds = np.where(rng.random(len(slot)) < 0.15, rng.choice(len(names), size=len(slot), p=basic), kinds)
    times = (slot + rng.uniform(0.0, 1.0)) / rate + rng.normal(0.0, 0.004, size=len(slot))
    gains_db = rng.normal(0.0, 2.0, size=len(slot)) + 3.0 * (slot % 8 == 0) + 1.5 * (slot % 8 == 4)
    solos = np.asarray(solos, dtype=np.float64).reshape(-1, 2) / sampling_rate
    which = np.searchsorted(solos[:, 0], times, side="right") - 1
    keep = (which < 0) | (times >= np.append(solos[:, 1], 0.0)[which])  # which = -1 reads the appended 0
    kinds, times, gains_db = kinds[keep], times[keep], gains_db[keep]
    for start, end in solos:
        solo_times = np.arange(start, end, 0.5 / rate)
        solo_times += rng.normal(0.0, 0.003, size=len(solo_times))
        kinds = np.concatenate([kinds, rng.choice(len(names), size=len(solo_times), p=dense)])
        times = np.concatenate([times, solo_times])
        gains_db = np.concatenate([gains_db, 4.0 + rng.normal(0.0, 2.0, size=len(solo_times))])
    takes = rng.integers(2, size=len(kinds))
    starts = np.clip(np.round(times * sampling_rate).astype(np.int64), 0, n_samples)
    gains = (10.0 ** (gains_db / 20.0)).astype(np.float32)
    out = np.zeros(n_samples + max(len(k) for pair in kernels for k in pair), dtype=np.float32)
    # One slice add per stroke: a few thousand strokes in a concert cost less than convolving impulse trains.
    for start, kind, take, gain in zip(starts, kinds, takes, gains):
        if kind:
            kernel = kernels[kind][take]
            out[start : start + len(kernel)] += gain * kernel
    out = out[:n_samples]
    out *= 10.0 ** (conditions.percussion_level_db / 20.0) / (rms(out) or 1.0)
    return out


def _stroke(name: str, tonic_hz: float, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One mridangam stroke, peak 1: damped modes of the heads after a noisy attack (empty for a rest)."""
    if name == "rest":
        return np.zeros(1, dtype=np.float32)
    # (mode frequencies in Hz, amplitudes, decay times in s, attack noise level, attack decay in s, low-pass attack)
    if name == "tha":  # closed slap on the bass head: a dull thud
        modes = ([rng.uniform(90.0, 120.0)], [0.6], [0.03])
        attack = (1.0, 0.01, True)
    elif name == "thom":  # open bass head; its pitch falls as the struck skin relaxes
        modes = ([rng.uniform(75.0, 100.0)], [1.0], [0.25])
        attack = (0.5, 0.005, True)
    else:  # right head, tuned to Sa: the loaded membrane rings in near-harmonic modes
        harmonics, amplitudes, decays, level = {
            "nam": ([1, 2, 3, 4, 5], [1.0, 0.8, 0.55, 0.4, 0.25], [0.35, 0.22, 0.15, 0.1, 0.07], 0.6),
            "dhin": ([1, 2, 3], [1.0, 0.3, 0.12], [0.7, 0.3, 0.15], 0.3),
            "chapu": ([2, 3, 4, 5, 6], [0.5, 1.0, 0.8, 0.6, 0.4], [0.25, 0.2, 0.12, 0.08, 0.06], 0.8),
        }[name]
        modes = (
            tonic_hz * np.array(harmonics) * (1.0 + rng.normal(0.0, 0.003, size=len(harmonics))),
            amplitudes,
            decays,
        )
        attack = (level, 0.003, False)
    freqs, amplitudes, decays = (np.asarray(x, dtype=np.float64) for x in modes)
    length = int(min(1.5, 5.0 * decays.max()) * sampling_rate)
    t = np.arange(length) / sampling_rate
    # The falling pitch of thom, by 25 % in the first ~40 ms; the other strokes hold theirs.
    bend = 1.0 + (0.25 * np.exp(-t / 0.04) if name == "thom" else np.zeros_like(t))
    cycles = np.cumsum(np.multiply.outer(freqs, bend), axis=1) / sampling_rate
    ring = (
        amplitudes[:, None]
        * np.exp(-t / decays[:, None])
        * np.sin(2 * np.pi * cycles + rng.uniform(0, 2 * np.pi, size=(len(freqs), 1)))
    )
    stroke = ring[freqs < 0.45 * sampling_rate].sum(axis=0)
    level, decay, dull = attack
    noise = rng.standard_normal(length) * np.exp(-t / decay)
    if dull:
        noise = box_filters(noise, (max(1, sampling_rate // 800),))[0]
    stroke += level * noise / max(float(np.max(np.abs(noise))), 1e-12)
    return (stroke / max(float(np.max(np.abs(stroke))), 1e-12)).astype(np.float32)


def render_violin_shadow(
    pitch_hz: np.ndarray, sampling_rate: int, conditions: RecordingConditions, rng: np.random.Generator
) -> np.ndarray:
    """
    A violin following the soloist `conditions.violin_delay_seconds` late, at `conditions.violin_level_db` relative
    to a unit-RMS soloist: the same pitch contour smoothed over 40 ms (it follows the phrase, not every flick of a
    gamaka) with its own vibrato, a bright bowed timbre and a bow envelope that follows the soloist's voicing.

    Args:
        pitch_hz (`np.ndarray`): The soloist's pitch per sample, NaN where it is silent.
        sampling_rate (`int`): Sampling rate in Hz.
        conditions ([`RecordingConditions`]): Delay and level.
        rng (`numpy.random.Generator`): Source of randomness.

    Returns:
        `np.ndarray` of the shape of `pitch_hz`, float32; silent if the soloist never sounds.
    """
    n = len(pitch_hz)
    hop = max(1, round(sampling_rate / _CONTROL_RATE_HZ))
    frame_rate = sampling_rate / hop
    delay = max(1, round(conditions.violin_delay_seconds * frame_rate))
    frames = np.concatenate([np.full(delay, np.nan), pitch_hz[::hop].astype(np.float64)])[: -(-n // hop)]
    voiced = np.isfinite(frames)
    if not voiced.any():
        return np.zeros(n, dtype=np.float32)
    # Hold the last note through rests, so the bow fades on its pitch and the phase runs on smoothly.
    last = np.maximum.accumulate(np.where(voiced, np.arange(len(frames)), 0))
    held = np.where(np.arange(len(frames)) < np.argmax(voiced), frames[np.argmax(voiced)], frames[last])
    semitone = box_filters(12.0 * np.log2(held), (max(1, round(0.04 * frame_rate)),))[0]
    times = np.arange(len(frames)) / frame_rate
    semitone += rng.uniform(0.08, 0.2) * np.sin(2 * np.pi * rng.uniform(5.0, 6.5) * times)
    f0 = 2.0 ** (semitone / 12.0)
    envelope = box_filters(voiced.astype(np.float64), (max(1, round(0.06 * frame_rate)),))[0]
    # Bow pressure wanders by about 2 dB over half a second.
    wander = box_filters(rng.standard_normal(len(frames)), (max(1, round(0.5 * frame_rate)),))[0]
    envelope *= 10.0 ** (0.1 * wander / max(float(wander.std()), 1e-12))

    # Octave-band wavetables: each holds the harmonics that stay below the ceiling at the top of its band.
    table_size, base_hz = 1024, 50.0
    n_bands = max(1, int(math.ceil(math.log2(0.45 * sampling_rate / base_hz))))
    tables = np.zeros((n_bands, table_size + 1), dtype=np.float32)
    phases = rng.uniform(0, 2 * np.pi, size=table_size // 2)
    bright = rng.uniform(2000.0, 3500.0)
    for band in range(n_bands):
        k = np.arange(1, max(1, int(0.45 * sampling_rate / (base_hz * 2.0 ** (band + 1)))) + 1)
        k = k[k < table_size // 2]
        hz = base_hz * 2.0 ** (band + 0.5) * k
        amplitude = k**-0.8 * (0.4 + 1.5 * np.exp(-0.5 * (np.log2(hz / bright) / 0.6) ** 2))
        wave = np.sin(2 * np.pi * np.outer(np.arange(table_size) / table_size, k) + phases[: len(k)]) @ amplitude
        tables[band, :table_size] = wave / max(float(np.sqrt(np.mean(wave**2))), 1e-12)
    tables[:, table_size] = tables[:, 0]
    band = np.clip(np.floor(np.log2(f0 / base_hz)), 0, n_bands - 1).astype(np.int64)

    step = (f0 / sampling_rate).astype(np.float32)  # cycles per sample within each frame
    start = (np.concatenate([[0.0], np.cumsum(f0 * hop / sampling_rate)[:-1]]) % 1.0).astype(np.float32)
    row = band * (table_size + 1)
    level = envelope.astype(np.float32)
    flat = tables.ravel()
    ramp = np.arange(hop, dtype=np.float32)
    wave = np.empty(len(frames) * hop, dtype=np.float32)
    # 2048 frames (64 k samples) at a time keep the temporaries in cache.
    for first in range(0, len(frames), 2048):
        part = slice(first, first + 2048)
        position = (start[part, None] + step[part, None] * ramp).ravel()
        position %= 1.0
        position *= table_size
        index = np.minimum(position.astype(np.int64), table_size - 1)
        position -= index  # the fraction between table points
        index += np.repeat(row[part], hop)
        block = flat[index]
        block += position * (flat[index + 1] - block)
        block *= np.repeat(level[part], hop)
        wave[first * hop : first * hop + len(block)] = block
    wave = wave[:n]
    wave *= 10.0 ** (conditions.violin_level_db / 20.0) / (rms(wave, np.repeat(level > 0.5, hop)[:n]) or 1.0)
    return wave


def mains_hum(n_samples: int, sampling_rate: int, hum_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS mains hum: `hum_hz` and its harmonics, odd ones stronger (a buzzing ground loop), float32."""
    common = math.gcd(sampling_rate, int(hum_hz))
    length, periods = sampling_rate // common, int(hum_hz) // common  # an exact loop of whole periods
    k = np.arange(1, 21)
    k = k[k * hum_hz < 0.45 * sampling_rate]
    amplitude = (
        k ** -rng.uniform(0.6, 1.2)
        * np.where(k % 2 == 1, 1.0, rng.uniform(0.2, 0.6))
        * rng.uniform(0.5, 1.0, size=len(k))
    )
    phase = np.outer(np.arange(length) * periods / length, k) * 2 * np.pi + rng.uniform(0, 2 * np.pi, size=len(k))
    loop = np.sin(phase) @ amplitude
    loop = (loop / max(float(np.sqrt(np.mean(loop**2))), 1e-12)).astype(np.float32)
    return np.tile(loop, n_samples // length + 1)[:n_samples]


def crowd_babble(n_samples: int, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
    """
    Unit-RMS audience babble, float32: 4-8 voices, each speech-band noise under its own syllable-rate envelope
    (about 4 Hz) and talking/silent stretches of about a second.
    """
    hop = max(1, sampling_rate // 100)
    n_frames = -(-n_samples // hop)
    # One 7.3 s loop of band noise serves every voice at its own offset: under independent envelopes the repeat is
    # inaudible, and filtering a loop instead of the whole recording halves the cost of the babble.
    loop_frames = min(n_frames, 730)
    white = rng.standard_normal(loop_frames * hop, dtype=np.float32)
    # Difference of two moving averages: a band of roughly 300 Hz to 5 kHz, where speech has its energy.
    low, high = box_filters(white, (max(1, sampling_rate // 6000), max(2, sampling_rate // 300)))
    low -= high
    # (frames, hop) views, so a frame-rate envelope multiplies by broadcasting instead of being repeated per sample.
    band = np.tile(low.reshape(loop_frames, hop), (-(-n_frames // loop_frames), 1))[:n_frames]
    out = np.zeros((n_frames, hop), dtype=np.float32)
    for _ in range(int(rng.integers(4, 9))):
        syllables = np.maximum(box_filters(rng.standard_normal(n_frames), (7,))[0], 0.0) ** 1.5
        talking = box_filters(rng.standard_normal(n_frames), (100,))[0] > -0.05
        level = box_filters(syllables * talking, (3,))[0].astype(np.float32)[:, None]
        # Each voice reads the shared band noise from its own offset: independent voices for one noise draw.
        shift = int(rng.integers(n_frames))
        out[: n_frames - shift] += level[: n_frames - shift] * band[shift:]
        out[n_frames - shift :] += level[n_frames - shift :] * band[:shift]
    out = out.ravel()[:n_samples]
    out /= rms(out) or 1.0
    return out


def concert_noise(
    room_noise: np.ndarray, conditions: RecordingConditions, sampling_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """
    Unit-RMS hall noise: `room_noise` (unit RMS, changed in place) with mains hum and audience babble mixed in at
    their shares of the noise power.

    Args:
        room_noise (`np.ndarray`): Unit-RMS background noise; its share is what hum and babble leave.
        conditions ([`RecordingConditions`]): Mains frequency and the hum and babble shares.
        sampling_rate (`int`): Sampling rate in Hz.
        rng (`numpy.random.Generator`): Source of randomness.

    Returns:
        `np.ndarray`, float32, unit RMS.
    """
    n = len(room_noise)
    room_noise *= math.sqrt(max(0.0, 1.0 - conditions.hum_share - conditions.babble_share))
    if conditions.hum_share > 0:
        room_noise += math.sqrt(conditions.hum_share) * mains_hum(n, sampling_rate, conditions.hum_hz, rng)
    if conditions.babble_share > 0:
        room_noise += math.sqrt(conditions.babble_share) * crowd_babble(n, sampling_rate, rng)
    room_noise /= rms(room_noise) or 1.0
    return room_noise


def band_limit(audio: np.ndarray, kind: str, sampling_rate: int) -> np.ndarray:
    """
    Pass `audio` through a recording channel from `BAND_LIMITS`: a linear-phase windowed-sinc FIR (Blackman, so the
    stop band is ~70 dB down ~1/80 of the sampling rate past each edge); `"none"` returns `audio` itself.
    """
    if kind not in BAND_LIMITS:
        raise ValueError(f"band_limit must be one of {tuple(BAND_LIMITS)}, got {kind!r}")
    if BAND_LIMITS[kind] is None:
        return audio
    low, high = BAND_LIMITS[kind]
    taps = 2 * (sampling_rate // 80) + 1
    m = np.arange(taps) - taps // 2
    kernel = np.zeros(taps)
    for edge, sign in ((high, 1.0), (low, -1.0)):
        if edge is not None and edge < 0.49 * sampling_rate:
            kernel += sign * 2 * edge / sampling_rate * np.sinc(2 * edge / sampling_rate * m)
        elif edge is not None:  # an edge above Nyquist passes everything below it
            kernel[taps // 2] += sign
    kernel *= np.blackman(taps)
    half = taps // 2
    # Pad, convolve and drop the first `half` samples: the FIR's delay, so the channel does not shift the audio.
    # Blocks of 2**16 - taps + 1 samples fill a 2**16-point FFT exactly.
    padded = np.concatenate([audio, np.zeros(half, dtype=audio.dtype)])
    return fft_convolve(padded, kernel, block=(1 << 16) - taps + 1)[half:]


def fft_convolve(signal: np.ndarray, kernel: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """Overlap-add FFT convolution truncated to `len(signal)`; blockwise so a long concert stays small in memory."""
    block = max(1, min(block, len(signal)))
    n_fft = 1 << int(math.ceil(math.log2(block + len(kernel) - 1)))
    spectrum = np.fft.rfft(kernel.astype(np.float32), n_fft)
    out = np.zeros(len(signal) + n_fft, dtype=np.float32)
    for start in range(0, len(signal), block):
        segment = signal[start : start + block]
        out[start : start + n_fft] += np.fft.irfft(np.fft.rfft(segment, n_fft) * spectrum, n_fft).astype(np.float32)
    return out[: len(signal)]


def box_filters(x: np.ndarray, widths: Sequence[int]) -> list[np.ndarray]:
    """Centred, edge-padded moving averages of `x` for several widths from one cumulative sum (linear time)."""
    pad = max(widths)
    csum = np.empty(len(x) + 2 * pad + 1, dtype=np.float64)
    csum[0] = 0.0
    np.cumsum(np.pad(x, pad, mode="edge"), dtype=np.float64, out=csum[1:])
    window_sum = np.empty(len(x), dtype=np.float64)
    out = []
    for width in widths:
        first = pad - width // 2  # the window of output i covers padded[i + first : i + first + width]
        np.subtract(csum[first + width : first + width + len(x)], csum[first : first + len(x)], out=window_sum)
        window_sum /= width
        out.append(window_sum.astype(x.dtype))
    return out


def rms(x: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Root mean square (over `mask` if given), 0 when empty; chunked so a long float32 array needs no float64 copy."""
    total, count, chunk = 0.0, 0, 1 << 20
    for start in range(0, len(x), chunk):
        part = np.square(x[start : start + chunk], dtype=np.float64)
        if mask is not None:
            part = part[mask[start : start + chunk]]
        total += float(part.sum())
        count += len(part)
    return math.sqrt(total / count) if count else 0.0


__all__ = [
    "BAND_LIMITS",
    "DRONE_TUNINGS",
    "MAINS_FREQUENCIES",
    "NARROW_REGISTER",
    "ConcertEvents",
    "PitchDrift",
    "RecordingConditions",
    "band_limit",
    "box_filters",
    "concert_noise",
    "crowd_babble",
    "fft_convolve",
    "fit_register",
    "mains_hum",
    "mute",
    "render_mridangam",
    "render_violin_shadow",
    "rms",
    "sample_recording_conditions",
    "schedule_events",
]
