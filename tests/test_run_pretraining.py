"""The pretraining script: a folder of unlabelled audio in, a checkpoint the classification script fine-tunes out."""

import json
import logging
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile
import torch
import yaml
from safetensors.torch import load_file

import run_pretraining
import run_raga_classification
from configuration_sam_audio import SamAudioConfig
from feature_extraction_sam_audio import SamAudioFeatureExtractor
from modeling_sam_audio import SamAudioForAudioClassification
from sam_audio_raga.teacher import TEACHER_FILE, EmaTeacherCallback
from testing_utils import ROOT, TINY_DATA, TINY_MODEL


TINY_PRETRAINING = [
    *TINY_MODEL, "--max_length_seconds", "2", "--min_length_seconds", "0.5", "--batch-size", "2",
    "--logging_steps", "1", "--report_to", "none", "--dataloader_num_workers", "0", "--seed", "0",
]  # fmt: skip
# Fine-tuning: two steps, no warm-up, so every weight ends within 2 * lr (Adam steps are at most lr) of its start.
TINY_FINE_TUNING = [
    "--max_steps", "2", "--warmup_steps", "0", "--learning_rate", "1.0e-3", "--batch-size", "4",
    "--per_device_eval_batch_size", "8", "--report_to", "none", "--dataloader_num_workers", "0", "--seed", "3",
]  # fmt: skip
ENCODER_WEIGHTS = ("sam_audio.feature_encoder.conv_layers.0.conv.weight", "sam_audio.segment_decoder.segment_tokens")
# A label head: a pretrained model has none, and the classifier gets a new one.
PITCH_CLASS_HEAD = "sam_audio.feature_encoder.frontend.tonic_alignment.pitch_class_head.templates"


