"""Helpers the test modules share: run-script flags, subprocess runners and a tiny-model tester (no tests here)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from configuration_sam_audio import SamAudioConfig
from modeling_sam_audio import SamAudioForAudioClassification, SamAudioModel


ROOT = Path(__file__).resolve().parent.parent
TINY_MODEL = [
    "--hidden_size", "32", "--num_attention_heads", "2", "--intermediate_size", "64",
    "--num_segment_tokens", "4", "--num_segment_layers", "1", "--conv_dim", "16", "16",
]  # fmt: skip
TINY_DATA = [
    "--dataset_name", "synthetic", "--synthetic_recordings_per_raga", "2", "--synthetic_clips_per_recording", "2",
    "--synthetic_clip_seconds", "3", "--max_length_seconds", "2", "--group_column_name", "recording_id",
]  # fmt: skip
TINY_RUN = [
    "--epochs", "1", "--batch-size", "4", "--per_device_eval_batch_size", "8", "--logging_steps", "1",
    "--report_to", "none", "--dataloader_num_workers", "0", "--save_total_limit", "1", "--seed", "3",
]  # fmt: skip


def run_script(
    arguments: list[str], tmp_path: Path, launcher: list[str] | None = None, **env
) -> subprocess.CompletedProcess:
    """Run `run_raga_classification.py` with `arguments` in a fresh interpreter, in `tmp_path`."""
    environment = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "SAM_AUDIO_CACHE": str(tmp_path / "cache")}
    environment.update(HF_HUB_OFFLINE="1", WANDB_MODE="disabled", **env)
    command = (launcher or [sys.executable]) + [str(ROOT / "run_raga_classification.py"), *arguments]
    return subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)


def run_isolated(script: str, cwd, hf_home, *arguments: str) -> dict:
    """Run `script` (with `arguments` in `sys.argv[1:]`) in a fresh interpreter whose import path includes neither
    this repository nor PYTHONPATH, offline; return the JSON object its last line prints."""
    environment = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "HF_MODULES_CACHE", "HF_HOME")
    }
    environment.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONNOUSERSITE="1")
    result = subprocess.run(
        [sys.executable, "-I", "-c", textwrap.dedent(script), *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


class SamAudioModelTester:
    """Tiny configurations and inputs, in the pattern of transformers' model testers."""

    def __init__(self, frontend: str = "log_frequency", batch_size: int = 3, num_samples: int = 1600):
        self.frontend = frontend
        self.batch_size = batch_size
        self.num_samples = num_samples
        self.num_labels = 4

    def get_config(self, **overrides) -> SamAudioConfig:
        spectral = {"n_fft": 128, "hop_length": 32, "num_mel_bins": 8, "min_frequency": 250.0, "num_octaves": 3}
        conv = {"conv_dim": (8, 8), "conv_kernel": (3, 3), "conv_stride": (1, 2)}
        kwargs = {
            "frontend": self.frontend,
            "hidden_size": 16,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "num_segment_tokens": 4,
            "num_segment_layers": 2,
            "num_conv_pos_embeddings": 3,
            "num_conv_pos_embedding_groups": 4,
            "bins_per_semitone": 1,
            "contrastive_proj_size": 8,
            "mask_time_prob": 0.3,
            "mask_time_length": 2,
            "mask_time_min_masks": 1,
            "num_labels": self.num_labels,
            **spectral,
            **conv,
            **overrides,
        }
        return SamAudioConfig(**kwargs)

    def prepare_config_and_inputs(self):
        config = self.get_config()
        input_values = torch.randn(self.batch_size, self.num_samples)
        attention_mask = torch.ones(self.batch_size, self.num_samples, dtype=torch.long)
        attention_mask[-1, self.num_samples // 2 :] = 0
        input_values[-1, self.num_samples // 2 :] = 0.0
        labels = torch.tensor([0, 1, 0])[: self.batch_size]
        return config, input_values, attention_mask, labels

    def prepare_config_and_inputs_for_common(self):
        config, input_values, attention_mask, _ = self.prepare_config_and_inputs()
        return config, {"input_values": input_values, "attention_mask": attention_mask}

    def create_and_check_model(self, config, input_values, attention_mask):
        model = SamAudioModel(config).eval()
        with torch.no_grad():
            outputs = model(input_values, attention_mask=attention_mask)
        num_frames = model._get_feat_extract_output_lengths(self.num_samples)
        assert outputs.last_hidden_state.shape == (self.batch_size, num_frames, config.hidden_size)
        assert outputs.segment_states.shape == (self.batch_size, config.num_segment_tokens, config.hidden_size)
        assert outputs.extract_features.shape == (self.batch_size, num_frames, config.conv_dim[-1])
        assert outputs.masked_segment_loss is None

    def create_and_check_for_audio_classification(self, config, input_values, attention_mask, labels):
        model = SamAudioForAudioClassification(config).eval()
        with torch.no_grad():
            outputs = model(input_values, attention_mask=attention_mask, labels=labels)
        assert outputs.logits.shape == (self.batch_size, config.num_labels)
        assert outputs.loss.shape == ()
        assert torch.equal(outputs.loss, outputs.classification_loss)
