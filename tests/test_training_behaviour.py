"""What a run does with its settings: the shipped config parses, the best epoch is the model kept, and fine-tuning a
saved model on other ragas keeps its encoder and gives it a new head."""

import enum
import json
from pathlib import Path

import datasets
import pytest
import torch
import yaml
from safetensors.torch import load_file

from run_raga_classification import parse_arguments
from sam_audio_raga.synthetic import SyntheticRagaConfig, load_synthetic_dataset


ROOT = Path(__file__).resolve().parent.parent
TINY_DATA = [
    "--dataset_name", "synthetic", "--synthetic_recordings_per_raga", "2", "--synthetic_clips_per_recording", "2",
    "--synthetic_clip_seconds", "3", "--max_length_seconds", "2", "--group_column_name", "recording_id",
]  # fmt: skip
NEW_RAGAS = ["Hamsanaadam", "Todi", "Varali"]
PITCH_CLASS_TEMPLATES = "sam_audio.feature_encoder.frontend.tonic_alignment.pitch_class_head.templates"
# The corpus of TINY_DATA (the same config, so the same cached dataset).
TINY_CORPUS = SyntheticRagaConfig(recordings_per_raga=2, clips_per_recording=2, clip_seconds=3.0)


def test_the_shipped_config_parses_into_the_argument_dataclasses():
    """Every key of config.yaml lands, with its value, in exactly one of the run script's dataclasses."""
    path = ROOT / "config.yaml"
    parsed = parse_arguments(["--config", str(path)])
    for key, value in yaml.safe_load(path.read_text()).items():
        owners = [arguments for arguments in parsed if hasattr(arguments, key)]
        assert len(owners) == 1, key
        got = getattr(owners[0], key)
        if value is None:  # a null key keeps the dataclass default
            continue
        got = got.value if isinstance(got, enum.Enum) else got
        if key == "report_to":
            value = [value]
        assert got == value and type(got) is type(value), (key, got, value)
    model_args, data_args, lora_args, training_args = parsed
    assert data_args.dataset_name == "sarayusapa/carnatic-ragas" and data_args.max_length_seconds == 16.0
    assert model_args.hidden_size == 128 and model_args.num_segment_tokens == 16
    assert training_args.learning_rate == 1e-3 and training_args.num_train_epochs == 30.0
    assert training_args.mask_weight == 0.5 and training_args.contrastive_weight == 0.3
    assert training_args.metric_for_best_model == "accuracy" and training_args.load_best_model_at_end
    assert not lora_args.use_lora and lora_args.lora_r == 8


@pytest.fixture(scope="module")
def selected_run(tmp_path_factory, run_training, tiny_model_flags, quick_run_flags):
    """Three epochs, keeping the epoch with the *highest* validation loss: training lowers it, so the kept model is
    an early epoch's, not the last one's, and which one it is shows in the weights."""
    output_dir = tmp_path_factory.mktemp("selection") / "out"
    arguments = [*TINY_DATA, *tiny_model_flags, *quick_run_flags, "--epochs", "3", "--lr", "1.0e-2"]
    selection = ["--metric_for_best_model", "loss", "--greater_is_better", "true", "--save_total_limit", "3"]
    status, stderr = run_training([*arguments, *selection, "--output_dir", str(output_dir)])
    assert status == 0, stderr[-3000:]
    return output_dir


def test_the_saved_model_is_the_best_epochs_checkpoint(selected_run):
    state = json.loads((selected_run / "trainer_state.json").read_text())
    losses = {entry["step"]: entry["eval_loss"] for entry in state["log_history"] if "eval_loss" in entry}
    assert len(losses) == 3
    best_step = max(losses, key=losses.get)
    assert best_step != max(losses), f"the last epoch has the highest loss {losses}: nothing to tell apart"
    assert state["best_model_checkpoint"].endswith(f"checkpoint-{best_step}")
    assert state["best_metric"] == losses[best_step]

    saved = load_file(selected_run / "model.safetensors")
    best = load_file(selected_run / f"checkpoint-{best_step}" / "model.safetensors")
    last = load_file(selected_run / f"checkpoint-{max(losses)}" / "model.safetensors")
    assert saved.keys() == best.keys()
    assert all(torch.equal(saved[name], best[name]) for name in saved)
    assert not all(torch.equal(saved[name], last[name]) for name in saved)
    # The final evaluation, of the kept model, gives the best epoch's loss.
    final = json.loads((selected_run / "eval_results.json").read_text())
    assert final["eval_loss"] == pytest.approx(losses[best_step], rel=1e-5)


