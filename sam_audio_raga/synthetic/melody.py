"""Melody composition of the synthetic corpus: a raga's phrases scored as notes, then turned into control curves.

[`compose`] strings a raga's characteristic phrases (prayogas) and arohana/avarohana runs into a note plan with
nyasa endings, rests, glides, scoops and kampita gamakas; [`melody_control`] turns that plan into frame-rate pitch
and amplitude contours (glides, gamakas, drift, vibrato, articulation), which the renderer (`render.py`) plays.
"""

import math
from dataclasses import dataclass

import numpy as np

from .conditions import fit_register
from .dsp import box_filters
from .ragas import RagaSpec
from .style import RecordingStyle


# Sustained timbres shape their amplitude smoothly; plucked ones restart a decaying, darkening tone at onsets.
_PLUCKED_TIMBRES = frozenset({"veena"})

# Melody range in semitones above Sa: mandra sthayi Pa up to tara sthayi Pa, the usual span of a concert melody.
_LOWEST_SEMITONE = -7
_HIGHEST_SEMITONE = 19
# Sharpness of the kampita swing: 0 is a sinusoid, larger values hold each end longer.
_GAMAKA_DWELL = 3.0


@dataclass
class _NotePlan:
    """Note-level score of a melody: one entry per note or rest."""

    start: np.ndarray  # seconds
    duration: np.ndarray  # seconds
    semitone: np.ndarray  # above Sa
    amplitude: np.ndarray  # 0 for rests
    glide: np.ndarray  # seconds spent gliding in from the previous note
    gamaka_depth: np.ndarray  # semitones towards the neighbour, 0 for none
    gamaka_rate: np.ndarray  # Hz, adjusted to a whole number of cycles
    articulate: np.ndarray  # pluck (veena) or bow change / tonguing / consonant (others)
    scoop: np.ndarray  # semitones below the note the phrase starts from


def _scale_notes(spec: RagaSpec) -> np.ndarray:
    """Every scale note (semitones) within the melody range."""
    notes = [pc + 12 * octave for octave in range(-2, 3) for pc in spec.scale]
    return np.array(sorted(n for n in notes if _LOWEST_SEMITONE <= n <= _HIGHEST_SEMITONE))


def _extended_run(scale: tuple[int, ...], ascending: bool) -> list[int]:
    """Arohana or avarohana repeated over the melody range as one monotone (or zig-zag) sequence."""
    body = scale[:-1]
    octaves = (-1, 0, 1) if ascending else (1, 0, -1)
    notes = [note + 12 * octave for octave in octaves for note in body]
    notes.append(scale[-1] + 12 * octaves[-1])
    return [n for n in notes if _LOWEST_SEMITONE <= n <= _HIGHEST_SEMITONE]


def _pick_phrase(spec: RagaSpec, rng: np.random.Generator) -> list[int]:
    """One phrase: a characteristic prayoga (maybe an octave away) or a stretch of arohana/avarohana."""
    if rng.random() < 0.55:
        phrase = list(spec.phrases[rng.integers(len(spec.phrases))])
        shift = int(rng.choice((-12, 0, 12), p=(0.15, 0.7, 0.15)))
        if all(_LOWEST_SEMITONE <= n + shift <= _HIGHEST_SEMITONE for n in phrase):
            phrase = [n + shift for n in phrase]
    else:
        if rng.random() < 0.5:
            run = _extended_run(spec.avarohana, ascending=False)
        else:
            run = _extended_run(spec.arohana, ascending=True)
        length = int(rng.integers(3, 8))
        start = int(rng.integers(0, max(1, len(run) - length + 1)))
        phrase = run[start : start + length]
    if spec.foreign_notes and rng.random() < spec.foreign_prob:
        # A foreign note replaces a scale note a semitone away, as Sindhubhairavi's R1 or G3 colour a phrase.
        candidates = [
            (k, n + step)
            for k, n in enumerate(phrase)
            for step in (-1, 1)
            if (n + step) % 12 in spec.foreign_notes and 0 < k < len(phrase) - 1
        ]
        if candidates:
            k, note = candidates[rng.integers(len(candidates))]
            phrase[k] = note
    return phrase


def _nyasa_after(last: int, scale_notes: np.ndarray, spec: RagaSpec, rng: np.random.Generator) -> int:
    """A resting note near `last`, favouring the raga's nyasa/jeeva swaras."""
    near = scale_notes[np.abs(scale_notes - last) <= 4]
    weights = np.array([spec.emphasis[n % 12] ** 3 for n in near])
    return int(rng.choice(near, p=weights / weights.sum()))


