"""Pictures of what a SAM-Audio raga classifier heard: the raga timeline of a recording and a clip's segment attention.

Both functions build a `matplotlib.figure.Figure` directly (no `pyplot`), so importing or calling them never changes
matplotlib's global backend or state; PNGs are rendered with the Agg canvas. Each returns the Figure and, given
`save_path`, also writes it as a PNG.
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from transformers.utils import logging


logger = logging.get_logger(__name__)

# Above this length the timeline's time axis is in minutes rather than seconds.
MINUTES_ABOVE_SECONDS = 120.0
# The melody and drone of Carnatic music sit well below this; the spectrogram panel stops here.
SPECTROGRAM_MAX_HZ = 4000.0
_DPI = 120


def _new_figure(width: float, height: float) -> Figure:
    """A Figure with its own Agg canvas, independent of pyplot and of the global backend."""
    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, save_path: str | Path | None) -> None:
    """Write `figure` as a PNG to `save_path`, if given, creating its folder."""
    if save_path is not None:
        save_path = Path(save_path)
        save_path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(save_path, format="png")


def _label_colours(num_labels: int) -> list:
    """One distinct colour per label, from a qualitative colour map."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if num_labels <= 10 else "tab20"]
    return [cmap(index % cmap.N) for index in range(num_labels)]


