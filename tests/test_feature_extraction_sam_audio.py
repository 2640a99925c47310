import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor

from feature_extraction_sam_audio import SamAudioFeatureExtractor


@pytest.fixture
def feature_extractor():
    return SamAudioFeatureExtractor()


def test_batches_of_mixed_lengths_are_padded_with_attention_mask(feature_extractor):
    clips = [np.random.randn(800), np.random.randn(1200), np.random.randn(1000)]
    batch = feature_extractor(clips, sampling_rate=16000, return_tensors="pt")
    assert batch["input_values"].shape == (3, 1200)
    assert batch["input_values"].dtype == torch.float32
    assert batch["attention_mask"].sum(-1).tolist() == [800, 1200, 1000]
    assert (batch["input_values"][0, 800:] == 0).all()


def test_normalisation_ignores_padding(feature_extractor):
    clips = [3.0 + 2.0 * np.random.randn(800), np.random.randn(1600)]
    batch = feature_extractor(clips, sampling_rate=16000, return_tensors="np")
    first = batch["input_values"][0, :800]
    assert abs(first.mean()) < 1e-5 and abs(first.std() - 1.0) < 1e-3
    alone = feature_extractor(clips[0], sampling_rate=16000, return_tensors="np")["input_values"][0]
    np.testing.assert_allclose(alone, first, atol=1e-6)


def test_normalisation_can_be_turned_off():
    feature_extractor = SamAudioFeatureExtractor(do_normalize=False)
    clip = 0.5 * np.ones(400, dtype=np.float32)
    np.testing.assert_array_equal(feature_extractor(clip, sampling_rate=16000)["input_values"][0], clip)


def test_silent_clip_stays_finite(feature_extractor):
    values = feature_extractor(np.zeros(400), sampling_rate=16000, return_tensors="np")["input_values"]
    assert np.isfinite(values).all() and (values == 0).all()


def test_accepts_lists_tensors_and_2d_batches(feature_extractor):
    as_list = feature_extractor([0.1, -0.2, 0.3, 0.0], sampling_rate=16000, return_tensors="np")["input_values"]
    assert as_list.shape == (1, 4)
    as_tensor = feature_extractor(torch.randn(2, 500), sampling_rate=16000, return_tensors="pt")["input_values"]
    assert as_tensor.shape == (2, 500)


def test_multichannel_audio_is_mixed_down(feature_extractor):
    left = np.random.randn(1000).astype(np.float32)
    stereo_first = np.stack([left, left])
    stereo_last = stereo_first.T
    mono = feature_extractor(left, sampling_rate=16000, return_tensors="np")["input_values"]
    for stereo in (stereo_first, stereo_last):
        mixed = feature_extractor([stereo], sampling_rate=16000, return_tensors="np")["input_values"]
        np.testing.assert_allclose(mixed, mono, atol=1e-6)
    batch_3d = feature_extractor(stereo_first[None], sampling_rate=16000, return_tensors="np")["input_values"]
    np.testing.assert_allclose(batch_3d, mono, atol=1e-6)


def test_stereo_is_the_mean_of_different_channels_without_normalisation():
    """Channels with different content, unnormalised: keeping one channel, or summing them, gives other values."""
    rng = np.random.default_rng(0)
    left = rng.uniform(-0.5, 0.5, 1000).astype(np.float32)
    right = np.sin(np.linspace(0, 60, 1000)).astype(np.float32) * 0.25
    unnormalised = SamAudioFeatureExtractor(do_normalize=False)
    expected = (left + right) / 2
    stereo_first = np.stack([left, right])
    for stereo in (stereo_first, stereo_first.T):
        mixed = unnormalised([stereo], sampling_rate=16000, return_tensors="np")["input_values"][0]
        np.testing.assert_allclose(mixed, expected, atol=1e-7)
    batch_3d = unnormalised(np.stack([stereo_first, stereo_first[::-1]]), sampling_rate=16000, return_tensors="np")
    np.testing.assert_allclose(batch_3d["input_values"], [expected, expected], atol=1e-7)
    one_silent = unnormalised([np.stack([left, np.zeros_like(left)])], sampling_rate=16000)["input_values"][0]
    np.testing.assert_allclose(one_silent, left / 2, atol=1e-7)


def test_stereo_is_mixed_down_before_normalisation(feature_extractor):
    rng = np.random.default_rng(1)
    left, right = rng.standard_normal(1000), 3.0 + 0.1 * rng.standard_normal(1000)
    mono = (left + right) / 2
    expected = (mono - mono.mean()) / np.sqrt(mono.var() + 1e-7)
    mixed = feature_extractor([np.stack([left, right])], sampling_rate=16000, return_tensors="np")["input_values"][0]
    np.testing.assert_allclose(mixed, expected, atol=1e-5)


