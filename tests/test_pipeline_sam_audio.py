"""SamAudioClassificationPipeline: every kind of input, windows of long recordings, streaming, remote-code loading."""

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch
from torchcodec.decoders import AudioDecoder

import audio_io_sam_audio
from audio_io_sam_audio import DECODE_CHUNK_SECONDS, read_audio_segment
from feature_extraction_sam_audio import SamAudioFeatureExtractor
from pipeline_sam_audio import (
    CUSTOM_PIPELINE_ENTRY,
    SamAudioClassificationPipeline,
    _iter_windows,
    plan_windows,
    save_pretrained_with_pipeline,
)
from sam_audio_raga.synthetic import generate_clip
from testing_utils import run_isolated


RATE = 16000


@pytest.fixture(scope="module")
def model(make_tiny_model):
    return make_tiny_model()


@pytest.fixture(scope="module")
def classifier(model):
    return SamAudioClassificationPipeline(
        model=model, feature_extractor=SamAudioFeatureExtractor(), progress_bar=False
    )


@pytest.fixture(scope="module")
def saved_folders(model, tmp_path_factory):
    """A folder written by `save_pretrained_with_pipeline` and one written by plain `save_pretrained`."""
    with_pipeline = tmp_path_factory.mktemp("with_pipeline")
    save_pretrained_with_pipeline(model, SamAudioFeatureExtractor(), with_pipeline)
    plain = tmp_path_factory.mktemp("plain")
    model.save_pretrained(plain)
    SamAudioFeatureExtractor().save_pretrained(plain)
    return with_pipeline, plain


@pytest.fixture(scope="module")
def clip_44k():
    """30 s of a raga at 44.1 kHz, stereo (the right channel quieter)."""
    mono = generate_clip("Todi", 138.0, "voice", seconds=30.0, sampling_rate=44100, rng=np.random.default_rng(1))
    return np.stack([mono, 0.5 * mono], axis=1)  # (samples, channels), as soundfile writes it


@pytest.fixture(scope="module")
def audio_files(clip_44k, tmp_path_factory):
    directory = tmp_path_factory.mktemp("audio")
    paths = {"wav": directory / "clip.wav", "flac": directory / "clip.flac", "mp3": directory / "clip.mp3"}
    sf.write(paths["wav"], clip_44k, 44100, subtype="FLOAT")
    sf.write(paths["flac"], clip_44k, 44100)
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-i", str(paths["wav"]), "-b:a", "128k", str(paths["mp3"])], check=True
    )
    return paths


def scores_of(result: list[dict]) -> dict[str, float]:
    return {entry["label"]: entry["score"] for entry in result}


def test_saved_folder_names_the_pipeline_and_leaves_the_model_alone(saved_folders, model):
    with_pipeline, plain = saved_folders
    files = {path.name for path in with_pipeline.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "pipeline_sam_audio.py"} <= files
    assert {"modeling_sam_audio.py", "configuration_sam_audio.py", "feature_extraction_sam_audio.py"} <= files
    config = json.loads((with_pipeline / "config.json").read_text())
    assert config["custom_pipelines"] == {"audio-classification": CUSTOM_PIPELINE_ENTRY}
    assert config["auto_map"]["AutoModelForAudioClassification"].endswith("SamAudioForAudioClassification")
    assert "custom_pipelines" not in json.loads((plain / "config.json").read_text())
    assert not hasattr(model.config, "custom_pipelines")


def test_pipeline_save_pretrained_keeps_the_pipeline(classifier, tmp_path):
    classifier.save_pretrained(tmp_path)
    assert (tmp_path / "pipeline_sam_audio.py").is_file()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["custom_pipelines"]["audio-classification"]["impl"].endswith("SamAudioClassificationPipeline")