@pytest.fixture(scope="module")
def fine_tuned(selected_run, tmp_path_factory, run_training, quick_run_flags):
    """The 8-raga model of `selected_run` fine-tuned on three ragas at learning rate 0: what the run loaded is
    what it saved."""
    tmp_path = tmp_path_factory.mktemp("fine_tune")
    corpus = load_synthetic_dataset(
        SyntheticRagaConfig(recordings_per_raga=2, clips_per_recording=2, clip_seconds=3.0)
    )
    subset = corpus.filter(lambda raga: raga in NEW_RAGAS, input_columns="raga")
    datasets.DatasetDict({"train": subset}).save_to_disk(tmp_path / "data")
    output_dir = tmp_path / "out"
    arguments = ["--dataset_name", str(tmp_path / "data"), "--group_column_name", "recording_id"]
    status, stderr = run_training(
        [*arguments, "--model_name_or_path", str(selected_run), *quick_run_flags, "--max_length_seconds", "2",
         "--epochs", "1", "--lr", "0", "--output_dir", str(output_dir)]
    )  # fmt: skip
    assert status == 0, stderr[-3000:]
    return output_dir


def test_fine_tuning_on_other_ragas_keeps_the_encoder_and_starts_a_new_head(selected_run, fine_tuned):
    config = json.loads((fine_tuned / "config.json").read_text())
    assert config["id2label"] == {str(index): name for index, name in enumerate(NEW_RAGAS)}
    assert config["label2id"] == {name: index for index, name in enumerate(NEW_RAGAS)}
    base = load_file(selected_run / "model.safetensors")
    tuned = load_file(fine_tuned / "model.safetensors")
    assert base.keys() == tuned.keys()
    head = {name for name in tuned if name.startswith("classifier.") or ".pitch_class_head." in name}
    assert head == {"classifier.weight", "classifier.bias", PITCH_CLASS_TEMPLATES}
    for name in tuned.keys() - head:
        assert torch.equal(tuned[name], base[name]), name
    # The pitch-class head's rows are per raga too: they start anew, at zero.
    assert base[PITCH_CLASS_TEMPLATES].shape[0] == 8 and base[PITCH_CLASS_TEMPLATES].abs().max() > 0
    assert torch.equal(tuned[PITCH_CLASS_TEMPLATES], torch.zeros(3, *base[PITCH_CLASS_TEMPLATES].shape[1:]))
    hidden_size = base["classifier.weight"].shape[1]
    assert base["classifier.weight"].shape == (8, hidden_size)
    assert tuned["classifier.weight"].shape == (3, hidden_size)
    # Freshly initialised (a new layer's bias is zero), not the old head's rows for these ragas.
    base_labels = json.loads((selected_run / "config.json").read_text())["label2id"]
    old_rows = [base_labels[name] for name in NEW_RAGAS]
    assert not torch.allclose(tuned["classifier.weight"], base["classifier.weight"][old_rows])
    assert torch.equal(tuned["classifier.bias"], torch.zeros(3)) and base["classifier.bias"].abs().max() > 0
    base_extractor = json.loads((selected_run / "preprocessor_config.json").read_text())
    assert json.loads((fine_tuned / "preprocessor_config.json").read_text()) == base_extractor


def test_fine_tuning_on_the_same_ragas_in_another_order_starts_a_new_head(selected_run, tmp_path, run_training):
    base_config = json.loads((selected_run / "config.json").read_text())
    reordered = [base_config["id2label"][str(index)] for index in reversed(range(len(base_config["id2label"])))]
    output_dir = tmp_path / "out"
    status, stderr = run_training(
        [*TINY_DATA, "--model_name_or_path", str(selected_run), "--raga_names", *reordered, "--epochs", "1",
         "--lr", "0", "--batch-size", "4", "--report_to", "none", "--output_dir", str(output_dir)]
    )  # fmt: skip
    assert status == 0, stderr[-3000:]
    tuned = load_file(output_dir / "model.safetensors")
    base = load_file(selected_run / "model.safetensors")
    assert json.loads((output_dir / "config.json").read_text())["id2label"]["0"] == reordered[0]
    assert torch.equal(tuned["classifier.bias"], torch.zeros(len(reordered)))
    assert not torch.allclose(tuned["classifier.weight"], base["classifier.weight"].flip(0))
    assert not tuned[PITCH_CLASS_TEMPLATES].any() and base[PITCH_CLASS_TEMPLATES].any()


def test_the_model_folder_gets_its_weights_once_and_the_long_audio_pipeline(
    tmp_path, run_training, tiny_model_flags, quick_run_flags, monkeypatch
):
    from transformers import PreTrainedModel

    output_dir = tmp_path / "out"
    writes = []
    save_pretrained = PreTrainedModel.save_pretrained

    def counted(self, save_directory, *args, **kwargs):
        writes.append(Path(save_directory).resolve())
        return save_pretrained(self, save_directory, *args, **kwargs)

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", counted)
    arguments = [*TINY_DATA, *tiny_model_flags, *quick_run_flags, "--epochs", "1", "--output_dir", str(output_dir)]
    status, stderr = run_training(arguments)
    assert status == 0, stderr[-3000:]
    assert writes.count(output_dir.resolve()) == 1, writes
    assert (output_dir / "pipeline_sam_audio.py").is_file() and (output_dir / "audio_io_sam_audio.py").is_file()
    config = json.loads((output_dir / "config.json").read_text())
    assert (
        config["custom_pipelines"]["audio-classification"]["impl"]
        == "pipeline_sam_audio.SamAudioClassificationPipeline"
    )
