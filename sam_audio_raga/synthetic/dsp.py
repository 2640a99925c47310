"""Signal helpers of the synthetic corpus: level, moving averages, FFT convolution, muting and recording channels.

Shared by the melody, the renderer and the concert accompaniment. Levels, moving averages and convolutions work in
chunks or in linear time, so a 10-minute concert stays small in memory.
"""

import math
from collections.abc import Sequence

import numpy as np


# Pass band (low, high) in Hz of each recording channel; `None` for no edge.
BAND_LIMITS = {"none": None, "telephone": (300.0, 3400.0), "lowpass": (None, 4000.0)}


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
    "band_limit",
    "box_filters",
    "fft_convolve",
    "mute",
    "rms",
]
