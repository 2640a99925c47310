"""Recording style of the synthetic corpus: the tempo, ornamentation, drone, room and noise of one recording.

[`sample_recording_style`] draws a [`RecordingStyle`] per recording from the same distributions for every raga, so
none of its parameters tells the raga. In the hard variant the concert conditions (`conditions.py`) override the
drone level and tuning, register, room and noise level.
"""

from dataclasses import dataclass

import numpy as np


# Range of the signal-to-noise ratio of the standard variant, in dB.
DEFAULT_SNR_RANGE_DB = (15.0, 40.0)


@dataclass(frozen=True)
class RecordingStyle:
    """
    Performance and room parameters shared by every clip of one recording. Drawn by [`sample_recording_style`] from
    the same distributions for every raga, so none of them carries information about the raga.

    Args:
        beat_seconds (`float`): Typical note length before emphasis and rhythm scaling (the tempo).
        glide_seconds (`float`): Typical glide time from one note into the next.
        gamaka_prob (`float`): Chance that a long, unemphasized note carries a kampita gamaka.
        gamaka_rate_hz (`float`): Oscillation rate of kampita gamakas.
        jitter_cents (`float`): Standard deviation of the slow random pitch drift.
        vibrato_cents (`float`): Depth of a faint periodic vibrato.
        rest_prob (`float`): Chance of a rest between two phrases.
        drone_gain (`float`): Drone RMS relative to the RMS of the sounding melody.
        drone_cycle_seconds (`float`): Duration of one Pa-Sa-Sa-sa pluck cycle of the tanpura.
        rt60_seconds (`float`): Reverberation time of the room.
        reverb_mix (`float`): Level of the reverberant sound relative to the direct sound.
        snr_db (`float`): Ratio of the music to the background noise; `math.inf` adds no noise.
        drone_tuning (`str`, *optional*, defaults to `"sa_pa"`): A key of `conditions.DRONE_TUNINGS`; `"sa_ma"`
            plucks Ma for Pa.
        register_semitones (`tuple[int, int]`, *optional*): Melody range in semitones above Sa (phrases are moved
            into it by octaves); the full range, mandra Pa to tara Pa, when `None`.
    """

    beat_seconds: float
    glide_seconds: float
    gamaka_prob: float
    gamaka_rate_hz: float
    jitter_cents: float
    vibrato_cents: float
    rest_prob: float
    drone_gain: float
    drone_cycle_seconds: float
    rt60_seconds: float
    reverb_mix: float
    snr_db: float
    drone_tuning: str = "sa_pa"
    register_semitones: tuple[int, int] | None = None


def sample_recording_style(
    rng: np.random.Generator, snr_range_db: tuple[float, float] = DEFAULT_SNR_RANGE_DB
) -> RecordingStyle:
    """
    Draw the tempo, ornamentation, drone, room and noise parameters of one recording.

    Args:
        rng (`numpy.random.Generator`): Source of randomness.
        snr_range_db (`tuple[float, float]`, *optional*, defaults to `(15.0, 40.0)`): Range of the signal-to-noise
            ratio, drawn uniformly.

    Returns:
        [`RecordingStyle`]: The parameters.
    """
    return RecordingStyle(
        beat_seconds=float(rng.uniform(0.2, 0.36)),
        glide_seconds=float(rng.uniform(0.04, 0.12)),
        gamaka_prob=float(rng.uniform(0.15, 0.4)),
        gamaka_rate_hz=float(rng.uniform(4.0, 8.0)),
        jitter_cents=float(rng.uniform(4.0, 14.0)),
        vibrato_cents=float(rng.uniform(0.0, 8.0)),
        rest_prob=float(rng.uniform(0.4, 0.9)),
        drone_gain=float(rng.uniform(0.35, 0.8)),
        drone_cycle_seconds=float(rng.uniform(2.2, 3.8)),
        rt60_seconds=float(rng.uniform(0.2, 1.0)),
        reverb_mix=float(rng.uniform(0.1, 0.5)),
        snr_db=float(rng.uniform(*snr_range_db)),
    )


__all__ = [
    "DEFAULT_SNR_RANGE_DB",
    "RecordingStyle",
    "sample_recording_style",
]
