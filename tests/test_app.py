"""The web demo (app.py): its logic without a browser, and (slow) the served app through gradio_client and Chromium."""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from matplotlib.figure import Figure


gr = pytest.importorskip("gradio", reason="the web demo is an optional extra: pip install -e '.[demo]'")

import app  # noqa: E402
from feature_extraction_sam_audio import SamAudioFeatureExtractor  # noqa: E402
from pipeline_sam_audio import SamAudioClassificationPipeline, save_pretrained_with_pipeline  # noqa: E402
from sam_audio_raga.synthetic import RAGA_NAMES, generate_clip  # noqa: E402


ROOT = Path(__file__).resolve().parent.parent
RATE = 16000
TONIC_HZ = 146.8
# The served app's start-up (gradio import, model, examples) and a page load, on 2 busy CPU cores.
SERVER_START_SECONDS = 240
# `@slow` alone would skip these only after their module fixtures had started the server.
slow = pytest.mark.skipif(
    os.environ.get("RUN_SLOW", "").lower() not in ("1", "true", "yes", "on"), reason="test is slow (RUN_SLOW=1)"
)
# For the docs picture: serve this model instead of the tiny one, and keep the browser's screenshot here.
MODEL_ENV = "SAM_AUDIO_APP_TEST_MODEL"
SCREENSHOT_ENV = "SAM_AUDIO_APP_SCREENSHOT"


def cents_apart_in_pitch_class(first_hz: float, second_hz: float) -> float:
    """Distance in cents between two pitches, ignoring octaves."""
    cents = (1200.0 * np.log2(first_hz / second_hz)) % 1200.0
    return min(cents, 1200.0 - cents)


def write_video(audio: Path, video: Path) -> None:
    """An MP4 with a small moving picture and `audio` as its sound track."""
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-i", str(audio),
         "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(video)],
        check=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    kalyani = generate_clip("Kalyani", TONIC_HZ, "violin", seconds=30.0, rng=rng)
    soundfile.write(directory / "kalyani.wav", kalyani, RATE)
    soundfile.write(directory / "kalyani-12s.flac", kalyani[: 12 * RATE], RATE)
    soundfile.write(directory / "silence.wav", np.zeros(30 * RATE, dtype=np.float32), RATE)
    silence = np.zeros(90 * RATE, dtype=np.float32)
    soundfile.write(directory / "mostly-silent.wav", np.concatenate([kalyani, silence]), RATE)
    soundfile.write(directory / "two-seconds.wav", kalyani[: 2 * RATE], RATE)
    (directory / "corrupt.mp3").write_bytes(b"ID3 this is no mp3 at all " * 100)
    write_video(directory / "kalyani.wav", directory / "kalyani.mp4")
    return directory


@pytest.fixture(scope="module")
def demo(make_tiny_model) -> app.RagaDemo:
    return app.RagaDemo(
        SamAudioClassificationPipeline(model=make_tiny_model(), feature_extractor=SamAudioFeatureExtractor())
    )


def test_a_recording_gets_ragas_a_timeline_an_attention_map_and_its_tonic(demo, audio_dir):
    analysis = demo.analyse(audio_dir / "kalyani.wav")

    assert [entry["label"] for entry in analysis.labels] == sorted(RAGA_NAMES, key=lambda name: -analysis.scores[name])
    assert sum(analysis.scores.values()) == pytest.approx(1.0, abs=1e-4)
    assert [(window["start"], window["end"]) for window in analysis.timeline] == [(0.0, 20.0), (20.0, 30.0)]
    assert isinstance(demo.timeline_figure(analysis), Figure)
    assert isinstance(demo.attention_figure(analysis), Figure)
    # The frontend's tonic alignment starts from a Sa-Pa drone template, so even an untrained model finds Sa.
    assert cents_apart_in_pitch_class(analysis.tonic.hz, TONIC_HZ) < 50
    assert analysis.tonic.note == "D3" and 0 < analysis.tonic.probability <= 1
    assert "Tonic (Sa)" in demo.details(analysis) and analysis.notes == []


def test_a_recording_of_one_window_has_no_timeline(demo, audio_dir):
    analysis = demo.analyse(audio_dir / "kalyani-12s.flac")
    assert len(analysis.timeline) == 1
    assert demo.timeline_figure(analysis) is None


def test_the_sound_track_of_a_video_is_classified(demo, audio_dir):
    analysis = demo.analyse(audio_dir / "kalyani.mp4")
    assert analysis.duration == pytest.approx(30.0, abs=0.2)
    assert analysis.labels[0]["label"] in RAGA_NAMES


