"""Carnatic raga audio rendering: the sound behind the synthetic corpus (`corpus.py`).

Every clip is a melody over a tanpura drone. The melody is built from each raga's characteristic phrases and
arohana/avarohana runs (`melody.py`, from the tables of `ragas.py`), sung or played with glides, kampita gamakas and
small pitch drift, in one of several timbres, and placed in a synthetic room with background noise. The tonic is
drawn continuously per recording, so a model can only tell the four modes of one note set (Kalyani, Kharaharapriya,
Todi, Sindhubhairavi) apart by hearing pitch relative to the drone; nothing else (timbre, tempo, loudness, tonic
range, noise) depends on the raga. With `conditions`, a recording gets the concert conditions of the hard variant
(`conditions.py`) and their accompaniment (`accompaniment.py`).

Any change to the rendered audio (in this module or any it uses) must bump `corpus.GENERATOR_VERSION`, so cached
datasets are rebuilt.

Example:

```python
>>> import numpy as np
>>> from sam_audio_raga.synthetic import generate_clip
>>> audio = generate_clip("Todi", 151.3, "violin", seconds=5.0, rng=np.random.default_rng(0))
```
"""

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from .accompaniment import concert_noise, render_mridangam, render_violin_shadow
from .conditions import DRONE_TUNINGS, PitchDrift, RecordingConditions, schedule_events
from .dsp import band_limit, box_filters, fft_convolve, mute, rms
from .melody import compose, melody_control
from .ragas import RAGA_NAMES, RAGAS, TIMBRES, RagaSpec
from .style import RecordingStyle, sample_recording_style


# Pitch contours and envelopes are computed at ~500 frames/s and linearly upsampled: 2 ms is finer than any glide,
# gamaka or attack we model, and it keeps the per-sample work to a few array operations.
_CONTROL_RATE_HZ = 500.0
# Frames rendered per audio block; bounds the memory of long clips (a 10-minute concert) to a few blocks.
_BLOCK_FRAMES = 4096
# Wavetable length per period; 2048 points resolve the ~180 harmonics of a 20 Hz band at 16 kHz.
_TABLE_SIZE = 2048
# Lowest wavetable band and band spacing (one per semitone, so switching bands never moves a formant audibly).
_BAND_BASE_HZ = 20.0
# Harmonics above this fraction of the sampling rate fade out so no partial aliases when a glide rises.
_HARMONIC_CEILING = 0.45
_HARMONIC_TAPER = 0.08


def is_real(value: object) -> bool:
    """True for ints and floats (not bools) that are finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_int(name: str, value: object, low: int, high: int) -> int:
    """Return `value` as an int, or raise a ValueError naming `name` unless it is an integer in [low, high]."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def _gauss_log(freqs: np.ndarray, centre: float, octaves: float) -> np.ndarray:
    """Bump of width `octaves` centred on `centre` Hz, on a log-frequency axis."""
    return np.exp(-0.5 * (np.log2(np.maximum(freqs, 1e-3) / centre) / octaves) ** 2)


def _timbre_amplitudes(
    timbre: str, harmonic_hz: np.ndarray, k: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None, float, tuple[int, int]]:
    """
    Harmonic amplitudes of a timbre for harmonics `k` at frequencies `harmonic_hz` (any shape), its bright variant
    (plucked timbres only), the level of its noise component and that noise's moving-average widths (low, high).
    Parameters are drawn per recording, so two singers or two violins differ.
    """
    if timbre == "voice":
        formants = ((rng.uniform(500, 800), 0.35, 1.0), (rng.uniform(1000, 1700), 0.3, 0.5))
        formants += ((rng.uniform(2300, 3100), 0.25, 0.3),)
        shape = sum(gain * _gauss_log(harmonic_hz, centre, width) for centre, width, gain in formants)
        return k ** -rng.uniform(0.9, 1.3) * (0.03 + shape), None, rng.uniform(0.01, 0.03), (2, 8)
    if timbre == "violin":
        body = 0.4 + _gauss_log(harmonic_hz, rng.uniform(250, 320), 0.3) + _gauss_log(harmonic_hz, 460.0, 0.3)
        body = body + 2.0 * _gauss_log(harmonic_hz, rng.uniform(2200, 3200), 0.5)
        return k ** -rng.uniform(0.55, 0.8) * body, None, rng.uniform(0.02, 0.05), (2, 8)
    if timbre == "flute":
        ratio = rng.uniform(0.25, 0.45)
        return np.where(k <= 6, ratio ** (k - 1.0), 0.0), None, rng.uniform(0.04, 0.09), (2, 16)
    if timbre == "veena":
        pluck_position = rng.uniform(0.08, 0.2)
        bright = k**-0.8 * (0.05 + np.abs(np.sin(np.pi * k * pluck_position)))
        return k**-2.2, bright, 0.0, (1, 1)
    if timbre == "nadaswaram":
        reed = 0.3 + 1.5 * _gauss_log(harmonic_hz, rng.uniform(900, 1500), 0.6)
        rolloff = 1.0 / (1.0 + (harmonic_hz / 4000.0) ** 2)
        return k ** -rng.uniform(0.4, 0.7) * reed * rolloff, None, 0.02, (2, 8)
    raise ValueError(f"timbre must be one of {TIMBRES}, got {timbre!r}")


