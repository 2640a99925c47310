"""Tests for the audio I/O Hub file (`audio_io_sam_audio.py`): PCM conversion, decoding in pieces, resampling."""

import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch
from torchcodec.decoders import AudioDecoder

import audio_io_sam_audio
from audio_io_sam_audio import mix_to_mono, pcm_to_float, resample_stream
from sam_audio_raga.synthetic import generate_clip


RATE = 16000


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory):
    """30 s of a raga at 44.1 kHz, stereo (the right channel quieter), as FLAC and MP3."""
    mono = generate_clip("Todi", 138.0, "voice", seconds=30.0, sampling_rate=44100, rng=np.random.default_rng(1))
    directory = tmp_path_factory.mktemp("audio")
    paths = {"flac": directory / "clip.flac", "mp3": directory / "clip.mp3"}
    sf.write(paths["flac"], np.stack([mono, 0.5 * mono], axis=1), 44100)
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-i", str(paths["flac"]), "-b:a", "128k", str(paths["mp3"])], check=True
    )
    return paths


def test_integer_pcm_maps_onto_the_unit_range_and_channels_are_averaged():
    assert pcm_to_float(np.array([-32768, 0, 16384], dtype=np.int16)).tolist() == [-1.0, 0.0, 0.5]
    assert pcm_to_float(np.array([0, 128, 192], dtype=np.uint8)).tolist() == [-1.0, 0.0, 0.5]
    stereo = np.array([[0.2, 0.4], [0.6, -0.4]], dtype=np.float32)  # (samples, channels)
    np.testing.assert_allclose(mix_to_mono(stereo, channel_axis=1), [0.3, 0.1])
    assert mix_to_mono(stereo, channel_axis=1).dtype == np.float32


@pytest.mark.parametrize("orig_rate", [44100, 22050, 48000, 8000])
def test_streaming_resampler_matches_resampling_the_whole_signal(orig_rate):
    import torchaudio.functional

    signal = np.random.default_rng(0).standard_normal(orig_rate * 3 + 123).astype(np.float32)
    expected = torchaudio.functional.resample(torch.from_numpy(signal), orig_rate, RATE).numpy()
    sizes = [1000, orig_rate, 5, 2 * orig_rate + 17]
    chunks, start = [], 0
    while start < signal.size:
        chunks.append(signal[start : start + sizes[len(chunks) % len(sizes)]])
        start += chunks[-1].size
    streamed = np.concatenate(list(resample_stream(iter(chunks), orig_rate, RATE)))
    assert streamed.shape == expected.shape
    np.testing.assert_allclose(streamed, expected, atol=1e-5)


@pytest.mark.parametrize("frame_level", [True, False])
def test_pieces_join_into_the_whole_file(audio_files, monkeypatch, frame_level):
    """Pieces start where the previous piece's last frame ended: no sample lost or repeated, with either reader."""
    monkeypatch.setattr(audio_io_sam_audio, "DECODE_CHUNK_SECONDS", 7)
    if not frame_level:  # a torchcodec without the frame-level function: the public, slower method
        monkeypatch.setattr(audio_io_sam_audio, "_frame_range_reader", lambda: None)
    for kind in ("flac", "mp3"):
        whole = AudioDecoder(str(audio_files[kind])).get_all_samples().data.numpy().mean(axis=0)  # the channels' mean
        stream = audio_io_sam_audio.open_decoder(str(audio_files[kind]), kind)
        pieces = list(stream.chunks())
        assert len(pieces) == 5 and stream.sampling_rate == 44100
        np.testing.assert_array_equal(np.concatenate(pieces), whole)