def test_fresh_process_loads_the_pipeline_from_the_folder_with_bounded_memory(saved_folders, tmp_path):
    """The plain `pipeline(...)` call picks the folder's pipeline code, and a 10-minute file streams through it: its
    peak memory exceeds that of a 2-minute file by less than half of what its samples take as float32."""
    with_pipeline, plain = saved_folders
    clip = generate_clip("Kalyani", 146.8, "violin", seconds=20.0, rng=np.random.default_rng(0))
    short, concert = tmp_path / "short.flac", tmp_path / "concert.flac"
    sf.write(short, np.tile(clip, 6), RATE)
    sf.write(concert, np.tile(clip, 30), RATE)
    # Peak RSS from VmHWM: a child's `ru_maxrss` starts at its parent's RSS at the fork, and pytest's is large. The
    # 2-minute file comes first: its two decoded pieces and full window batches are what a longer file needs too.
    script = f"""
        import json, resource, sys
        from transformers import pipeline

        def peak_mib():
            try:
                status = open("/proc/self/status").read().splitlines()
                return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 1024
            except OSError:
                return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        classifier = pipeline("audio-classification", model={str(with_pipeline)!r}, trust_remote_code=True)
        short = classifier({str(short)!r}, return_timeline=True, batch_size=3)
        short_peak_mib = peak_mib()
        result = classifier({str(concert)!r}, return_timeline=True, top_k=3, batch_size=3)
        long_peak_mib = peak_mib()
        stock = pipeline("audio-classification", model={str(plain)!r}, trust_remote_code=True)
        print(json.dumps({{
            "module": type(classifier).__module__,
            "name": type(classifier).__name__,
            "stock": type(stock).__name__,
            "package_imported": "pipeline_sam_audio" in sys.modules,
            "short_windows": len(short["timeline"]),
            "result": result,
            "growth_mib": long_peak_mib - short_peak_mib,
        }}))
    """
    report = run_isolated(script, tmp_path, tmp_path / "hf_home")
    assert report["module"].startswith("transformers_modules")
    assert report["name"] == "SamAudioClassificationPipeline"
    assert not report["package_imported"]
    assert report["stock"] == "AudioClassificationPipeline"
    assert report["short_windows"] == 6
    result = report["result"]
    assert len(result["timeline"]) == 600 // 20
    assert [entry["start"] for entry in result["timeline"]] == [20.0 * index for index in range(30)]
    assert result["duration"] == pytest.approx(600.0)
    assert len(result["labels"]) == 3
    samples_mib = 600 * RATE * 4 / 2**20  # 36.6 MiB: the 10 minutes as float32, decoded whole
    assert report["growth_mib"] < samples_mib / 2, f"peak RSS grew by {report['growth_mib']:.1f} MiB"


@pytest.fixture(scope="module")
def array_result(classifier, clip_44k):
    return classifier({"raw": clip_44k, "sampling_rate": 44100}, top_k=8, return_timeline=True)


@pytest.mark.parametrize("kind", ["wav", "flac", "mp3"])
def test_file_inputs_agree_with_the_decoded_array(classifier, audio_files, array_result, kind):
    from_array = array_result
    from_file = classifier(str(audio_files[kind]), top_k=8, return_timeline=True)
    assert len(from_file["timeline"]) == len(from_array["timeline"]) == 2  # 30 s: 0-20 and 20-30
    assert from_file["timeline"][-1]["end"] == pytest.approx(30.0, abs=0.05)
    expected = scores_of(from_array["labels"])
    # Lossless files give the array's answer; mp3 only close to it.
    tolerance = 2e-2 if kind == "mp3" else 1e-3
    for label, score in scores_of(from_file["labels"]).items():
        assert score == pytest.approx(expected[label], abs=tolerance)