def test_silent_windows_get_a_note_and_no_say_in_the_tonic(demo, audio_dir):
    analysis = demo.analyse(audio_dir / "mostly-silent.wav")
    assert len(analysis.timeline) == 6
    assert analysis.notes == ["4 of 6 windows are silent (below -60 dBFS); they still count in the answer."]
    assert cents_apart_in_pitch_class(analysis.tonic.hz, TONIC_HZ) < 50
    # A silent window's tonic distribution is flat: averaged in, it would dilute the music's by two thirds.
    music = demo.analyse(audio_dir / "kalyani.wav")
    assert analysis.tonic.probability == pytest.approx(music.tonic.probability, abs=0.15)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("corrupt.mp3", "Could not open corrupt.mp3 as audio"),
        ("silence.wav", "silence.wav is silent"),
        ("two-seconds.wav", "two-seconds.wav lasts 2.0 s. The model needs at least 5 s"),
        ("missing.wav", "No such audio file: missing.wav"),
        (None, "Upload a recording"),
    ],
)
def test_what_cannot_be_classified_is_one_readable_line(demo, audio_dir, name, expected):
    with pytest.raises(app.DemoInputError) as raised:
        demo.analyse(None if name is None else audio_dir / name)
    message = str(raised.value)
    assert expected in message
    # No server paths and no traceback: one line about the file as the person named it.
    assert str(audio_dir) not in message and "\n" not in message and "Traceback" not in message


def test_the_page_handlers_answer_in_words(demo, audio_dir, tmp_path):
    blocks = build_demo_with_one_example(demo, audio_dir)
    classify = next(function for function in blocks.fns.values() if function.api_name == "classify").fn

    scores, analysis = classify(str(audio_dir / "kalyani.wav"))
    assert scores == analysis.scores and set(scores) == set(RAGA_NAMES)
    with pytest.raises(gr.Error) as raised:
        classify(str(audio_dir / "corrupt.mp3"))
    assert raised.value.message.startswith("Could not open corrupt.mp3 as audio")


def build_demo_with_one_example(demo: app.RagaDemo, audio_dir: Path) -> "gr.Blocks":
    return app.build_demo(demo, [("Kalyani", audio_dir / "kalyani-12s.flac")])


def test_classify_is_the_first_and_only_public_endpoint(demo, audio_dir):
    dependencies = build_demo_with_one_example(demo, audio_dir).config["dependencies"]
    assert dependencies[0]["api_name"] == "classify"
    assert [entry["api_name"] for entry in dependencies if entry["api_visibility"] == "public"] == ["classify"]


def test_tonic_from_probabilities():
    one_hot = torch.zeros(36)
    one_hot[6] = 1.0
    tonic = app.tonic_from_probabilities(one_hot, min_frequency=130.0, bins_per_octave=36)
    assert tonic.hz == pytest.approx(130.0 * 2 ** (6 / 36)) and tonic.note == "D3" and tonic.probability == 1.0
    # Split evenly between the last bin and the first (across the octave's edge): half a bin below 130 Hz, in its
    # octave above.
    split = torch.zeros(36)
    split[35], split[0] = 0.5, 0.5
    assert app.tonic_from_probabilities(split, 130.0, 36).hz == pytest.approx(130.0 * 2 ** (35.5 / 36))


def test_examples_are_rendered_once(tmp_path, monkeypatch):
    monkeypatch.setattr(app, "EXAMPLES", (("Todi, 3 s", 7, "voice", 196.0, (("Todi", 2.0), ("Kalyani", 1.0))),))
    monkeypatch.setenv("SAM_AUDIO_CACHE", str(tmp_path))
    [(label, path)] = app.render_examples()
    assert label == "Todi, 3 s" and path.parent == tmp_path / "app_examples"
    audio, rate = soundfile.read(path)
    assert rate == RATE and audio.shape == (3 * RATE,)
    written = path.stat().st_mtime_ns
    assert app.render_examples() == [(label, path)] and path.stat().st_mtime_ns == written
    assert [entry.name for entry in path.parent.iterdir()] == [path.name]


