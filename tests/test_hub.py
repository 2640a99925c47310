"""The Hub: one clear line when it does not answer (offline mode off), and what a push uploads and leaves out."""

import fnmatch
import http.server
import threading
import time
from pathlib import Path

import pytest
from huggingface_hub import constants
from huggingface_hub.utils import filter_repo_objects
from transformers import Trainer

import run_raga_classification
import sam_audio_raga.cli
from modeling_sam_audio import SamAudioForAudioClassification
from sam_audio_raga.hub import HUB_IGNORE_PATTERNS, hub_unreachable_reason


# Offline mode off and every Hub request sent to a closed local port: refused at once, never waited on.
UNREACHABLE = {
    "HF_HUB_OFFLINE": None,
    "HF_DATASETS_OFFLINE": None,
    "HF_ENDPOINT": "http://127.0.0.1:9",
    "HF_HUB_ETAG_TIMEOUT": "3",
    "HF_HUB_DOWNLOAD_TIMEOUT": "3",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
TINY_DATA = [
    "--dataset_name", "synthetic", "--synthetic_recordings_per_raga", "2", "--synthetic_clips_per_recording", "2",
    "--synthetic_clip_seconds", "3", "--max_length_seconds", "2", "--group_column_name", "recording_id",
]  # fmt: skip
# What a training folder may hold that must stay local, beside the checkpoints the run itself writes.
LOCAL_ONLY = [
    "wandb/run-20250101_000000-abc/files/output.log",
    "wandb/latest-run/run-abc.wandb",
    ".cache/huggingface/token",
    ".cache/huggingface/stored_tokens",
    "hub.token",
    ".netrc",
    "training_args.bin",
    "runs/Jan01_00-00-00/events.out.tfevents.1.host",
]


def error_lines(completed, marker: str) -> list[str]:
    return [line for line in (completed.stdout + completed.stderr).splitlines() if marker in line]


def test_reachability_check_names_offline_mode_a_closed_endpoint_and_passes_an_answering_one(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub_unreachable_reason() == "offline mode is on (HF_HUB_OFFLINE=1)"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    reason = hub_unreachable_reason(timeout=3.0)
    assert reason is not None and reason.startswith("http://127.0.0.1:9 did not answer (")

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        assert hub_unreachable_reason(timeout=3.0) is None
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_hub_dataset_is_one_clear_line(run_training_script, tmp_path):
    started = time.monotonic()
    completed = run_training_script(
        ["--dataset_name", "someone/carnatic-ragas", "--output_dir", str(tmp_path / "x")], **UNREACHABLE
    )
    assert completed.returncode == 1, completed.stderr[-3000:]
    errors = error_lines(completed, "Cannot load dataset")
    assert len(errors) == 1, completed.stderr[-3000:]
    # The reachability check ran (offline mode is off) and named the endpoint that did not answer.
    assert "'someone/carnatic-ragas'" in errors[0] and "http://127.0.0.1:9 did not answer" in errors[0]
    assert "--dataset_name synthetic" in errors[0] and "HF_HUB_OFFLINE=1" in errors[0]
    assert "Traceback" not in completed.stderr
    assert time.monotonic() - started < 120


def test_unreachable_hub_push_keeps_the_local_output(run_training_script, tiny_model_flags, quick_run_flags, tmp_path):
    output_dir = tmp_path / "out"
    arguments = [*TINY_DATA, *tiny_model_flags, *quick_run_flags, "--epochs", "1", "--output_dir", str(output_dir)]
    completed = run_training_script(
        [*arguments, "--push_to_hub", "true", "--hub_model_id", "someone/sam-audio-test"], **UNREACHABLE
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    errors = error_lines(completed, "Not pushing to the Hub")
    assert len(errors) == 1
    assert "http://127.0.0.1:9 did not answer" in errors[0] and "hf upload someone/sam-audio-test" in errors[0]
    assert "Push to the Hub failed" not in completed.stdout + completed.stderr
    for name in ("model.safetensors", "config.json", "preprocessor_config.json", "pipeline_sam_audio.py", "README.md",
                 "eval_results.json", "confusion_matrix.png", "training_args.json"):  # fmt: skip
        assert (output_dir / name).is_file(), name
    assert SamAudioForAudioClassification.from_pretrained(output_dir).config.num_labels == 8


@pytest.fixture(scope="module")
def pushed(tmp_path_factory, run_training, tiny_model_flags, quick_run_flags):
    """A run with `push_to_hub` against a Hub that answers, each upload recorded instead of sent: the output folder
    and, per upload, the arguments `upload_folder` got and the files it would have sent."""
    output_dir = tmp_path_factory.mktemp("push") / "out"
    for name in LOCAL_ONLY:
        (output_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (output_dir / name).write_text("stays local")
    uploads = []

    def record_upload(**kwargs):
        folder = Path(kwargs["folder_path"])
        files = sorted(path.relative_to(folder).as_posix() for path in folder.glob("**/*") if path.is_file())
        # The filter `upload_folder` applies to the folder's files (fnmatch on paths relative to the folder).
        sent = filter_repo_objects(
            files, allow_patterns=kwargs.get("allow_patterns"), ignore_patterns=kwargs.get("ignore_patterns")
        )
        uploads.append({"kwargs": kwargs, "files": files, "sent": set(sent)})

    def create_no_repo(self, token=None, private=None):
        self.hub_model_id = self.args.hub_model_id

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sam_audio_raga.cli, "hub_unreachable_reason", lambda timeout=5.0: None)
        patch.setattr(run_raga_classification, "upload_folder", record_upload)
        patch.setattr(Trainer, "init_hf_repo", create_no_repo)
        arguments = [*TINY_DATA, *tiny_model_flags, *quick_run_flags, "--epochs", "2", "--save_total_limit", "3"]
        status, stderr = run_training(
            [*arguments, "--output_dir", str(output_dir), "--push_to_hub", "true", "--hub_model_id", "someone/raga"]
        )
    assert status == 0, stderr[-3000:]
    assert uploads, "nothing was pushed"
    return output_dir, uploads


def test_every_upload_leaves_out_logs_caches_tokens_and_checkpoints(pushed):
    output_dir, uploads = pushed
    for upload in uploads:
        kwargs = upload["kwargs"]
        assert kwargs["repo_id"] == "someone/raga" and Path(kwargs["folder_path"]) == output_dir
        ignore = kwargs.get("ignore_patterns")
        assert ignore == HUB_IGNORE_PATTERNS
        # The run's own checkpoints (weights, optimizer, scheduler, RNG states) were in the folder when it was pushed.
        assert any(name.startswith("checkpoint-") and name.endswith("optimizer.pt") for name in upload["files"])
        assert all(name in upload["files"] for name in LOCAL_ONLY)
        for name in upload["sent"]:
            assert not name.startswith(("checkpoint-", "wandb/", "runs/", ".cache/")), name
            assert not name.endswith((".token", ".netrc", ".bin", ".pt", ".pth")), name
        # The same with fnmatch: every file left out matches an ignore pattern, every file sent matches none.
        for name in upload["files"]:
            ignored = any(fnmatch.fnmatch(name, pattern) for pattern in ignore)
            assert ignored == (name not in upload["sent"]), name


def test_the_last_upload_is_the_complete_model_folder(pushed):
    output_dir, uploads = pushed
    sent = uploads[-1]["sent"]
    expected = {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", "training_args.json",
                "configuration_sam_audio.py", "modeling_sam_audio.py", "feature_extraction_sam_audio.py",
                "pipeline_sam_audio.py", "confusion_matrix.png", "eval_results.json", "all_results.json"}  # fmt: skip
    assert expected <= sent, expected - sent
    assert uploads[-1]["kwargs"]["run_as_future"] is False


def test_a_run_pushes_once_at_the_end(pushed):
    _, uploads = pushed
    assert len(uploads) == 1


def test_gitignore_keeps_outputs_caches_and_logs_out_of_git():
    ignored = (Path(__file__).resolve().parent.parent / ".gitignore").read_text().split()
    assert {"outputs/", "wandb/", ".cache/"} <= set(ignored)