def test_dict_array_tensor_and_list_inputs(classifier, clip_44k):
    stereo = clip_44k[: 44100 * 12]  # one window is enough here
    raw = classifier({"raw": stereo, "sampling_rate": 44100})
    assert len(raw) == 5  # the stock pipeline's default top_k
    array = classifier({"array": stereo.T.copy(), "sampling_rate": 44100, "path": None})  # channels first
    tensor = classifier({"raw": torch.from_numpy(stereo), "sampling_rate": 44100})
    assert scores_of(array) == pytest.approx(scores_of(raw), abs=1e-5)
    assert scores_of(tensor) == pytest.approx(scores_of(raw), abs=1e-5)

    clip_16k = stereo[: 44100 * 5, 0]  # a bare array is read as 16 kHz
    batch = classifier([{"raw": stereo, "sampling_rate": 44100}, clip_16k], top_k=2)
    assert isinstance(batch, list) and [len(result) for result in batch] == [2, 2]
    assert scores_of(batch[0]) == pytest.approx({label: scores_of(raw)[label] for label in scores_of(batch[0])})
    integer_pcm = classifier((clip_16k * 32767).astype(np.int16), top_k=8)
    float32 = scores_of(classifier(clip_16k.astype(np.float32), top_k=8))
    assert scores_of(integer_pcm) == pytest.approx(float32, abs=1e-3)
    assert scores_of(classifier(clip_16k.astype(np.float64), top_k=8)) == pytest.approx(float32, abs=1e-5)


@pytest.fixture
def unnormalised(model):
    """A pipeline whose feature extractor leaves the samples as they are (so their scale shows in the model's input),
    and the list of the windows the pipeline hands that feature extractor."""
    windows = []

    class WindowRecorder(SamAudioFeatureExtractor):
        def __call__(self, raw_audio, *args, **kwargs):
            windows.extend(np.array(window, copy=True) for window in raw_audio)
            return super().__call__(raw_audio, *args, **kwargs)

    extractor = WindowRecorder(do_normalize=False)
    return SamAudioClassificationPipeline(model=model, feature_extractor=extractor, progress_bar=False), windows


@pytest.fixture(scope="module")
def two_channels():
    """6 s of two different recordings at 16 kHz: the left a voice in Todi, the right a flute in Kalyani."""
    left = generate_clip("Todi", 138.0, "voice", seconds=6.0, rng=np.random.default_rng(4))
    right = 0.5 * generate_clip("Kalyani", 196.0, "flute", seconds=6.0, rng=np.random.default_rng(5))
    return left.astype(np.float32), right.astype(np.float32)


def model_scores(model, mono: np.ndarray) -> dict[str, float]:
    inputs = SamAudioFeatureExtractor(do_normalize=False)(mono, sampling_rate=RATE, return_tensors="pt")
    with torch.no_grad():
        probabilities = model(**inputs).logits.softmax(-1)[0]
    return {model.config.id2label[index]: value for index, value in enumerate(probabilities.tolist())}


def test_stereo_arrays_are_averaged_and_int16_scaled_without_normalisation(unnormalised, two_channels, model):
    classifier, windows = unnormalised
    left, right = two_channels
    mono = (left + right) / 2
    channels_first = np.stack([left, right])
    for stereo in (channels_first, channels_first.T, torch.from_numpy(channels_first)):
        windows.clear()
        result = classifier({"raw": stereo, "sampling_rate": RATE}, top_k=8)
        np.testing.assert_allclose(windows[0], mono, atol=1e-7)
        assert scores_of(result) == pytest.approx(model_scores(model, mono), abs=1e-5)

    windows.clear()
    classifier({"raw": np.stack([left, np.zeros_like(left)]), "sampling_rate": RATE})
    np.testing.assert_allclose(windows[0], left / 2, atol=1e-7)

    pcm = np.round(np.stack([left, right]) * 32767).astype(np.int16)
    windows.clear()
    from_pcm = classifier({"raw": pcm, "sampling_rate": RATE}, top_k=8)
    expected = pcm.astype(np.float64).mean(axis=0) / 32768
    np.testing.assert_allclose(windows[0], expected, atol=1e-7)
    assert scores_of(from_pcm) == pytest.approx(model_scores(model, expected.astype(np.float32)), abs=1e-5)
    # The same samples as floats: the scores of the int16 input, whose scale the model sees here.
    from_float = classifier({"raw": pcm.astype(np.float32) / 32768, "sampling_rate": RATE}, top_k=8)
    assert scores_of(from_pcm) == pytest.approx(scores_of(from_float), abs=1e-5)


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_16"])
def test_stereo_files_are_averaged_like_arrays(unnormalised, two_channels, tmp_path, subtype):
    """A file's channels are mixed down as an array's are (their mean), whatever its sample format."""
    classifier, windows = unnormalised
    left, right = two_channels
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), RATE, subtype=subtype)
    stored, _ = sf.read(path, dtype="float32")
    for source in (str(path), path.read_bytes(), AudioDecoder(str(path))):
        windows.clear()
        classifier(source)
        np.testing.assert_allclose(windows[0], stored.mean(axis=1), atol=1e-6)
    assert read_audio_segment(path, 0.0, 1.0) == pytest.approx(stored[:RATE].mean(axis=1), abs=1e-6)


