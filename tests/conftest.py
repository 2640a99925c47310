import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest


# The package's modules are installed (`pip install -e .`); the scripts live at the repository root.
ROOT = Path(__file__).resolve().parent.parent

# Tests never reach the network and never write into the user's caches.
os.environ.setdefault("HF_HOME", str(ROOT / ".cache" / "huggingface"))
os.environ.setdefault("SAM_AUDIO_CACHE", str(ROOT / ".cache" / "sam_audio"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

# A SAM-Audio model small enough to train for a few epochs in seconds on a CPU (flags of the run script).
TINY_MODEL_FLAGS = [
    "--hidden_size", "32", "--num_attention_heads", "2", "--intermediate_size", "64",
    "--num_segment_tokens", "4", "--num_segment_layers", "1", "--conv_dim", "32", "32",
]  # fmt: skip
# Run-script flags of a short, quiet, single-worker run.
QUICK_RUN_FLAGS = [
    "--batch-size", "4", "--per_device_eval_batch_size", "8", "--logging_steps", "1", "--report_to", "none",
    "--dataloader_num_workers", "0", "--seed", "3",
]  # fmt: skip


def exit_status(code: object) -> int:
    """The status of a process ended by `raise SystemExit(code)`: 0 for `None`, the number itself, else 1."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


@pytest.fixture(scope="session")
def make_tiny_model():
    """`make_tiny_model(labels)`: the small raga classifier the tests share, seeded and in eval mode."""
    import torch

    from configuration_sam_audio import SamAudioConfig
    from modeling_sam_audio import SamAudioForAudioClassification
    from sam_audio_raga.synthetic import RAGA_NAMES

    def make(labels: list[str] = RAGA_NAMES):
        config = SamAudioConfig(
            hidden_size=32,
            num_attention_heads=2,
            intermediate_size=64,
            num_segment_tokens=4,
            num_segment_layers=1,
            conv_dim=(16, 16),
            id2label=dict(enumerate(labels)),
            label2id={name: index for index, name in enumerate(labels)},
        )
        torch.manual_seed(0)
        return SamAudioForAudioClassification(config).eval()

    return make


@pytest.fixture(scope="session")
def tiny_model_flags() -> list[str]:
    return list(TINY_MODEL_FLAGS)


@pytest.fixture(scope="session")
def quick_run_flags() -> list[str]:
    return list(QUICK_RUN_FLAGS)


@pytest.fixture(scope="session")
def run_training():
    """`run_raga_classification.cli` in this process: returns the exit status the command would have, and stderr.

    A `SystemExit` raised while parsing ends a process with the status Python gives it (a message means 1, as
    `sys.exit` documents, and argparse's usage errors 2), so that is the status returned, not a fixed number.
    """
    from run_raga_classification import cli

    def run(arguments: list[str]) -> tuple[int, str]:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            try:
                status = cli(arguments)
            except SystemExit as exit_:
                if exit_.code is not None and not isinstance(exit_.code, int):
                    print(exit_.code, file=sys.stderr)
                status = exit_status(exit_.code)
        return status, stderr.getvalue()

    return run


@pytest.fixture
def run_training_script(tmp_path):
    """Run `run_raga_classification.py` in a fresh interpreter; `env` entries set to `None` are removed."""

    def run(arguments: list[str], launcher: list[str] | None = None, **env: str | None) -> subprocess.CompletedProcess:
        environment = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
        for name, value in env.items():
            if value is None:
                environment.pop(name, None)
            else:
                environment[name] = value
        command = (launcher or [sys.executable]) + [str(ROOT / "run_raga_classification.py"), *arguments]
        return subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)

    return run