@pytest.mark.parametrize(
    "dtype, to_float",
    [
        (np.int16, lambda pcm: pcm / 32768.0),
        (np.int32, lambda pcm: pcm / 2147483648.0),
        (np.uint8, lambda pcm: (pcm.astype(np.float64) - 128.0) / 128.0),
    ],
)
def test_integer_pcm_of_each_width_is_scaled_to_unit_range(dtype, to_float):
    info = np.iinfo(dtype)
    pcm = np.random.default_rng(2).integers(info.min, int(info.max) + 1, size=(2, 800), dtype=dtype)
    unnormalised = SamAudioFeatureExtractor(do_normalize=False)
    values = unnormalised([pcm], sampling_rate=16000, return_tensors="np")["input_values"][0]
    np.testing.assert_allclose(values, to_float(pcm).mean(axis=0), atol=1e-6)
    assert np.abs(values).max() <= 1.0


def test_integer_pcm_is_scaled(feature_extractor):
    pcm = (np.sin(np.linspace(0, 100, 1600)) * 16000).astype(np.int16)
    unnormalised = SamAudioFeatureExtractor(do_normalize=False)
    values = unnormalised(pcm, sampling_rate=16000)["input_values"][0]
    np.testing.assert_allclose(values, pcm / 32768.0, atol=1e-6)
    assert values.dtype == np.float32


def test_resamples_other_rates(feature_extractor):
    clip = np.random.randn(44100).astype(np.float32)
    values = feature_extractor(clip, sampling_rate=44100, return_tensors="np")["input_values"]
    assert values.shape == (1, 16000)


def test_warns_when_sampling_rate_is_missing(caplog):
    feature_extractor = SamAudioFeatureExtractor()
    from transformers.utils import logging

    logging.get_logger("feature_extraction_sam_audio").warning_once.cache_clear()
    logger = logging.get_logger("feature_extraction_sam_audio")
    logger.propagate = True
    with caplog.at_level("WARNING"):
        feature_extractor(np.zeros(400))
    assert "sampling_rate" in caplog.text


def test_truncation_by_seconds(feature_extractor):
    batch = feature_extractor(np.random.randn(48000), sampling_rate=16000, max_length_seconds=1.0)
    assert len(batch["input_values"][0]) == 16000
    padded = feature_extractor(
        np.random.randn(8000), sampling_rate=16000, max_length_seconds=1.0, padding="max_length", return_tensors="np"
    )
    assert padded["input_values"].shape == (1, 16000) and padded["attention_mask"].sum() == 8000


BAD_INPUTS = [
    (np.array([]), "empty"),
    ([np.random.randn(100), np.array([])], "Clip 1 is empty"),
    (np.array([0.1, np.nan, 0.2]), "NaN"),
    (np.array([0.1, np.inf]), "NaN or infinite"),
    (np.zeros((1, 2, 3, 4)), "shape"),
    ([np.zeros((2, 3, 4))], "shape"),
    (np.array(["a", "b"]), "dtype"),
    (np.array([True, False]), "dtype"),
    ("audio.wav", "Unsupported audio input"),
    ([], "empty list"),
]


@pytest.mark.parametrize("raw_audio, message", BAD_INPUTS)
def test_bad_inputs_raise_value_error(feature_extractor, raw_audio, message):
    with pytest.raises(ValueError, match=message):
        feature_extractor(raw_audio, sampling_rate=16000)


@pytest.mark.parametrize("sampling_rate", [0, -16000, 16000.5, True])
def test_bad_sampling_rate_raises(feature_extractor, sampling_rate):
    with pytest.raises(ValueError, match="sampling_rate"):
        feature_extractor(np.zeros(400), sampling_rate=sampling_rate)


def test_bad_constructor_values_raise():
    with pytest.raises(ValueError, match="sampling_rate"):
        SamAudioFeatureExtractor(sampling_rate=0)
    with pytest.raises(ValueError, match="feature_size"):
        SamAudioFeatureExtractor(feature_size=2)


def test_truncation_needs_a_length(feature_extractor):
    with pytest.raises(ValueError, match="max_length"):
        feature_extractor(np.zeros(400), sampling_rate=16000, truncation=True)


def test_save_load(tmp_path, feature_extractor):
    feature_extractor.save_pretrained(tmp_path)
    reloaded = SamAudioFeatureExtractor.from_pretrained(tmp_path)
    assert reloaded.to_dict() == feature_extractor.to_dict()
    from modeling_sam_audio import register_auto_classes

    register_auto_classes()
    assert isinstance(AutoFeatureExtractor.from_pretrained(tmp_path), SamAudioFeatureExtractor)
