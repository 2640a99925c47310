"""Concert recording conditions: what the hard variant of the synthetic raga corpus adds to a clean rendering.

The standard corpus (`render.py`) is a soloist over a steady Sa-Pa tanpura in a mild room. Concert recordings are
harder: the tanpura is faint, tuned Sa-Ma or missing for a while, a mridangam plays throughout and sometimes alone, a
violin shadows the soloist, the soloist pauses, the room is large, the hall is noisy (mains hum, a murmuring
audience), the recording is band-limited and the whole ensemble drifts in pitch. [`sample_recording_conditions`] draws
these per recording, from the same distributions for every raga, so none of them tells the raga. This module holds
the knobs ([`RecordingConditions`]), their event schedule (pauses, solos, drone gaps), the register fold and the pitch
drift; `accompaniment.py` renders the parts that are neither the soloist nor the tanpura, and
`render.generate_clip(..., conditions=...)` mixes them.

Example:

```python
>>> import numpy as np
>>> from sam_audio_raga.synthetic import generate_clip, sample_recording_conditions
>>> rng = np.random.default_rng(0)
>>> audio = generate_clip("Todi", 151.3, "voice", seconds=20.0, rng=rng, conditions=sample_recording_conditions(rng))
```
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .dsp import BAND_LIMITS


# Ratio of the first tanpura string to Sa: Pa (a just fifth) or, for ragas without Pa, Ma (a just fourth).
DRONE_TUNINGS = {"sa_pa": 1.5, "sa_ma": 4.0 / 3.0}
# Melody range of a narrow-register performance, in semitones above Sa: mandra Pa to madhya Pa.
NARROW_REGISTER = (-5, 7)
# Mains frequencies in Hz, of the hum and its harmonics.
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
        """The `style.RecordingStyle` fields these conditions set: drone, register, room and SNR."""
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


__all__ = [
    "DRONE_TUNINGS",
    "MAINS_FREQUENCIES",
    "NARROW_REGISTER",
    "ConcertEvents",
    "PitchDrift",
    "RecordingConditions",
    "fit_register",
    "sample_recording_conditions",
    "schedule_events",
]
