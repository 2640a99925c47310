"""The training script: argument precedence, the loss it optimises, the split, offline behaviour and CLI runs."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset

from configuration_sam_audio import SamAudioConfig
from feature_extraction_sam_audio import SamAudioFeatureExtractor
from modeling_sam_audio import SamAudioForAudioClassification
from run_raga_classification import SamAudioTrainer, SamAudioTrainingArguments, cli, parse_arguments
from sam_audio_raga.calibration import SEGMENT_LOGIT_WEIGHTS, best_segment_logit_weight, fit_segment_logit_weight
from sam_audio_raga.data import SamAudioDataCollator, stratified_group_split
from testing_utils import TINY_DATA, TINY_MODEL, TINY_RUN, run_isolated, run_script


def test_yaml_values_are_used_and_command_line_flags_win(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "learning_rate: 1.0e-2\nper_device_train_batch_size: 4\nnum_train_epochs: 3.0\nseed: 7\n"
        "output_dir: from-yaml\nmask_weight: 0.25\nhidden_size: 64\nbf16: false\nconv_dim: [8, 8]\n"
    )
    model_args, data_args, lora_args, training_args = parse_arguments(["--config", str(config)])
    assert training_args.learning_rate == 1e-2 and training_args.per_device_train_batch_size == 4
    assert training_args.num_train_epochs == 3.0 and training_args.seed == 7
    assert training_args.output_dir == "from-yaml" and training_args.mask_weight == 0.25
    assert model_args.hidden_size == 64 and model_args.conv_dim == [8, 8]

    overrides = ["--lr", "0.5", "--batch-size", "16", "--epochs", "9", "--seed", "42", "--output_dir", "cli"]
    model_args, _, _, training_args = parse_arguments(["--config", str(config), *overrides, "--hidden_size", "96"])
    assert training_args.learning_rate == 0.5 and training_args.per_device_train_batch_size == 16
    assert training_args.num_train_epochs == 9 and training_args.seed == 42 and training_args.output_dir == "cli"
    assert training_args.mask_weight == 0.25  # not overridden: still from the YAML
    assert model_args.hidden_size == 96


@pytest.mark.parametrize(
    "content, message",
    [
        ("learnign_rate: 0.1\n", "learnign_rate"),
        ("learning_rate: fast\n", "learning_rate"),
        ("mask_weight: -1.0\n", "mask_weight"),
        ("- a list\n", "mapping"),
    ],
)
def test_bad_yaml_is_one_clear_error(tmp_path, content, message, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(content)
    with pytest.raises(SystemExit) as raised:
        parse_arguments(["--config", str(config)])
    assert message in str(raised.value) + capsys.readouterr().err


def test_missing_config_file(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        parse_arguments(["--config", str(tmp_path / "nope.yaml")])


def test_split_is_reproducible_disjoint_stratified_and_grouped():
    labels = [raga for raga in "ABCD" for _ in range(20)]
    groups = [f"{label}-{index // 4}" for index, label in enumerate(labels)]
    train, validation = stratified_group_split(labels, groups, 0.2, seed=5)
    assert (train, validation) == stratified_group_split(labels, groups, 0.2, seed=5)
    assert set(train).isdisjoint(validation) and sorted(train + validation) == list(range(len(labels)))
    assert {groups[i] for i in train}.isdisjoint({groups[i] for i in validation})
    assert sorted({labels[i] for i in validation}) == ["A", "B", "C", "D"]
    assert all(sum(labels[i] == raga for i in validation) == 4 for raga in "ABCD")
    assert stratified_group_split(labels, groups, 0.2, seed=6) != (train, validation)

    train, validation = stratified_group_split(labels, None, 0.1, seed=0)
    assert len(validation) == 8 and all(sum(labels[i] == raga for i in validation) == 2 for raga in "ABCD")


def test_split_rejects_groups_spanning_labels():
    with pytest.raises(ValueError, match="two labels"):
        stratified_group_split(["A", "B", "A", "B"], ["r1", "r1", "r2", "r2"], 0.5, seed=0)


def _tiny_trainer(tmp_path, **arguments) -> SamAudioTrainer:
    config = SamAudioConfig(
        hidden_size=16, num_attention_heads=2, intermediate_size=32, num_segment_tokens=4, num_segment_layers=1,
        conv_dim=(8, 8), num_conv_pos_embedding_groups=4, num_labels=2,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    rows = {"input_values": [rng.standard_normal(16000).astype(np.float32) for _ in range(8)], "labels": [0, 1] * 4}
    args = SamAudioTrainingArguments(
        output_dir=str(tmp_path), report_to="none", logging_steps=1, eval_strategy="no", save_strategy="no",
        load_best_model_at_end=False, use_cpu=True, dataloader_pin_memory=False, **arguments,
    )  # fmt: skip
    return SamAudioTrainer(
        model=SamAudioForAudioClassification(config),
        args=args,
        train_dataset=Dataset.from_dict(rows),
        data_collator=SamAudioDataCollator(SamAudioFeatureExtractor()),
    )


def test_compute_loss_is_the_weighted_sum_and_every_term_is_logged(tmp_path):
    trainer = _tiny_trainer(
        tmp_path, mask_weight=0.7, contrastive_weight=0.2, max_steps=3, per_device_train_batch_size=4
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    model = trainer.model.train()
    torch.manual_seed(0)
    loss = trainer.compute_loss(model, batch)
    torch.manual_seed(0)
    outputs = model(**batch)
    expected = outputs.loss + 0.7 * outputs.masked_segment_loss + 0.2 * outputs.contrastive_loss
    assert torch.allclose(loss, expected)

    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 3
    for entry in logged:
        assert {"classification_loss", "masked_segment_loss", "contrastive_loss"} <= entry.keys()
        assert all(np.isfinite(entry[name]) for name in ("classification_loss", "contrastive_loss"))


def test_the_segment_classifier_weight_is_fitted_on_held_out_clips(tmp_path):
    """A segment classifier sure of one raga for every clip, beside an undecided pitch-class head, is weighted 0."""
    trainer = _tiny_trainer(tmp_path, per_device_eval_batch_size=4)
    model = trainer.model
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([20.0, 0.0]))
    assert model.config.segment_logit_weight == 1.0
    assert fit_segment_logit_weight(trainer, trainer.train_dataset) == 0.0
    assert model.config.segment_logit_weight == 0.0
    assert fit_segment_logit_weight(trainer, None) is None


def test_the_weight_goes_to_the_classifier_that_is_right_on_held_out_clips():
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    right, wrong = 3.0 * F.one_hot(labels, 3), 3.0 * F.one_hot((labels + 1) % 3, 3)
    right_on_four = torch.cat([right[:4], wrong[4:]])
    # The weight moves from the plain sum only as far as the held-out clips ask.
    assert 1.0 < best_segment_logit_weight(right, right_on_four, labels) < SEGMENT_LOGIT_WEIGHTS.max()
    assert 0.0 < best_segment_logit_weight(right_on_four, right, labels) < 1.0
    assert best_segment_logit_weight(10.0 * wrong, right, labels) < 0.5
    # Where no weight gets every clip right, the cross-entropy decides.
    undecided = torch.zeros(6, 3)
    assert best_segment_logit_weight(right_on_four, undecided.index_fill(1, torch.tensor([0]), 1.0), labels) == (
        SEGMENT_LOGIT_WEIGHTS.max()
    )


def test_a_validation_split_the_model_gets_all_right_leaves_the_plain_sum():
    """Both classifiers right on every clip: any weight is right, and none is chosen for making the sum surer."""
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    sure, less_sure = 3.0 * F.one_hot(labels, 3), 1.0 * F.one_hot(labels, 3)
    assert best_segment_logit_weight(sure, less_sure, labels) == 1.0
    assert best_segment_logit_weight(less_sure, sure, labels) == 1.0


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training_steps_are_finite(tmp_path, precision):
    """`--bf16 true`/`--fp16 true`: the Trainer's autocast (on the CPU here) runs every loss term in the model."""
    trainer = _tiny_trainer(tmp_path, max_steps=2, per_device_train_batch_size=4, **{precision: True})
    trainer.train()
    assert trainer.accelerator.mixed_precision == precision
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 2
    for entry in logged:
        assert all(np.isfinite(entry[name]) for name in ("loss", "classification_loss", "contrastive_loss"))


