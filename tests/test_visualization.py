"""The timeline and segment-attention pictures: written as PNGs, labelled, and drawn without touching pyplot state."""

import matplotlib
import numpy as np
import pytest

from feature_extraction_sam_audio import SamAudioFeatureExtractor
from sam_audio_raga.synthetic import RAGA_NAMES, generate_clip
from sam_audio_raga.visualization import compute_segment_attention, plot_segment_attention, plot_timeline


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model(make_tiny_model):
    return make_tiny_model()


def fake_result(num_windows: int, window_seconds: float) -> dict:
    """What the pipeline returns with `return_timeline=True`, for a recording drifting from one raga to another."""
    timeline = []
    for index in range(num_windows):
        weights = np.full(len(RAGA_NAMES), 0.05)
        weights[0] += 1.0 - index / num_windows
        weights[3] += index / num_windows
        weights /= weights.sum()
        timeline.append(
            {
                "start": index * window_seconds,
                "end": (index + 1) * window_seconds,
                "scores": dict(zip(RAGA_NAMES, weights.tolist())),
            }
        )
    labels = [{"score": 0.6, "label": RAGA_NAMES[0]}, {"score": 0.3, "label": RAGA_NAMES[3]}]
    return {"labels": labels, "timeline": timeline, "duration": num_windows * window_seconds}


def plot_axes(figure) -> list:
    """The axes of `figure` that are not colour bars."""
    return [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]


@pytest.mark.parametrize("kind", ["area", "heatmap"])
def test_timeline_png_is_labelled(tmp_path, kind):
    backend = matplotlib.get_backend()
    path = tmp_path / "timeline.png"
    figure = plot_timeline(fake_result(30, 20.0), kind=kind, save_path=path)
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000
    (axes,) = plot_axes(figure)
    assert axes.get_xlabel() == "time (min)"  # 10 minutes: minutes on the time axis
    assert axes.get_ylabel()
    assert RAGA_NAMES[0] in axes.get_title()
    if kind == "area":
        assert [text.get_text() for text in axes.get_legend().get_texts()][-1] == RAGA_NAMES[0]
    else:
        colorbars = [axes for axes in figure.axes if axes.get_label() == "<colorbar>"]
        assert len(colorbars) == 1 and colorbars[0].get_ylabel() == "probability"
    assert matplotlib.get_backend() == backend


def test_short_timeline_is_in_seconds():
    figure = plot_timeline(fake_result(3, 20.0), title="three windows")
    (axes,) = plot_axes(figure)
    assert axes.get_xlabel() == "time (s)" and axes.get_title() == "three windows"
    assert axes.get_xlim() == pytest.approx((0.0, 60.0))


def test_timeline_needs_a_timeline():
    with pytest.raises(ValueError, match="return_timeline"):
        plot_timeline({"labels": [{"score": 1.0, "label": "Todi"}]})


def test_segment_attention_maps_frames_to_time(model):
    extractor = SamAudioFeatureExtractor()
    clip = generate_clip("Todi", 138.0, "veena", seconds=6.0, rng=np.random.default_rng(0))
    attention, frame_centres, frame_step = compute_segment_attention(model, extractor, clip, 16000)
    num_frames = model._get_feat_extract_output_lengths(clip.size)
    assert attention.shape == (model.config.num_segment_tokens, num_frames)
    np.testing.assert_allclose(attention.sum(axis=-1), 1.0, rtol=1e-5)
    assert frame_step == model.config.inputs_to_logits_ratio / 16000
    assert frame_centres[0] == pytest.approx(model.receptive_field / 2 / 16000)
    np.testing.assert_allclose(np.diff(frame_centres), frame_step)
    # The last frame's receptive field ends inside the clip.
    assert frame_centres[-1] + model.receptive_field / 2 / 16000 <= clip.size / 16000


def test_segment_attention_png_is_labelled(model, tmp_path):
    path = tmp_path / "attention.png"
    clip = generate_clip("Kalyani", 146.8, "voice", seconds=5.0, sampling_rate=22050, rng=np.random.default_rng(1))
    figure = plot_segment_attention(
        model, SamAudioFeatureExtractor(), clip, 22050, time_offset=40.0, title="Kalyani", save_path=path
    )
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000
    spectrogram_axes, attention_axes = plot_axes(figure)
    assert spectrogram_axes.get_ylabel() == "frequency (Hz)"
    assert attention_axes.get_ylabel() == "segment token" and attention_axes.get_xlabel() == "time (s)"
    assert attention_axes.get_xlim() == pytest.approx((40.0, 45.0))
    assert spectrogram_axes.get_xlim() == attention_axes.get_xlim()  # shared time axis
    (colorbar,) = [axes for axes in figure.axes if axes.get_label() == "<colorbar>"]
    assert "attention" in colorbar.get_ylabel()