def _harmonic_taper(harmonic_hz: np.ndarray, sampling_rate: int) -> np.ndarray:
    """Gain that fades harmonics out below the ceiling, so no partial folds back across Nyquist."""
    ceiling = _HARMONIC_CEILING * sampling_rate
    return np.clip((ceiling - harmonic_hz) / (_HARMONIC_TAPER * sampling_rate), 0.0, 1.0)


def _waveforms(amplitudes: np.ndarray, phases: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """
    Periodic waveforms of unit RMS from rows of harmonic amplitudes (rows, harmonics), built with one inverse FFT:
    harmonic h sits on bin `stride * h`, so `length` samples hold `stride` periods.
    """
    rows, n_harmonics = amplitudes.shape
    rms = np.sqrt(0.5 * np.sum(amplitudes**2, axis=1, keepdims=True))
    amplitudes = amplitudes / np.maximum(rms, 1e-12)
    spectrum = np.zeros((rows, length // 2 + 1), dtype=np.complex128)
    spectrum[:, stride * np.arange(1, n_harmonics + 1)] = amplitudes * np.exp(1j * phases) * (length / 2)
    return np.fft.irfft(spectrum, length, axis=1)


def _melody_tables(
    timbre: str, sampling_rate: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None, float, tuple[int, int]]:
    """
    Band-limited wavetables, one per semitone band from 20 Hz to Nyquist, each with a guard column so linear
    interpolation needs no wrap-around: `(n_bands, _TABLE_SIZE + 1)` for the main and (plucked) bright-minus-main
    tables, plus the noise level and noise widths of the timbre.
    """
    n_bands = int(math.ceil(12 * math.log2(0.5 * sampling_rate / _BAND_BASE_HZ))) + 1
    band_hz = _BAND_BASE_HZ * 2.0 ** (np.arange(n_bands) / 12.0)
    n_harmonics = _TABLE_SIZE // 2 - 1
    k = np.arange(1, n_harmonics + 1, dtype=np.float64)[None, :]
    # The upper edge of a band is half a semitone above its centre: taper against that so nothing aliases.
    harmonic_hz = band_hz[:, None] * k
    taper = _harmonic_taper(harmonic_hz * 2 ** (1 / 24), sampling_rate)
    taper[:, 0] = np.where(band_hz < 0.5 * sampling_rate, 1.0, 0.0)
    main, bright, noise_level, noise_widths = _timbre_amplitudes(timbre, harmonic_hz, k, rng)
    # One phase per harmonic for all bands, so a band switch during a glide does not change the waveform shape.
    phases = rng.uniform(0, 2 * np.pi, size=n_harmonics)
    tables = _waveforms(np.broadcast_to(main * taper, harmonic_hz.shape), phases, _TABLE_SIZE)
    tables = np.concatenate([tables, tables[:, :1]], axis=1).astype(np.float32)
    diff = None
    if bright is not None:
        bright_tables = _waveforms(np.broadcast_to(bright * taper, harmonic_hz.shape), phases, _TABLE_SIZE)
        bright_tables = np.concatenate([bright_tables, bright_tables[:, :1]], axis=1).astype(np.float32)
        diff = bright_tables - tables
    return tables, diff, float(noise_level), noise_widths


def _band_noise(rng: np.random.Generator, n: int, widths: tuple[int, int]) -> np.ndarray:
    """Unit-RMS band-pass noise: the difference of two moving averages of white noise (breath, bow, hiss)."""

    def chunk(size: int) -> np.ndarray:
        low, high = box_filters(rng.standard_normal(size, dtype=np.float32), widths)
        low -= high
        return low

    return _chunked_noise(chunk, n)


def _chunked_noise(make: Callable[[int], np.ndarray], n: int, chunk: int = 1 << 20) -> np.ndarray:
    """Unit-RMS float32 noise of length `n` made ~1 M samples at a time, so a long concert needs little memory."""
    noise = np.empty(n, dtype=np.float32)
    for start in range(0, n, chunk):
        noise[start : start + chunk] = make(min(chunk, n - start))
    noise /= max(rms(noise), 1e-12)
    return noise


def _upsample(control: np.ndarray, start: int, n_frames: int, ramp: np.ndarray) -> np.ndarray:
    """Linear interpolation of frames `[start, start + n_frames]` to `n_frames * hop` samples."""
    left = control[start : start + n_frames]
    step = control[start + 1 : start + n_frames + 1] - left
    return (left[:, None] + step[:, None] * ramp[None, :]).ravel()  # (n_frames * hop,)


def _render_melody(
    spec: RagaSpec,
    tonic_hz: float,
    timbre: str,
    style: RecordingStyle,
    n_samples: int,
    sampling_rate: int,
    rng: np.random.Generator,
    return_pitch: bool,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Melody audio (unit-ish RMS while sounding), its pitch in Hz (NaN in rests) and its per-sample voicing."""
    hop = max(1, round(sampling_rate / _CONTROL_RATE_HZ))
    frame_rate = sampling_rate / hop
    n_frames = -(-n_samples // hop)
    plan = compose(spec, style, timbre, n_frames / frame_rate, rng)
    control = melody_control(plan, style, timbre, n_frames, frame_rate, rng)
    tables, diff, noise_level, noise_widths = _melody_tables(timbre, sampling_rate, rng)
    n_bands = tables.shape[0]
    band = np.round(control.semitone + 12.0 * math.log2(tonic_hz / _BAND_BASE_HZ)).astype(np.int64)
    row_offset = np.clip(band, 0, n_bands - 1) * (_TABLE_SIZE + 1)
    flat = tables.ravel()
    flat_diff = None if diff is None else diff.ravel()
    envelope = control.envelope.astype(np.float32)
    brightness = None if control.brightness is None else control.brightness.astype(np.float32)
    semitone = control.semitone.astype(np.float32)
    noise = _band_noise(rng, n_frames * hop, noise_widths) if noise_level > 0 else None

    out = np.empty(n_frames * hop, dtype=np.float32)
    pitch = np.empty(n_frames * hop, dtype=np.float32) if return_pitch else None
    ramp = (np.arange(hop) / hop).astype(np.float32)
    phase = 0.0
    for first in range(0, n_frames, _BLOCK_FRAMES):
        count = min(_BLOCK_FRAMES, n_frames - first)
        lo, hi = first * hop, (first + count) * hop
        f0 = tonic_hz * np.exp2(_upsample(semitone, first, count, ramp) / 12.0)
        # Phase is the running sum of instantaneous frequency, so glides and gamakas move smoothly in pitch.
        cycles = phase + np.cumsum(f0 / sampling_rate, dtype=np.float64)
        phase = float(cycles[-1] - math.floor(cycles[-1]))
        position = (cycles - np.floor(cycles)) * _TABLE_SIZE
        index = np.minimum(position.astype(np.int64), _TABLE_SIZE - 1)
        frac = (position - index).astype(np.float32)
        index += np.repeat(row_offset[first : first + count], hop)
        wave = flat[index]
        wave += frac * (flat[index + 1] - wave)
        if flat_diff is not None:
            bright = flat_diff[index]
            bright += frac * (flat_diff[index + 1] - bright)
            wave += _upsample(brightness, first, count, ramp) * bright
        env = _upsample(envelope, first, count, ramp)
        if noise is not None:
            wave += noise_level * noise[lo:hi]
        out[lo:hi] = wave * env
        if pitch is not None:
            pitch[lo:hi] = np.where(np.repeat(control.voiced[first : first + count], hop), f0, np.nan)
    voiced = np.repeat(control.voiced[:n_frames], hop)[:n_samples]
    return out[:n_samples], None if pitch is None else pitch[:n_samples], voiced


def _render_drone(
    tonic_hz: float, style: RecordingStyle, n_samples: int, sampling_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """
    Tanpura: Pa (or Ma, see `style.drone_tuning`), Sa, Sa and lower Sa plucked in a repeating cycle, each a buzzy
    (jawari) tone with a sharp attack, a slow decay and a brightness that fades after the pluck. Plucks start before
    t=0 so it sounds from the start.
    """
    hop = max(1, round(sampling_rate / _CONTROL_RATE_HZ))
    frame_rate = sampling_rate / hop
    n_frames = -(-n_samples // hop)
    times = np.arange(n_frames + 1) / frame_rate
    ratios = (DRONE_TUNINGS[style.drone_tuning], 1.0, 1.0, 0.5)
    offsets = (0.0, 0.25, 0.5, 0.75)
    cycle = style.drone_cycle_seconds
    n_cycles = int(math.ceil(n_frames / frame_rate / cycle)) + 2
    ramp = (np.arange(hop) / hop).astype(np.float32)
    out = np.zeros(n_frames * hop, dtype=np.float32)
    for ratio, offset in zip(ratios, offsets):
        # A couple of cents of mistuning per string: the two Sa strings then beat slowly, as real strings do.
        freq = tonic_hz * ratio * 2 ** (rng.normal(0.0, 2.0) / 1200.0)
        # A loop of K whole periods in ~1 s: the rounding moves the pitch by < 0.1 cent and turns each sample
        # into a plain lookup.
        periods = max(1, round(freq))
        length = max(2, round(periods * sampling_rate / freq))
        freq = periods * sampling_rate / length
        n_harmonics = max(1, min(int(_HARMONIC_CEILING * sampling_rate / freq), (length // 2 - 1) // periods))
        k = np.arange(1, n_harmonics + 1, dtype=np.float64)
        taper = _harmonic_taper(k * freq, sampling_rate)
        taper[0] = 1.0
        jawari = 1.0 + 2.5 * _gauss_log(k, rng.uniform(6.0, 14.0), 0.6)
        phases = rng.uniform(0, 2 * np.pi, size=n_harmonics)
        soft, bright = _waveforms(np.stack([k**-1.5 * taper, k**-0.6 * jawari * taper]), phases, length, periods)
        soft, diff = soft.astype(np.float32), (bright - soft).astype(np.float32)

        pluck_times = (np.arange(-1, n_cycles) + offset) * cycle + rng.normal(0.0, 0.02 * cycle, size=n_cycles + 1)
        pluck_times = np.sort(pluck_times)
        pluck_gain = 10.0 ** (rng.normal(0.0, 1.5, size=len(pluck_times)) / 20.0) * (1.1 if ratio < 1 else 1.0)
        last = np.clip(np.searchsorted(pluck_times, times, side="right") - 1, 0, None)
        since = np.maximum(times - pluck_times[last], 0.0)
        level = (pluck_gain[last] * np.exp(-since / rng.uniform(1.5, 2.8))).astype(np.float32)
        bright_level = (level * np.exp(-since / rng.uniform(0.5, 1.2))).astype(np.float32)
        for first in range(0, n_frames, _BLOCK_FRAMES):
            count = min(_BLOCK_FRAMES, n_frames - first)
            lo, hi = first * hop, (first + count) * hop
            loop = np.arange(lo, hi) % length
            out[lo:hi] += _upsample(level, first, count, ramp) * soft[loop]
            out[lo:hi] += _upsample(bright_level, first, count, ramp) * diff[loop]
    return out[:n_samples]


def _room_response(style: RecordingStyle, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-energy impulse response: a short pre-delay, then exponentially decaying, slightly darkened noise."""
    # Up to 3 s, for a large hall's tail; standard rooms (rt60 <= 1 s) stay under the former 1.2 s cap, unchanged.
    length = int(min(3.0, 1.2 * style.rt60_seconds) * sampling_rate)
    t = np.arange(length) / sampling_rate
    tail = rng.standard_normal(length) * np.exp(-6.91 * t / style.rt60_seconds)
    tail = np.convolve(tail, (0.25, 0.5, 0.25), mode="same")
    pre_delay = np.zeros(int(rng.uniform(0.005, 0.025) * sampling_rate))
    response = np.concatenate([pre_delay, tail])
    return response / np.sqrt(np.sum(response**2))


def _background_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-RMS room noise with a random spectral tilt, from white noise and its moving averages."""
    weights = rng.dirichlet((1.0, 1.0, 1.0, 1.0)).tolist()
    widths = (4, 32, 256)

    def chunk(size: int) -> np.ndarray:
        white = rng.standard_normal(size, dtype=np.float32)
        smoothed = box_filters(white, widths)
        white *= weights[0]
        # A moving average keeps 1/width of the white variance; rescale so the weights alone set the colour.
        for weight, width, smooth in zip(weights[1:], widths, smoothed):
            smooth *= weight * math.sqrt(width)
            white += smooth
        return white

    return _chunked_noise(chunk, n)


def render_recording(
    raga: str,
    tonic_hz: float,
    timbre: str,
    style: RecordingStyle,
    n_samples: int,
    sampling_rate: int,
    rng: np.random.Generator,
    include_melody: bool = True,
    include_drone: bool = True,
    return_pitch: bool = False,
    conditions: RecordingConditions | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One continuous recording (not normalized) and, optionally, the melody pitch in Hz."""
    spec = RAGAS[raga]
    if conditions is not None:
        args = (spec, tonic_hz, timbre, style, conditions, n_samples, sampling_rate, rng)
        return _render_concert(*args, include_melody, include_drone, return_pitch)
    mix = np.zeros(n_samples, dtype=np.float32)
    pitch = None
    melody_rms = 1.0
    if include_melody:
        melody, pitch, voiced = _render_melody(
            spec, tonic_hz, timbre, style, n_samples, sampling_rate, rng, return_pitch
        )
        melody_rms = rms(melody, voiced) or 1.0
        mix += melody
        mix /= melody_rms
        del melody
    if include_drone:
        drone = _render_drone(tonic_hz, style, n_samples, sampling_rate, rng)
        gain = style.drone_gain if include_melody else 1.0
        drone *= gain / (rms(drone) or 1.0)
        mix += drone
        del drone
    mix += style.reverb_mix * fft_convolve(mix, _room_response(style, sampling_rate, rng))
    if math.isfinite(style.snr_db):
        noise = _background_noise(rng, n_samples)
        noise *= rms(mix) * 10.0 ** (-style.snr_db / 20.0)
        mix += noise
    if return_pitch and pitch is None:
        pitch = np.full(n_samples, np.nan, dtype=np.float32)
    return mix, pitch


def _render_concert(
    spec: RagaSpec,
    tonic_hz: float,
    timbre: str,
    style: RecordingStyle,
    conditions: RecordingConditions,
    n_samples: int,
    sampling_rate: int,
    rng: np.random.Generator,
    include_melody: bool,
    include_drone: bool,
    return_pitch: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """`render_recording` under concert `conditions`: accompaniment, pauses, drift, hall noise and channel."""
    style = dataclasses.replace(style, **conditions.style_overrides())
    drift = PitchDrift(n_samples, conditions.pitch_drift_cents)
    events = schedule_events(conditions, n_samples / sampling_rate)
    # Events are timed in the recording; the parts are played in performance time, which the drift stretches.
    pauses, gaps = (drift.positions(x * sampling_rate) for x in (events.pauses, events.drone_gaps))
    n = drift.input_length
    mix = np.zeros(n, dtype=np.float32)
    pitch = None
    if include_melody:
        track = return_pitch or conditions.violin_shadow
        melody, pitch, voiced = _render_melody(spec, tonic_hz, timbre, style, n, sampling_rate, rng, track)
        mix += mute(melody, pauses, round(0.25 * sampling_rate))
        mix /= rms(melody, voiced) or 1.0
        del melody
        if track:
            mute(pitch, pauses, 0, fill=np.nan)
        if conditions.violin_shadow:
            mix += render_violin_shadow(pitch, sampling_rate, conditions, rng)
    if include_drone:
        drone = _render_drone(tonic_hz, style, n, sampling_rate, rng)
        drone *= (style.drone_gain if include_melody else 1.0) / (rms(drone) or 1.0)
        mix += mute(drone, gaps, round(1.5 * sampling_rate))
        del drone
    if math.isfinite(conditions.percussion_level_db):
        mix += render_mridangam(tonic_hz, n, sampling_rate, conditions, pauses[events.solos], rng)
    mix = drift.apply(mix)
    pitch = drift.apply_to_pitch(pitch) if return_pitch and pitch is not None else None
    mix += style.reverb_mix * fft_convolve(mix, _room_response(style, sampling_rate, rng))
    if math.isfinite(style.snr_db):
        noise = concert_noise(_background_noise(rng, n_samples), conditions, sampling_rate, rng)
        noise *= rms(mix) * 10.0 ** (-style.snr_db / 20.0)
        mix += noise
    if return_pitch and pitch is None:
        pitch = np.full(n_samples, np.nan, dtype=np.float32)
    return band_limit(mix, conditions.band_limit, sampling_rate), pitch


def peak_normalize(x: np.ndarray) -> np.ndarray:
    """Scale to a peak of 1.0 as float32 (silence stays silent)."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return (x / peak).astype(np.float32) if peak > 0 else x.astype(np.float32)


def _check_clip_arguments(raga: str, tonic_hz: float, timbre: str, seconds: float, sampling_rate: int) -> None:
    """Raise a ValueError naming the first bad argument of `generate_clip`."""
    if raga not in RAGAS:
        raise ValueError(f"raga must be one of {RAGA_NAMES}, got {raga!r}")
    if timbre not in TIMBRES:
        raise ValueError(f"timbre must be one of {TIMBRES}, got {timbre!r}")
    if not is_real(tonic_hz) or not 40.0 <= tonic_hz <= 1000.0:
        raise ValueError(f"tonic_hz must be a number in [40, 1000], got {tonic_hz!r}")
    if not is_real(seconds) or not 0.0 < seconds <= 4 * 3600.0:
        raise ValueError(f"seconds must be a number in (0, 14400], got {seconds!r}")
    check_int("sampling_rate", sampling_rate, 8000, 192_000)


def generate_clip(
    raga: str,
    tonic_hz: float,
    timbre: str,
    *,
    seconds: float = 20.0,
    sampling_rate: int = 16000,
    rng: np.random.Generator,
    style: RecordingStyle | None = None,
    include_melody: bool = True,
    include_drone: bool = True,
    return_pitch: bool = False,
    conditions: RecordingConditions | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """
    Synthesize one peak-normalized mono clip of a raga over a tanpura drone.

    Args:
        raga (`str`): One of `RAGA_NAMES`.
        tonic_hz (`float`): Tonic (Sa) in Hz, any value in [40, 1000].
        timbre (`str`): One of `TIMBRES`.
        seconds (`float`, *optional*, defaults to 20.0): Length; a 600 s "concert" takes a few seconds to render.
        sampling_rate (`int`, *optional*, defaults to 16000): Sampling rate in Hz.
        rng (`numpy.random.Generator`): Source of randomness; the same generator state gives the same clip.
        style (`RecordingStyle`, *optional*): Tempo, ornamentation, room and noise; drawn from `rng` with
            [`sample_recording_style`] when omitted.
        include_melody (`bool`, *optional*, defaults to `True`): Whether to include the melody.
        include_drone (`bool`, *optional*, defaults to `True`): Whether to include the tanpura drone.
        return_pitch (`bool`, *optional*, defaults to `False`): Also return the melody's pitch contour.
        conditions (`RecordingConditions`, *optional*): Concert conditions (the hard variant); they replace the
            style's drone level, room and SNR. The plain clip when omitted.

    Returns:
        `np.ndarray` of shape `(round(seconds * sampling_rate),)`, float32 with peak 1.0; with `return_pitch`, a
        tuple `(audio, pitch_hz)` where `pitch_hz` has the same shape and is NaN where the melody rests.
    """
    _check_clip_arguments(raga, tonic_hz, timbre, seconds, sampling_rate)
    if style is None:
        style = sample_recording_style(rng)
    n_samples = max(1, round(seconds * sampling_rate))
    audio, pitch = render_recording(
        raga,
        float(tonic_hz),
        timbre,
        style,
        n_samples,
        sampling_rate,
        rng,
        include_melody=include_melody,
        include_drone=include_drone,
        return_pitch=return_pitch,
        conditions=conditions,
    )
    audio = peak_normalize(audio)
    return (audio, pitch) if return_pitch else audio


__all__ = [
    "check_int",
    "generate_clip",
    "is_real",
    "peak_normalize",
    "render_recording",
]