def test_one_window_matches_a_single_forward_pass(classifier, model, clip_44k):
    clip = clip_44k[: 44100 * 12, 0]
    result = classifier({"raw": clip, "sampling_rate": 44100}, top_k=8)
    extractor = SamAudioFeatureExtractor()
    with torch.no_grad():
        probabilities = model(**extractor(clip, sampling_rate=44100, return_tensors="pt")).logits.softmax(-1)[0]
    expected = {model.config.id2label[index]: value for index, value in enumerate(probabilities.tolist())}
    assert scores_of(result) == pytest.approx(expected, abs=1e-4)


def test_windows_are_aggregated_by_mean_log_probability(classifier, model):
    audio = generate_clip("Varali", 150.0, "flute", seconds=65.0, rng=np.random.default_rng(2))
    result = classifier({"raw": audio, "sampling_rate": RATE}, top_k=8, return_timeline=True)
    spans = [(entry["start"], entry["end"]) for entry in result["timeline"]]
    assert spans == [(0.0, 20.0), (20.0, 40.0), (40.0, 65.0)]  # the 5 s tail is merged into the last window
    names = list(model.config.id2label.values())
    log_probs = np.log([[entry["scores"][name] for name in names] for entry in result["timeline"]])
    mean = log_probs.mean(axis=0)
    expected = np.exp(mean - mean.max()) / np.exp(mean - mean.max()).sum()
    assert scores_of(result["labels"]) == pytest.approx(dict(zip(names, expected)), abs=1e-5)
    assert [entry["score"] for entry in result["labels"]] == pytest.approx(sorted(expected, reverse=True), abs=1e-5)

    # 32 s in 10 s windows every 5 s: the last window (25-32 s) is shorter, and padded when batched with 20-30 s.
    overlapping_input = {"raw": audio[: 32 * RATE], "sampling_rate": RATE}
    overlapping = classifier(overlapping_input, window_seconds=10, hop_seconds=5, return_timeline=True, batch_size=4)
    assert [(entry["start"], entry["end"]) for entry in overlapping["timeline"]] == [
        (0.0, 10.0),
        (5.0, 15.0),
        (10.0, 20.0),
        (15.0, 25.0),
        (20.0, 30.0),
        (25.0, 32.0),
    ]
    # Batching (and so padding) the windows differently gives the same answer.
    one_by_one = classifier(overlapping_input, window_seconds=10, hop_seconds=5, return_timeline=True, batch_size=1)
    assert scores_of(one_by_one["labels"]) == pytest.approx(scores_of(overlapping["labels"]), abs=1e-5)