def plot_timeline(
    result: dict[str, Any],
    *,
    title: str | None = None,
    kind: str = "area",
    save_path: str | Path | None = None,
) -> Figure:
    """Raga probabilities over the course of a recording.

    Args:
        result (`dict`):
            What `SamAudioClassificationPipeline` returns with `return_timeline=True`: `"labels"` (the overall ranking)
            and `"timeline"` (one `{"start", "end", "scores"}` entry per window).
        title (`str`, *optional*):
            Figure title. Defaults to the overall answer, e.g. `"Overall: Kalyani (83%)"`.
        kind (`str`, *optional*, defaults to `"area"`):
            `"area"`: stacked probabilities, ragas ordered by overall score from the bottom up, with a legend.
            `"heatmap"`: one row per raga, colour = probability, with a colour bar.
        save_path (`str` or `Path`, *optional*):
            Where to write the PNG.

    Returns:
        `matplotlib.figure.Figure`. Each window is drawn from its start to the start of the next window (the last to
        its end); time is in minutes for recordings longer than `MINUTES_ABOVE_SECONDS`, else in seconds.
    """
    if kind not in ("area", "heatmap"):
        raise ValueError(f'`kind` must be "area" or "heatmap", got {kind!r}.')
    timeline = result.get("timeline") or []
    if not timeline:
        raise ValueError("`result` has no timeline; call the pipeline with `return_timeline=True`.")
    overall = result["labels"]
    # Every label of the model, best overall first (the timeline scores hold them all).
    ranked = [entry["label"] for entry in overall]
    names = ranked + [name for name in timeline[0]["scores"] if name not in ranked]
    probabilities = np.array([[entry["scores"][name] for entry in timeline] for name in names])  # (labels, windows)
    duration = timeline[-1]["end"]
    in_minutes = duration > MINUTES_ABOVE_SECONDS
    scale = 60.0 if in_minutes else 1.0
    edges = np.array([entry["start"] for entry in timeline] + [timeline[-1]["end"]]) / scale

    figure = _new_figure(10.0, 4.5)
    axes = figure.add_subplot()
    colours = _label_colours(len(names))
    if kind == "area":
        # step="post" holds each window's value until the next window starts.
        values = np.concatenate([probabilities, probabilities[:, -1:]], axis=1)
        axes.stackplot(edges, values, labels=names, colors=colours, step="post", alpha=0.9)
        axes.set_ylim(0.0, 1.0)
        axes.set_ylabel("probability (stacked)")
        handles, labels = axes.get_legend_handles_labels()
        # Reversed so the legend reads in the stacking order seen from the top.
        axes.legend(handles[::-1], labels[::-1], title="raga", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        mesh = axes.pcolormesh(edges, np.arange(len(names) + 1), probabilities, cmap="viridis", vmin=0.0, vmax=1.0)
        axes.set_yticks(np.arange(len(names)) + 0.5, labels=names)
        axes.invert_yaxis()
        axes.set_ylabel("raga")
        figure.colorbar(mesh, ax=axes, label="probability")
    axes.set_xlim(edges[0], edges[-1])
    axes.set_xlabel("time (min)" if in_minutes else "time (s)")
    if title is None:
        title = f"Overall: {overall[0]['label']} ({overall[0]['score']:.0%})"
    axes.set_title(title)
    _save(figure, save_path)
    return figure


def compute_segment_attention(
    model: torch.nn.Module,
    feature_extractor: Any,
    waveform: np.ndarray,
    sampling_rate: int,
    layer: int = -1,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Token-to-frame attention of one clip, averaged over heads, and where each frame sits in time.

    Args:
        model: a SAM-Audio model (`SamAudioForAudioClassification` or `SamAudioModel`) in eval mode.
        feature_extractor: its `SamAudioFeatureExtractor`.
        waveform (`np.ndarray`): mono audio, 1-D.
        sampling_rate (`int`): rate of `waveform` in Hz (resampled by the feature extractor if needed).
        layer (`int`, *optional*, defaults to -1): which segment layer; the last by default.

    Returns:
        `(attention, frame_centres, frame_step)`: `attention` of shape `(num_segment_tokens, num_frames)`, each row
        summing to 1; `frame_centres` of shape `(num_frames,)`, the centre in seconds of each frame's receptive field
        (frame `i` reads samples `[i * ratio, i * ratio + receptive_field)`, with `ratio =
        config.inputs_to_logits_ratio`); `frame_step` the hop between frames in seconds.
    """
    inputs = feature_extractor(waveform, sampling_rate=sampling_rate, return_tensors="pt")
    device = next(model.parameters()).device
    with torch.no_grad():
        outputs = model(**inputs.to(device), output_attentions=True)
    attention = outputs.attentions[layer][0].float().mean(dim=0).cpu().numpy()  # (tokens, frames)
    rate = feature_extractor.sampling_rate
    ratio = model.config.inputs_to_logits_ratio
    receptive_field = getattr(model, "receptive_field", ratio)
    frame_centres = (np.arange(attention.shape[-1]) * ratio + receptive_field / 2) / rate
    return attention, frame_centres, ratio / rate


def plot_segment_attention(
    model: torch.nn.Module,
    feature_extractor: Any,
    waveform: np.ndarray,
    sampling_rate: int,
    *,
    layer: int = -1,
    time_offset: float = 0.0,
    title: str | None = None,
    save_path: str | Path | None = None,
) -> Figure:
    """Which stretches of a clip each segment token listens to, under the clip's spectrogram.

    Top panel: the spectrogram of the clip (0 to `SPECTROGRAM_MAX_HZ`). Bottom panel: the attention of each segment
    token over time (the chosen layer, averaged over heads; each token's row sums to 1), with a colour bar. Both panels
    share the time axis, in seconds.

    Args:
        model, feature_extractor, waveform, sampling_rate, layer: as for [`compute_segment_attention`].
        time_offset (`float`, *optional*, defaults to 0.0): seconds added to the time axis, so a window cut from a
            long recording is shown at its place in the recording.
        title (`str`, *optional*): figure title.
        save_path (`str` or `Path`, *optional*): where to write the PNG.

    Returns:
        `matplotlib.figure.Figure`.
    """
    attention, frame_centres, frame_step = compute_segment_attention(
        model, feature_extractor, waveform, sampling_rate, layer=layer
    )
    # The spectrogram is drawn from the audio the model read: mono, at the feature extractor's rate.
    clip = feature_extractor(waveform, sampling_rate=sampling_rate, do_normalize=False)["input_values"][0]
    clip = np.asarray(clip, dtype=np.float64)
    rate = feature_extractor.sampling_rate
    clip_seconds = clip.shape[-1] / rate

    figure = _new_figure(10.0, 6.0)
    spectrogram_axes, attention_axes = figure.subplots(2, 1, sharex=True, height_ratios=(1.0, 1.2))
    n_fft = min(1024, 2 ** int(np.log2(max(clip.shape[-1], 2))))
    spectrum, frequencies, times, image = spectrogram_axes.specgram(
        clip, NFFT=n_fft, Fs=rate, noverlap=n_fft * 3 // 4, xextent=(time_offset, time_offset + clip_seconds)
    )
    image.set_cmap("magma")
    spectrogram_axes.set_ylim(0.0, min(SPECTROGRAM_MAX_HZ, rate / 2))
    spectrogram_axes.set_ylabel("frequency (Hz)")
    spectrogram_axes.set_title(title if title is not None else "Segment-token attention")

    edges = np.concatenate([frame_centres - frame_step / 2, frame_centres[-1:] + frame_step / 2]) + time_offset
    tokens = np.arange(attention.shape[0] + 1) - 0.5
    mesh = attention_axes.pcolormesh(edges, tokens, attention, cmap="viridis", vmin=0.0)
    attention_axes.set_yticks(np.arange(attention.shape[0]))
    attention_axes.invert_yaxis()
    attention_axes.set_ylabel("segment token")
    attention_axes.set_xlabel("time (s)")
    attention_axes.set_xlim(time_offset, time_offset + clip_seconds)
    layer_name = "last layer" if layer == -1 else f"layer {layer}"
    figure.colorbar(mesh, ax=attention_axes, label=f"attention ({layer_name}, mean over heads)")
    _save(figure, save_path)
    return figure


__all__ = [
    "compute_segment_attention",
    "plot_segment_attention",
    "plot_timeline",
]