def _gamaka_neighbour(note: int, scale_notes: np.ndarray, rng: np.random.Generator) -> int:
    """Interval to the scale neighbour a kampita swings to (upper preferred), 0 if none is within 3 semitones."""
    if note not in scale_notes:
        return 0
    upper = scale_notes[scale_notes > note]
    lower = scale_notes[scale_notes < note]
    up = int(upper[0] - note) if len(upper) and upper[0] - note <= 3 else 0
    down = int(lower[-1] - note) if len(lower) and note - lower[-1] <= 3 else 0
    if up and down:
        return up if rng.random() < 0.7 else down
    return up or down


def compose(spec: RagaSpec, style: RecordingStyle, timbre: str, seconds: float, rng: np.random.Generator) -> _NotePlan:
    """Score a melody of at least `seconds` from phrases, nyasa endings and rests."""
    scale_notes = _scale_notes(spec)
    # (duration, semitone, amplitude, glide, gamaka depth, articulate, scoop) per note or rest
    rows: list[tuple[float, float, float, float, float, bool, float]] = []
    total = 0.0
    first_note = int(_pick_phrase(spec, rng)[0])
    # Start on a rest so clips cut from a recording do not all begin with a note onset.
    lead = float(rng.uniform(0.1, 1.2))
    rows.append((lead, first_note, 0.0, 0.0, 0.0, False, 0.0))
    total += lead
    articulate_prob = 0.55 if timbre in _PLUCKED_TIMBRES else 0.3
    # Emphasized notes are held longer; dividing by the raga's mean stretch keeps the overall tempo the same for
    # every raga, so note density does not give the raga away.
    mean_stretch = float(np.mean([spec.emphasis[pc] ** 1.5 for pc in spec.scale]))
    while total < seconds + 1.0:
        phrase = _pick_phrase(spec, rng)
        if rng.random() < 0.5:
            phrase.append(_nyasa_after(phrase[-1], scale_notes, spec, rng))
        if style.register_semitones is not None:
            phrase = fit_register(phrase, *style.register_semitones)
        for k, note in enumerate(phrase):
            emphasis = spec.emphasis[note % 12]
            value = float(rng.choice((0.5, 1.0, 1.0, 1.5, 2.0)))
            duration = style.beat_seconds * value * emphasis**1.5 / mean_stretch * math.exp(rng.normal(0.0, 0.15))
            if k == len(phrase) - 1:
                duration = float(np.clip(duration * rng.uniform(1.4, 2.4), 0.3, 1.6))
            else:
                duration = float(np.clip(duration, 0.15, 1.2))
            glide = 0.0 if k == 0 else min(style.glide_seconds * rng.uniform(0.6, 1.4), 0.4 * duration)
            depth = 0.0
            if duration >= 0.3 and rng.random() < min(1.0, style.gamaka_prob * emphasis**2):
                depth = _gamaka_neighbour(note, scale_notes, rng) * rng.uniform(0.85, 1.0)
            articulate = k == 0 or rng.random() < articulate_prob
            scoop = float(rng.uniform(0.3, 1.0)) if k == 0 and rng.random() < 0.5 else 0.0
            amplitude = 10.0 ** (rng.normal(0.0, 1.5) / 20.0) * (1.0 + 0.15 * (emphasis - 1.0))
            rows.append((duration, note, amplitude, glide, depth, articulate, scoop))
            total += duration
        if rng.random() < style.rest_prob:
            rest = float(rng.uniform(0.15, 0.9))
            rows.append((rest, phrase[-1], 0.0, 0.0, 0.0, False, 0.0))
            total += rest

    duration, semitone, amplitude, glide, depth, articulate, scoop = (np.array(col) for col in zip(*rows))
    start = np.concatenate([[0.0], np.cumsum(duration)[:-1]])
    # A whole number of kampita cycles per note, so the contour is back on the note when the next glide starts.
    sustain = np.maximum(duration - glide, 1e-3)
    rate = style.gamaka_rate_hz * rng.uniform(0.85, 1.15, size=len(rows))
    cycles = np.maximum(1.0, np.round(sustain * rate))
    rate = cycles / sustain
    depth = np.where((rate >= 3.0) & (rate <= 9.0), depth, 0.0)
    return _NotePlan(
        start=start,
        duration=duration,
        semitone=semitone.astype(np.float64),
        amplitude=amplitude,
        glide=glide,
        gamaka_depth=depth,
        gamaka_rate=rate,
        articulate=articulate.astype(bool),
        scoop=scoop,
    )


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of `x` (float64) with edge padding."""
    return box_filters(np.asarray(x, dtype=np.float64), (width,))[0].astype(np.float64)


def _smooth_noise(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """Unit-variance low-pass noise of length `n`: white noise averaged over `width` frames."""
    noise = _moving_average(rng.standard_normal(n), width)
    return noise / max(float(noise.std()), 1e-12)


@dataclass
class _MelodyControl:
    """Frame-rate (~500 Hz) control signals of a melody, `n_frames + 1` values each."""

    semitone: np.ndarray  # pitch above Sa, fractional
    envelope: np.ndarray  # amplitude
    brightness: np.ndarray | None  # crossfade weight towards the bright wavetable (plucked timbres)
    voiced: np.ndarray  # False during rests


def melody_control(
    plan: _NotePlan, style: RecordingStyle, timbre: str, n_frames: int, frame_rate: float, rng: np.random.Generator
) -> _MelodyControl:
    """Turn the note plan into pitch and amplitude contours: glides, gamakas, drift, articulation."""
    frames = np.arange(n_frames + 1)
    times = frames / frame_rate
    onset = np.round(plan.start * frame_rate).astype(np.int64)
    note = np.searchsorted(onset, frames, side="right") - 1  # note index per frame
    t = (frames - onset[note]) / frame_rate  # seconds since the note started

    target = plan.semitone[note]
    previous = np.concatenate([plan.semitone[:1], plan.semitone[:-1]])[note]
    glide = plan.glide[note]
    x = np.clip(np.divide(t, glide, out=np.ones_like(t), where=glide > 0), 0.0, 1.0)
    semitone = previous + (target - previous) * x * x * (3.0 - 2.0 * x)

    # Kampita: the pitch swings from the note to its neighbour and back, starting once the glide has landed. The
    # tanh squares the swing off so it dwells on the two swaras and passes quickly through the pitch between them.
    swing_t = t - glide
    active = (swing_t >= 0.0) & (plan.gamaka_depth[note] != 0.0)
    swing = np.tanh(_GAMAKA_DWELL * np.cos(2.0 * np.pi * plan.gamaka_rate[note] * swing_t)) / math.tanh(_GAMAKA_DWELL)
    semitone += np.where(active, plan.gamaka_depth[note] * 0.5 * (1.0 - swing), 0.0)
    semitone -= plan.scoop[note] * np.exp(-t / 0.06)
    drift = _smooth_noise(rng, len(frames), max(1, int(0.35 * frame_rate)))
    vibrato_rate = rng.uniform(4.5, 6.5)
    semitone += (style.jitter_cents * drift + style.vibrato_cents * np.sin(2 * np.pi * vibrato_rate * times)) / 100.0

    voiced = plan.amplitude[note] > 0.0
    brightness = None
    if timbre in _PLUCKED_TIMBRES:
        # Each pluck restarts a decaying, darkening tone; notes reached without a pluck glide on the same decay.
        plucked = np.where(plan.articulate, np.arange(len(plan.start)), 0)
        last_pluck = np.maximum.accumulate(plucked)[note]
        since = (frames - onset[last_pluck]) / frame_rate
        decay = rng.uniform(0.6, 1.4)
        envelope = plan.amplitude[last_pluck] * np.exp(-since / decay)
        brightness = np.exp(-since / rng.uniform(0.08, 0.25))
        # Damp the string within ~10 ms at a rest rather than cutting it.
        envelope *= _moving_average(voiced.astype(np.float64), max(1, int(0.01 * frame_rate)))
    else:
        dip = rng.uniform(0.2, 0.5)
        level = plan.amplitude[note] * (1.0 - np.where(plan.articulate[note], dip * np.exp(-t / 0.04), 0.0))
        # ~30 ms onsets and releases: a voice or bow cannot start or stop instantly.
        envelope = _moving_average(level, max(1, int(0.03 * frame_rate)))
    return _MelodyControl(semitone=semitone, envelope=envelope, brightness=brightness, voiced=voiced)


__all__ = [
    "compose",
    "melody_control",
]