def test_plan_windows():
    assert plan_windows(65, 20, 20, 10) == [(0, 20), (20, 40), (40, 65)]
    assert plan_windows(75, 20, 20, 10) == [(0, 20), (20, 40), (40, 60), (60, 75)]
    assert plan_windows(60, 20, 20, 10) == [(0, 20), (20, 40), (40, 60)]
    assert plan_windows(7, 20, 20, 10) == [(0, 7)]  # shorter than the minimum: one window
    assert plan_windows(45, 20, 10, 10) == [(0, 20), (10, 30), (20, 40), (30, 45)]
    assert plan_windows(0, 20, 20, 10) == []


@pytest.mark.parametrize("chunk", [1, 37, 1000])
def test_streamed_windows_match_the_plan(chunk):
    for total in (0, 5, 99, 100, 101, 160, 250, 1234):
        for window, hop, min_length in ((100, 100, 50), (100, 50, 50), (100, 30, 10), (37, 37, 1)):
            signal = np.arange(total, dtype=np.float32)
            chunks = iter([signal[start : start + chunk] for start in range(0, total, chunk)])
            windows = list(_iter_windows(chunks, window, hop, min_length))
            assert [(start, end) for start, end, _ in windows] == plan_windows(total, window, hop, min_length)
            assert all(np.array_equal(samples, signal[start:end]) for start, end, samples in windows)


def test_files_are_decoded_in_pieces_never_whole(classifier, tmp_path, monkeypatch):
    path = tmp_path / "long.flac"
    sf.write(path, generate_clip("Kalyani", 146.8, "veena", seconds=150.0, rng=np.random.default_rng(3)), RATE)
    requested = []
    read_frames = audio_io_sam_audio._frame_range_reader()

    def spy(handle, start_seconds, stop_seconds):
        requested.append((start_seconds, stop_seconds))
        return read_frames(handle, start_seconds=start_seconds, stop_seconds=stop_seconds)

    def refuse(self):
        raise AssertionError("the whole file was decoded at once")

    monkeypatch.setattr(audio_io_sam_audio, "_frame_range_reader", lambda: spy)
    monkeypatch.setattr(AudioDecoder, "get_all_samples", refuse)
    result = classifier(path, return_timeline=True)
    assert len(result["timeline"]) == 8  # 150 s: seven 20 s windows and a 10 s tail kept on its own
    assert len(requested) == 3 and all(stop - start == DECODE_CHUNK_SECONDS for start, stop in requested)
    segment = read_audio_segment(path, 20.0, 40.0)
    assert segment.shape == (20 * RATE,)


def test_bytes_and_audio_decoder_inputs(classifier, audio_files, array_result):
    expected = scores_of(array_result["labels"])
    assert scores_of(classifier(audio_files["flac"].read_bytes(), top_k=8)) == pytest.approx(expected, abs=1e-3)
    native = AudioDecoder(str(audio_files["flac"]))  # stereo, 44.1 kHz: streamed
    resampling = AudioDecoder(str(audio_files["flac"]), sample_rate=RATE)  # as `datasets` makes them: decoded whole
    assert scores_of(classifier(native, top_k=8)) == pytest.approx(expected, abs=1e-3)
    assert scores_of(classifier(resampling, top_k=8)) == pytest.approx(expected, abs=2e-2)


def test_unreadable_too_short_and_bad_arguments(classifier, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF but not really a wave file" * 50)
    with pytest.raises(ValueError, match="Could not open .*corrupt.wav as audio"):
        classifier(str(corrupt))
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        classifier(str(tmp_path / "missing.wav"))
    with pytest.raises(ValueError, match="receptive field"):
        classifier({"raw": np.zeros(1000, dtype=np.float32), "sampling_rate": RATE})
    with pytest.raises(ValueError, match="hop_seconds"):
        classifier(np.zeros(RATE * 30, dtype=np.float32), window_seconds=10, hop_seconds=20)
    with pytest.raises(ValueError, match="sampling_rate"):
        classifier({"raw": np.zeros(RATE, dtype=np.float32)})
    with pytest.raises(TypeError, match="unexpected"):
        classifier(np.zeros(RATE * 5, dtype=np.float32), chunk_length_s=10)
