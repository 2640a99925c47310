"""Concert accompaniment of the hard variant: the parts of a recording that are neither the soloist nor the tanpura.

A mridangam tuned to Sa ([`render_mridangam`]), a violin shadowing the soloist ([`render_violin_shadow`]) and the
hall's noise: mains hum, audience babble and their mix with the room noise ([`concert_noise`]). Levels, rates and
shares come from a [`RecordingConditions`]; `render.py` mixes the parts.
"""

import math

import numpy as np

from .conditions import RecordingConditions
from .dsp import box_filters, rms


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


__all__ = [
    "concert_noise",
    "crowd_babble",
    "mains_hum",
    "render_mridangam",
    "render_violin_shadow",
]