class Messages(logging.Handler):
    """Collects what `run_pretraining` logs."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def pretrain(arguments: list[str]) -> list[str]:
    """`run_pretraining.cli` in this process; returns its log lines (it must succeed)."""
    messages = Messages()
    script_logger = logging.getLogger(run_pretraining.__name__)
    script_logger.addHandler(messages)
    try:
        assert run_pretraining.cli(arguments) == 0, messages.lines[-5:]
    finally:
        script_logger.removeHandler(messages)
    return messages.lines


def tone(seconds: float, rate: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * rng.uniform(150, 400) * t) + 0.05 * rng.standard_normal(t.size)
    return np.repeat(mono[:, None], channels, axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    """Unlabelled audio of mixed formats, rates and lengths, in nested folders, with a corrupt file and a text file.

    Windows of 2 s, tails under 0.5 s left out: 2 (a.wav, 3 s) + 4 (b.flac, 7 s) + 1 (c.mp3, 2.1 s) = 7.
    """
    folder = tmp_path_factory.mktemp("recordings")
    (folder / "sub" / "deeper").mkdir(parents=True)
    rng = np.random.default_rng(0)
    soundfile.write(folder / "a.wav", tone(3.0, 44100, 2, rng), 44100)
    soundfile.write(folder / "sub" / "b.flac", tone(7.0, 22050, 1, rng), 22050)
    soundfile.write(folder / "sub" / "deeper" / "c.mp3", tone(2.0, 16000, 1, rng), 16000, format="MP3")
    (folder / "sub" / "broken.wav").write_bytes(b"RIFF" + rng.bytes(2000))
    (folder / "notes.txt").write_text("recorded in 2024\n")
    return folder


@pytest.fixture(scope="module")
def pretrained(recordings, tmp_path_factory) -> tuple[Path, list[str]]:
    output_dir = tmp_path_factory.mktemp("pretrained")
    arguments = ["--dataset_name", str(recordings), "--output_dir", str(output_dir), "--max_steps", "3"]
    # A large learning rate moves the weights far from any initialisation, so a fine-tuned model that starts from
    # them cannot be mistaken for one that starts from scratch.
    lines = pretrain([*TINY_PRETRAINING, *arguments, "--learning_rate", "0.05", "--warmup_steps", "0"])
    return output_dir, lines


def test_each_item_holds_views_of_one_recording_and_the_batch_numbers_the_recordings(recordings):
    windows = run_pretraining.AudioWindowDataset(recordings, 16000, 2.0, 0.5, run_pretraining.ViewConfig(count=1))
    alone = [windows[index]["views"][0] for index in range(len(windows))]
    windows.views = run_pretraining.ViewConfig(count=3)
    torch.manual_seed(0)
    items = [windows[index] for index in range(len(windows))]
    for index, item in enumerate(items):
        recording = windows.windows[index][0]
        assert item["recording"] == recording and len(item["views"]) == 3
        assert np.array_equal(item["views"][0], alone[index])
        siblings = [alone[other] for other, window in enumerate(windows.windows) if window[0] == recording]
        assert all(any(np.array_equal(view, sibling) for sibling in siblings) for view in item["views"])
    assert any(not np.array_equal(item["views"][1], item["views"][0]) for item in items)

    batch = run_pretraining.PretrainingDataCollator(SamAudioFeatureExtractor())(items[:3])
    expected = [windows.windows[index][0] for index in range(3) for _ in range(3)]
    numbers = {recording: number for number, recording in enumerate(dict.fromkeys(expected))}
    assert batch["recording_ids"].tolist() == [numbers[recording] for recording in expected]
    assert batch["input_values"].shape[0] == 9

    # A pitch-shifted view is resampled: up to a semitone higher or lower, so at most that much shorter.
    windows.views = run_pretraining.ViewConfig(count=2, pitch_shift_semitones=1.0)
    shifted = windows[0]["views"]
    assert all(alone[0].shape[0] * 2 ** (-1 / 12) - 2 <= view.shape[0] <= alone[0].shape[0] for view in shifted)
    assert not all(np.array_equal(view[:100], alone[0][:100]) for view in shifted)


def band_level_db(audio: np.ndarray, frequency: float, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    bin_index = round(frequency * audio.size / rate)
    return 20 * np.log10(spectrum[bin_index - 2 : bin_index + 3].max())


def test_views_differ_in_colour_and_noise_within_the_configured_bounds():
    t = np.arange(32000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 250 * t) + 0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    views = run_pretraining.ViewConfig(spectral_tilt_db=6.0)
    torch.manual_seed(0)
    tilts = []
    for _ in range(20):
        view = views.transform(audio)
        assert np.abs(view).max() == pytest.approx(np.abs(audio).max(), rel=1e-4)  # the input's peak level
        # 1000 Hz lies two octaves above 250 Hz: the tilt moves their balance by up to 2 x 6 dB.
        tilts.append(band_level_db(view, 1000) - band_level_db(view, 250))
    assert max(np.abs(tilts)) <= 12.1 and max(tilts) - min(tilts) > 6.0

    noisy = run_pretraining.ViewConfig(noise_probability=1.0, noise_snr_db=(10.0, 20.0))
    for _ in range(10):
        noise = noisy.transform(audio) - audio
        snr_db = 10 * np.log10(np.mean(audio**2) / np.mean(noise**2))
        assert 9.8 <= snr_db <= 20.2
    assert np.array_equal(run_pretraining.ViewConfig().transform(audio), audio)


def test_window_jitter_gives_a_file_of_one_window_two_different_views(tmp_path):
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal(40000)).astype(np.float32)  # 2.5 s: one window of 2 s
    soundfile.write(tmp_path / "short.wav", audio, 16000, subtype="FLOAT")
    for jitter in (False, True):
        views = run_pretraining.ViewConfig(count=2, window_jitter=jitter)
        windows = run_pretraining.AudioWindowDataset(tmp_path, 16000, 2.0, 1.0, views)
        assert len(windows) == 1
        torch.manual_seed(0)
        first, second = windows[0]["views"]
        assert first.shape == second.shape == (32000,)
        offsets = [int(np.flatnonzero(np.isclose(audio, view[0], atol=1e-6))[0]) for view in (first, second)]
        for view, offset in zip((first, second), offsets):
            assert offset <= 8000 and np.allclose(view, audio[offset : offset + 32000], atol=1e-6)
        assert (offsets[0] != offsets[1]) == jitter, offsets


def test_a_folder_of_mixed_unlabelled_audio_trains_and_the_corrupt_file_is_counted(pretrained):
    output_dir, lines = pretrained
    assert "3 recordings (0.00 h) under" in "\n".join(lines) and "7 windows of up to 2.0 s" in "\n".join(lines)
    assert lines.count("skipped 1 unreadable files: sub/broken.wav") == 1
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    logged = [entry for entry in state["log_history"] if "loss" in entry]
    assert len(logged) == 3
    for entry in logged:
        assert all(np.isfinite(entry[name]) for name in ("loss", "masked_segment_loss", "contrastive_loss"))
    files = {path.name for path in output_dir.iterdir() if path.is_file()}
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "modeling_sam_audio.py"} <= files
    assert not {name for name in files if name.endswith((".bin", ".pt", ".pth", ".pkl"))}
    config = json.loads((output_dir / "config.json").read_text())
    assert config["architectures"] == ["SamAudioForPreTraining"]
    assert config["auto_map"]["AutoModelForPreTraining"] == "modeling_sam_audio.SamAudioForPreTraining"


def test_a_rerun_resumes_from_the_last_checkpoint(recordings, tmp_path, monkeypatch):
    output_dir = tmp_path / "run"
    common = [*TINY_PRETRAINING, "--dataset_name", str(recordings), "--output_dir", str(output_dir)]
    pretrain([*common, "--max_steps", "4", "--save_steps", "2"])
    checkpoint = json.loads((output_dir / "checkpoint-4" / "trainer_state.json").read_text())
    assert checkpoint["global_step"] == 4

    steps = []
    compute_loss = run_pretraining.SamAudioPreTrainer.compute_loss

    def counted(self, *args, **kwargs):
        steps.append(self.state.global_step)
        return compute_loss(self, *args, **kwargs)

    monkeypatch.setattr(run_pretraining.SamAudioPreTrainer, "compute_loss", counted)
    lines = pretrain([*common, "--max_steps", "6", "--save_steps", "2"])
    assert any(line.startswith("Resuming from") and line.split()[2].endswith("checkpoint-4,") for line in lines)
    assert steps == [4, 5]  # the two remaining steps, not six from the start
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    assert state["log_history"][:4] == checkpoint["log_history"]


def test_the_output_fine_tunes_fully_and_with_lora_from_the_pretrained_weights(pretrained, tmp_path, caplog):
    pretrained_dir, _ = pretrained
    weights = load_file(pretrained_dir / "model.safetensors")
    labels = {"num_labels": 3, "id2label": dict(enumerate("abc")), "label2id": {"a": 0, "b": 1, "c": 2}}
    # The classification script's load: every pretrained weight is used, only the label heads are new.
    model, info = SamAudioForAudioClassification.from_pretrained(
        pretrained_dir, **labels, ignore_mismatched_sizes=True, output_loading_info=True
    )
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight", PITCH_CLASS_HEAD]
    assert not info["unexpected_keys"] and not info["mismatched_keys"] and not info["error_msgs"]
    for name, value in weights.items():
        assert torch.equal(model.state_dict()[name], value), name

    config = SamAudioConfig.from_pretrained(pretrained_dir)
    torch.manual_seed(3)
    fresh = SamAudioForAudioClassification(config).state_dict()
    for use_lora in (False, True):
        output_dir = tmp_path / f"lora-{use_lora}"
        arguments = [*TINY_DATA, *TINY_FINE_TUNING, "--model_name_or_path", str(pretrained_dir)]
        caplog.clear()
        with caplog.at_level(logging.INFO):
            code = run_raga_classification.cli(
                [*arguments, "--use_lora", str(use_lora), "--output_dir", str(output_dir)]
            )
        assert code == 0
        tuned = load_file(output_dir / "model.safetensors")
        for name in ENCODER_WEIGHTS:
            assert (fresh[name] - weights[name]).abs().max() > 0.05, name  # a new model would be far off
            if use_lora and "conv_layers" not in name:  # neither adapted nor a layer norm: exactly as pretrained
                assert torch.equal(tuned[name], weights[name]), name
            else:  # fine-tuned, or merged with its adapter: moved, but far nearer than a new model
                assert 0 < (tuned[name] - weights[name]).abs().max() <= 1e-2, name
    lora_lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("LoRA: training")]
    assert len(lora_lines) == 1 and "layer norms and classifier, pitch_class_head" in lora_lines[0]
    adapter = json.loads((output_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter["task_type"] is None and {"classifier", "pitch_class_head"} <= set(adapter["modules_to_save"])
    assert any(name.endswith("layer_norm") for name in adapter["modules_to_save"])
    norm = "sam_audio.segment_decoder.layer_norm.weight"
    assert not torch.equal(tuned[norm], weights[norm])  # the layer norms trained under LoRA


def test_fine_tuning_into_the_pretraining_folder_is_one_clear_line_and_keeps_it(recordings, tmp_path, capsys):
    pretrained_dir = tmp_path / "pretrained"
    arguments = ["--dataset_name", str(recordings), "--output_dir", str(pretrained_dir), "--max_steps", "2"]
    pretrain([*TINY_PRETRAINING, *arguments, "--save_steps", "2"])
    saved = {path: path.read_bytes() for path in pretrained_dir.rglob("*") if path.is_file()}
    assert any(path.parent.name == "checkpoint-2" for path in saved)
    capsys.readouterr()
    folders = ["--model_name_or_path", str(pretrained_dir), "--output_dir", str(pretrained_dir)]
    code = run_raga_classification.cli([*TINY_DATA, *TINY_FINE_TUNING, *folders])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1, errors
    assert all(words in errors[0] for words in ("SamAudioForPreTraining", "--model_name_or_path", "--output_dir"))
    for path, content in saved.items():
        assert path.read_bytes() == content, path


def test_the_teacher_follows_the_student_is_checkpointed_and_resumes(recordings, tmp_path, monkeypatch):
    """`--pretraining_target teacher`: after each optimiser step the teacher moves a share (1 - decay) of the way to
    the student, each checkpoint holds it, a resumed run starts from the saved teacher rather than a copy of the
    student, and the output fine-tunes with only the classifier new."""
    output_dir = tmp_path / "run"
    common = [
        *TINY_PRETRAINING, "--dataset_name", str(recordings), "--output_dir", str(output_dir),
        "--pretraining_target", "teacher", "--teacher_decay", "0.5", "--teacher_final_decay", "0.9",
        "--warmup_steps", "0",
    ]  # fmt: skip
    updates = []
    on_step_end = EmaTeacherCallback.on_step_end

    def recorded(self, args, state, control, **kwargs):
        before = {name: value.clone() for name, value in self.teacher.state_dict().items()}
        on_step_end(self, args, state, control, **kwargs)
        student = {name: value.detach().clone() for name, value in self.student.state_dict().items()}
        after = {name: value.clone() for name, value in self.teacher.state_dict().items()}
        updates.append((self.decay_at(state.global_step, state.max_steps), before, student, after))

    monkeypatch.setattr(EmaTeacherCallback, "on_step_end", recorded)
    pretrain([*common, "--max_steps", "4", "--save_steps", "2"])
    assert [round(decay, 6) for decay, *_ in updates] == [0.6, 0.7, 0.8, 0.9]
    name = "segment_decoder.segment_tokens"
    for decay, before, student, after in updates:
        assert torch.allclose(after[name], decay * before[name] + (1 - decay) * student[name], atol=1e-6)
        assert not torch.equal(after[name], student[name])
    saved = load_file(output_dir / "checkpoint-4" / TEACHER_FILE)
    assert torch.equal(saved[name], updates[-1][3][name])
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert all(np.isfinite(entry["masked_segment_loss"]) for entry in state["log_history"] if "loss" in entry)

    started = []
    on_train_begin = EmaTeacherCallback.on_train_begin

    def recorded_start(self, *args, **kwargs):
        on_train_begin(self, *args, **kwargs)
        started.append(self.teacher.state_dict()[name].clone())

    monkeypatch.setattr(EmaTeacherCallback, "on_train_begin", recorded_start)
    pretrain([*common, "--max_steps", "6", "--save_steps", "2"])
    assert torch.equal(started[0], saved[name])

    labels = {"num_labels": 2, "id2label": dict(enumerate("ab")), "label2id": {"a": 0, "b": 1}}
    _, info = SamAudioForAudioClassification.from_pretrained(output_dir, **labels, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight", PITCH_CLASS_HEAD]
    assert not info["unexpected_keys"] and not info["mismatched_keys"]


def test_a_labelled_dataset_pretrains_with_its_labels_unused(tmp_path):
    from sam_audio_raga.synthetic import SyntheticRagaConfig, load_synthetic_dataset

    tiny = SyntheticRagaConfig(recordings_per_raga=2, clips_per_recording=2, clip_seconds=3.0)
    corpus = load_synthetic_dataset(tiny)
    datasets.DatasetDict({"train": corpus}).save_to_disk(str(tmp_path / "labelled"))
    output_dir = tmp_path / "out"
    arguments = ["--dataset_name", str(tmp_path / "labelled"), "--output_dir", str(output_dir), "--max_steps", "1"]
    lines = pretrain([*TINY_PRETRAINING, *arguments])
    assert f"{len(corpus)} clips from" in "\n".join(lines)
    assert json.loads((output_dir / "trainer_state.json").read_text())["global_step"] == 1
    assert (output_dir / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "dataset, words",
    [
        ("missing", ["No such folder", "--dataset_name"]),
        ("empty", ["No audio files under", "any format FFmpeg"]),
        ("only-corrupt", ["Nothing to train on", "could be read as audio", "broken.wav"]),
        ("nobody/no-such-dataset", ["Cannot load dataset", "No folder 'nobody/no-such-dataset' exists here"]),
    ],
)
def test_missing_or_empty_data_is_one_clear_line(dataset, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "only-corrupt").mkdir()
    (tmp_path / "only-corrupt" / "broken.wav").write_bytes(b"RIFF" + bytes(range(256)) * 4)
    name = str(tmp_path / dataset) if dataset != "nobody/no-such-dataset" else dataset
    code = run_pretraining.cli([*TINY_PRETRAINING, "--dataset_name", name, "--output_dir", str(tmp_path / "out")])
    assert code == 1
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(word in errors[0] for word in words), stderr[-2000:]
    assert "Traceback" not in stderr
    assert not (tmp_path / "out" / "model.safetensors").exists()


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--teacher_final_decay", "1.0"], ["teacher_final_decay", "[0, 1)"]),
        (["--pretraining_target", "hubert"], ["pretraining_target", "teacher"]),
        (["--view_noise_snr_db", "30", "10"], ["view_noise_snr_db", "[low, high]"]),
        (["--view_spectral_tilt_db", "-3"], ["view_spectral_tilt_db", ">= 0"]),
        (["--view_noise_probability", "2"], ["view_noise_probability", "[0, 1]"]),
    ],
)
def test_bad_teacher_or_view_settings_are_one_clear_line(flags, words, recordings, tmp_path, capsys):
    arguments = ["--dataset_name", str(recordings), "--output_dir", str(tmp_path / "out"), *flags]
    try:
        assert run_pretraining.cli([*TINY_PRETRAINING, *arguments]) == 1
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    except SystemExit as exit_info:  # a bad training argument stops the argument parser, with its message
        errors = str(exit_info).splitlines()
    assert len(errors) == 1 and errors[0].startswith("error:"), errors
    assert all(word in errors[0] for word in words), errors


def test_pretrain_yaml_parses_and_its_model_matches_the_fine_tuning_config():
    model_args, data_args, training_args = run_pretraining.parse_arguments(
        ["--config", str(ROOT / "pretrain.yaml"), "--dataset_name", "recordings"]
    )
    assert training_args.max_steps > 0 and training_args.save_steps > 0 and not training_args.load_best_model_at_end
    assert data_args.max_length_seconds > data_args.min_length_seconds > 0
    view = run_pretraining.view_config(data_args, 16000)
    assert view.spectral_tilt_db > 0 and view.noise_probability > 0 and view.window_jitter
    # Fine-tuning with config.yaml applies its model keys on top of the checkpoint: they must describe the same model.
    fine_tuning = yaml.safe_load((ROOT / "config.yaml").read_text())
    shared = set(model_args.config_overrides()) & set(fine_tuning)
    assert {"hidden_size", "num_attention_heads", "num_segment_tokens", "num_segment_layers"} <= shared
    assert {key: fine_tuning[key] for key in shared} == {key: model_args.config_overrides()[key] for key in shared}