def test_tiny_cli_run_writes_a_loadable_folder(tmp_path):
    output_dir = tmp_path / "out"
    result = run_script([*TINY_DATA, *TINY_MODEL, *TINY_RUN, "--output_dir", str(output_dir)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("model.safetensors", "config.json", "preprocessor_config.json", "modeling_sam_audio.py"):
        assert (output_dir / name).is_file(), name
    assert (output_dir / "confusion_matrix.png").stat().st_size > 0
    card = (output_dir / "README.md").read_text()
    assert "stratified by raga, by `recording_id`" in card and "accuracy" in card
    metrics = json.loads((output_dir / "eval_results.json").read_text())
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0
    weight = json.loads((output_dir / "config.json").read_text())["segment_logit_weight"]
    assert f"Segment classifier weight {weight:g}, fitted on 16 validation clips" in result.stderr + result.stdout
    assert f"| `segment_logit_weight` | `{weight}` |" in card
    loaded = run_isolated(
        f"""
        import json
        from transformers import AutoModelForAudioClassification
        model = AutoModelForAudioClassification.from_pretrained({str(output_dir)!r}, trust_remote_code=True)
        print(json.dumps({{"module": type(model).__module__, "labels": sorted(model.config.id2label.values())}}))
        """,
        cwd=tmp_path,
        hf_home=tmp_path / "hf_isolated",
    )
    assert loaded["module"].startswith("transformers_modules") and len(loaded["labels"]) == 8


def test_a_test_split_is_scored_once_with_the_kept_model_and_reported_in_the_card(tmp_path):
    """A dataset's `test` split never picks the checkpoint; its metrics are those of the saved model on it."""
    from datasets import DatasetDict

    from sam_audio_raga.synthetic import SyntheticRagaConfig, load_synthetic_dataset

    corpus = load_synthetic_dataset(
        SyntheticRagaConfig(recordings_per_raga=3, clips_per_recording=1, clip_seconds=3.0, seed=4),
        cache_dir=tmp_path / "cache",
    )
    recording = np.array([int(name.rsplit("-", 1)[-1]) for name in corpus["recording_id"]])
    sides = {"train": recording == 0, "validation": recording == 1, "test": recording == 2}
    dataset_dir = tmp_path / "splits"
    DatasetDict({side: corpus.select(np.flatnonzero(rows)) for side, rows in sides.items()}).save_to_disk(dataset_dir)
    output_dir = tmp_path / "out"
    arguments = ["--dataset_name", str(dataset_dir), "--max_length_seconds", "2", *TINY_MODEL, *TINY_RUN]
    result = run_script([*arguments, "--epochs", "2", "--output_dir", str(output_dir)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    reported = json.loads((output_dir / "test_results.json").read_text())
    test = corpus.select(np.flatnonzero(sides["test"]))
    model = SamAudioForAudioClassification.from_pretrained(output_dir).eval()
    inputs = SamAudioFeatureExtractor()(
        [np.asarray(audio["array"]) for audio in test["audio"]], sampling_rate=16000, return_tensors="pt"
    )
    labels = torch.tensor([model.config.label2id[raga] for raga in test["raga"]])
    with torch.no_grad():
        outputs = model(**inputs, labels=labels)
    logits = outputs.logits
    # The loss, unlike an accuracy over 8 clips, cannot agree by chance with that of another split.
    assert reported["test_loss"] == pytest.approx(outputs.classification_loss.item(), rel=1e-4)
    assert reported["test_accuracy"] == pytest.approx((logits.argmax(-1) == labels).float().mean().item())
    card = (output_dir / "README.md").read_text()
    assert "| metric | test | validation |" in card and "quote the test figures" in card


def test_split_names_pick_the_training_and_validation_splits(tmp_path, capsys):
    """A parquet dataset whose only split is `test` trains with `--train_split_name test`; `--eval_split_name`
    names the validation split, and a dataset without it has the training split divided."""
    from datasets import DatasetDict

    from sam_audio_raga.synthetic import SyntheticRagaConfig, load_synthetic_dataset

    corpus = load_synthetic_dataset(
        SyntheticRagaConfig(recordings_per_raga=2, clips_per_recording=2, clip_seconds=3.0),
        cache_dir=tmp_path / "cache",
    )
    (tmp_path / "only-test").mkdir()
    corpus.to_parquet(str(tmp_path / "only-test" / "test.parquet"))
    arguments = ["--dataset_name", str(tmp_path / "only-test"), "--max_length_seconds", "2", *TINY_MODEL, *TINY_RUN]
    assert cli([*arguments, "--output_dir", str(tmp_path / "x")]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        error == "error: The dataset has no 'train' split (its splits: test); set `train_split_name` to one of them."
    )

    output_dir = tmp_path / "out"
    assert cli([*arguments, "--train_split_name", "test", "--output_dir", str(output_dir)]) == 0
    assert "stratified by raga, clip by clip" in (output_dir / "README.md").read_text()
    assert not (output_dir / "test_results.json").exists()  # the `test` split trained: it is not scored as a test

    recording = np.array([int(name.rsplit("-", 1)[-1]) for name in corpus["recording_id"]])
    splits = DatasetDict({"fit": corpus.select(np.flatnonzero(recording == 0)), "holdout": corpus.select([0, 4])})
    splits.save_to_disk(tmp_path / "named")
    arguments[1] = str(tmp_path / "named")
    output_dir = tmp_path / "named-out"
    named = ["--train_split_name", "fit", "--eval_split_name", "holdout", "--output_dir", str(output_dir)]
    assert cli([*arguments, *named]) == 0
    assert "the dataset's own `holdout` split" in (output_dir / "README.md").read_text()


def test_lora_run_saves_adapter_and_merged_model(tmp_path):
    output_dir = tmp_path / "lora"
    result = run_script(
        [*TINY_DATA, *TINY_MODEL, *TINY_RUN, "--output_dir", str(output_dir), "--use_lora", "true", "--lora_r", "2"],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (output_dir / "adapter" / "adapter_config.json").is_file()
    assert (output_dir / "adapter" / "base_model" / "model.safetensors").is_file()
    assert not (output_dir / "adapter_config.json").exists()
    merged = SamAudioForAudioClassification.from_pretrained(output_dir)
    assert not any("lora" in name for name in merged.state_dict())
    # Adapters, on the conv layers too, train at three times the full fine-tuning rate unless `lora_learning_rate`
    # says otherwise.
    assert "conv_layers" in json.loads((output_dir / "adapter" / "adapter_config.json").read_text())["target_modules"]
    (checkpoint,) = output_dir.glob("checkpoint-*")
    assert json.loads((checkpoint / "training_args.json").read_text())["learning_rate"] == pytest.approx(3e-3)


def test_a_checkpoint_refuses_overrides_that_would_replace_its_weights(tmp_path, capsys):
    checkpoint = tmp_path / "pretrained"
    tiny = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "num_segment_tokens": 4}
    SamAudioForAudioClassification(SamAudioConfig(**tiny, num_segment_layers=1, conv_dim=(16, 16))).save_pretrained(
        checkpoint
    )
    SamAudioFeatureExtractor().save_pretrained(checkpoint)
    arguments = [*TINY_DATA, *TINY_RUN, "--model_name_or_path", str(checkpoint), "--output_dir", str(tmp_path / "o")]
    assert cli([*arguments, "--hidden_size", "64", "--num_attention_heads", "2"]) == 1
    error = capsys.readouterr().err
    assert "hidden_size 64 (the checkpoint has 32)" in error and "weights would be replaced" in error
    assert not (tmp_path / "o" / "model.safetensors").exists()