def test_without_a_model_one_line_says_how_to_make_one(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(app.MODEL_ENV, raising=False)
    monkeypatch.setattr(app, "DEFAULT_MODEL_DIR", tmp_path / "outputs" / "demo")
    assert app.main([]) == 2
    assert app.main(["--model", str(tmp_path / "no-such-model")]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 2
    assert lines[0].startswith("app.py: error: no model") and "make demo" in lines[0]
    assert lines[1].startswith("app.py: error: could not load model")


@pytest.mark.slow
@slow
def test_importing_the_app_has_no_side_effects(tmp_path):
    script = "import app, tqdm; assert not hasattr(tqdm.tqdm, '__init__orig__'), 'tqdm patched'"
    environment = {**os.environ, "SAM_AUDIO_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout == "" and not (tmp_path / "cache").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def served(tmp_path_factory, audio_dir, make_tiny_model):
    """`python app.py` in its own process on a free port: `(url, ragas the model knows, server log path)`."""
    directory = tmp_path_factory.mktemp("served")
    model = os.environ.get(MODEL_ENV)
    if model is None:
        model = directory / "model"
        save_pretrained_with_pipeline(make_tiny_model(), SamAudioFeatureExtractor(), model)
    labels = list(json.loads((Path(model) / "config.json").read_text())["id2label"].values())
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = directory / "server.log"
    environment = {
        **os.environ,
        "SAM_AUDIO_CACHE": str(directory / "cache"),
        "GRADIO_TEMP_DIR": str(directory / "gradio"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "OMP_NUM_THREADS": "1",
    }
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "app.py", "--model", str(model), "--port", str(port), "--share", "false"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not answers(url, timeout=2.0):
            assert server.poll() is None, f"app.py exited with {server.returncode}:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"app.py did not answer in time:\n{log_path.read_text()[-3000:]}"
            time.sleep(0.5)
        yield url, labels, log_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[0], verbose=False)


@pytest.mark.slow
@slow
def test_the_client_gets_the_ragas_from_the_first_endpoint(served, client, audio_dir):
    from gradio_client import handle_file

    _, labels, _ = served
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/classify"]
    result = client.predict(handle_file(str(audio_dir / "kalyani.wav")), api_name="/classify")
    confidences = result["confidences"]
    assert result["label"] == confidences[0]["label"] and {entry["label"] for entry in confidences} <= set(labels)
    assert len(confidences) == min(app.TOP_K, len(labels))
    scores = [entry["confidence"] for entry in confidences]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-6


@pytest.mark.slow
@slow
def test_bad_input_gets_a_readable_error_and_the_server_keeps_serving(served, client, audio_dir):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    _, labels, log_path = served
    expected = {
        "corrupt.mp3": "Could not open corrupt.mp3 as audio",
        "silence.wav": "silence.wav is silent",
        "two-seconds.wav": "two-seconds.wav lasts 2.0 s",
    }
    for name, message in expected.items():
        with pytest.raises(AppError) as raised:
            client.predict(handle_file(str(audio_dir / name)), api_name="/classify")
        assert str(raised.value).startswith(message) and "Traceback" not in str(raised.value)
    # A video is classified by its sound track, and the server still answers after the errors.
    assert client.predict(handle_file(str(audio_dir / "kalyani.mp4")), api_name="/classify")["label"] in labels
    assert client.predict(handle_file(str(audio_dir / "kalyani.wav")), api_name="/classify")["label"] in labels
    assert "Traceback" not in log_path.read_text()


@pytest.mark.slow
@slow
def test_an_hour_long_recording_shows_progress_and_the_page_stays_up(served, client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.utils import Status

    url, labels, _ = served
    clip = generate_clip("Kalyani", TONIC_HZ, "violin", seconds=20.0, rng=np.random.default_rng(1))
    recording = tmp_path / "one-hour.wav"
    with soundfile.SoundFile(recording, "w", samplerate=RATE, channels=1, subtype="PCM_16") as file:
        for _ in range(180):
            file.write(clip)
    job = client.submit(handle_file(str(recording)), api_name="/classify")

    async def updates() -> list:
        return [update async for update in job]

    page_answered = []
    while not job.done():
        page_answered.append(answers(url, timeout=5.0))
        time.sleep(0.5)
    assert job.result()["label"] in labels
    assert page_answered and all(page_answered)
    progress = [
        unit
        for update in asyncio.run(updates())
        if getattr(update, "code", None) == Status.PROGRESS
        for unit in update.progress_data
    ]
    windows = [unit for unit in progress if unit.unit == "window"]
    assert windows and {unit.length for unit in windows} == {180}
    assert max(unit.index for unit in windows) > 0


@pytest.mark.slow
@slow
def test_a_browser_uploads_a_clip_and_sees_the_ragas(served, tmp_path):
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, labels, _ = served
    rng = np.random.default_rng(2)
    concert = np.concatenate(
        [generate_clip(raga, TONIC_HZ, "violin", seconds=40.0, rng=rng) for raga in ("Kalyani", "Todi")]
    )
    clip = tmp_path / "kalyani-then-todi.flac"
    soundfile.write(clip, concert, RATE)

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1800"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 120)
        upload = wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#recording input[type=file]"))[0]
        upload.send_keys(str(clip))
        # The player shows the clip's length once the upload has reached the server.
        wait.until(lambda page: "1:20" in page.find_element(By.ID, "recording").text)
        driver.find_element(By.ID, "classify-button").click()
        wait.until(lambda page: any(name in page.find_element(By.ID, "ragas").text for name in labels))
        wait.until(lambda page: "Tonic" in page.find_element(By.ID, "details").text)
        wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#timeline img, #attention img"))
        wait.until(lambda page: len(page.find_elements(By.CSS_SELECTOR, "#timeline img, #attention img")) == 2)
        shown = driver.find_element(By.ID, "ragas").text
        assert sum(name in shown for name in labels) >= 2
        assert "Error" not in driver.find_element(By.TAG_NAME, "body").text
        # The whole page: the window grows by the page's height plus what the browser's own frame takes.
        height, frame = driver.execute_script(
            "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]"
        )
        driver.set_window_size(1280, height + frame)
        time.sleep(1.0)
        screenshot = tmp_path / "app.png"
        assert driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(screenshot, os.environ[SCREENSHOT_ENV])
