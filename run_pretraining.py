#!/usr/bin/env python
"""Pretrain a SAM-Audio encoder on unlabelled audio: masked segment prediction and contrastive segments.

    python run_pretraining.py --config pretrain.yaml --dataset_name recordings/ --output_dir outputs/pretrained
    accelerate launch run_pretraining.py --config pretrain.yaml --dataset_name recordings/
    python run_raga_classification.py --config config.yaml --model_name_or_path outputs/pretrained [--use_lora true]

`--dataset_name` is a folder of audio files, searched recursively, in any format FFmpeg reads and of any length: long
recordings are cut into windows of `max_length_seconds`, each decoded only when it is read. It may also be any
dataset `run_raga_classification.py` takes; its labels are not used. The output folder is a `SamAudioForPreTraining`
checkpoint (safetensors, the feature extractor and the model code), which the classification script fine-tunes.
"""

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import set_seed

from audio_io_sam_audio import clean_decoder_error, read_audio_segment
from configuration_sam_audio import SamAudioConfig
from feature_extraction_sam_audio import SamAudioFeatureExtractor
from modeling_sam_audio import SamAudioForPreTraining
from run_raga_classification import ModelArguments, SamAudioTrainer, SamAudioTrainingArguments
from sam_audio_raga.cli import (
    adapt_schedule,
    check_checkpoint_shapes,
    checkpoint_to_resume,
    parse_config_and_flags,
    push_only_if_the_hub_answers,
    push_to_hub_at_the_end,
    run_cli,
    setup_logging,
    setup_wandb,
    synthetic_config_of,
)
from sam_audio_raga.data import (
    PITCH_SHIFT_STEPS,
    DatasetUnavailableError,
    add_noise,
    check_columns,
    find_audio_files,
    load_raga_dataset,
    pitch_shift,
    random_crop,
    tilt_spectrum,
)
from sam_audio_raga.teacher import EmaTeacherCallback


logger = logging.getLogger(__name__)

# Folders holding these are datasets for `load_raga_dataset`, not folders of audio files.
DATASET_MARKERS = ("dataset_dict.json", "dataset_info.json", "state.json")


def is_audio_folder(name: str) -> bool:
    """Whether `name` is a folder of audio files (as opposed to a `save_to_disk` folder or parquet files)."""
    path = Path(name).expanduser()
    if not path.is_dir():
        return False
    return not any((path / marker).exists() for marker in DATASET_MARKERS) and not any(path.rglob("*.parquet"))


def _probe_duration(path: Path) -> float:
    """Duration of `path` in seconds, from its header (or, where the header has none, by decoding it)."""
    from torchcodec.decoders import AudioDecoder

    decoder = AudioDecoder(str(path))
    duration = decoder.metadata.duration_seconds
    if duration is None:
        samples = decoder.get_all_samples()
        duration = samples.data.shape[-1] / samples.sample_rate
    return float(duration)


def _reason(error: BaseException, path: Path) -> str:
    """The decoder's message on one line, without the C++ location and the file name it repeats."""
    message = clean_decoder_error(error)
    return message.replace(f"Could not open input file: {path}", "").strip() or message


@dataclass
class ViewConfig:
    """How many views of a recording each training item holds, and how each is altered. Every alteration keeps the
    raga: a spectral tilt and noise change what a recording's microphone, hall and instrument add, so the views of
    one recording cannot be matched by those; pitch shifts move the drone and the melody together (they change where
    the tonic lies)."""

    count: int = 2
    pitch_shift_semitones: float = 0.0
    spectral_tilt_db: float = 0.0
    noise_probability: float = 0.0
    noise_snr_db: tuple[float, float] = (10.0, 30.0)
    window_jitter: bool = False
    sampling_rate: int = 16000

    def transform(self, audio: np.ndarray) -> np.ndarray:
        if self.spectral_tilt_db > 0:
            audio = tilt_spectrum(audio, self.spectral_tilt_db, self.sampling_rate)
        if self.noise_probability > 0 and torch.rand(()) < self.noise_probability:
            audio = add_noise(audio, self.noise_snr_db)
        audio = audio.astype(np.float32, copy=False)
        if self.pitch_shift_semitones <= 0:
            return audio
        semitones = (2 * torch.rand(()).item() - 1) * self.pitch_shift_semitones
        shifted = pitch_shift(audio, round(PITCH_SHIFT_STEPS * 2.0 ** (semitones / 12)))
        return shifted[: audio.shape[0]].astype(np.float32, copy=False)


class AudioWindowDataset(Dataset):
    """Windows of `max_length_seconds` of every readable file in a folder, decoded (mono, resampled) when read.

    The folder is scanned once, reading only each file's header, so the windows of all recordings can be shuffled
    together. A tail shorter than `min_length_seconds` is left out. Files that cannot be opened are skipped and kept in
    `unreadable`; a window that fails to decode later becomes `None`, which the collator drops.
    """

    def __init__(
        self,
        folder: str | Path,
        sampling_rate: int,
        max_length_seconds: float,
        min_length_seconds: float,
        views: ViewConfig | None = None,
    ) -> None:
        self.folder = Path(folder).expanduser()
        self.sampling_rate = sampling_rate
        self.views = views or ViewConfig()
        self.files: list[Path] = []
        self.durations: list[float] = []  # of each file, in seconds
        self.windows: list[tuple[int, float, float]] = []  # (file index, start, end) in seconds
        self.unreadable: dict[str, str] = {}  # file (relative to the folder): reason
        self.too_short: list[str] = []
        self.total_seconds = 0.0
        candidates = find_audio_files(self.folder)
        if not candidates:
            raise ValueError(
                f"No audio files under {str(self.folder)!r}: pass a folder holding recordings (any format FFmpeg "
                "reads, in subfolders too) or a dataset (save_to_disk folder, parquet files, a Hub id or `synthetic`)."
            )
        for path in candidates:
            name = str(path.relative_to(self.folder))
            try:
                duration = _probe_duration(path)
            except Exception as error:  # any decoder failure: the file is skipped and counted
                self.unreadable[name] = _reason(error, path)
                logger.warning(f"Skipping {name}: it cannot be read as audio ({self.unreadable[name]}).")
                continue
            if duration < min_length_seconds:
                self.too_short.append(name)
                continue
            self.files.append(path)
            self.durations.append(duration)
            self.total_seconds += duration
            start = 0.0
            while duration - start >= min_length_seconds:
                self.windows.append((len(self.files) - 1, start, min(start + max_length_seconds, duration)))
                start += max_length_seconds
        # Window positions of each file, where the other views of an item are drawn from.
        self.windows_of_file: dict[int, list[int]] = {}
        for position, (file_index, _, _) in enumerate(self.windows):
            self.windows_of_file.setdefault(file_index, []).append(position)
        if not self.windows:
            problem = (
                f"none of its {len(candidates)} file(s) could be read as audio ({', '.join(self.unreadable)})"
                if len(self.unreadable) == len(candidates)
                else f"no readable file lasts `min_length_seconds` ({min_length_seconds} s) or more"
            )
            raise ValueError(f"Nothing to train on in {str(self.folder)!r}: {problem}.")

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict:
        """`{"views": [waveform or None, ...], "recording": file index}`: the window `index`, then other windows of
        its recording drawn at random (the same window again when the recording has one)."""
        file_index = self.windows[index][0]
        siblings = self.windows_of_file[file_index]
        chosen = [index] + [siblings[int(torch.randint(len(siblings), ()))] for _ in range(self.views.count - 1)]
        return {"views": [self._read(position) for position in chosen], "recording": file_index}

    def _read(self, position: int) -> np.ndarray | None:
        file_index, start, end = self.windows[position]
        if self.views.window_jitter:
            # Up to a window later, within the file: the views of a file no longer than a window differ too.
            shift = torch.rand(()).item() * min(self.durations[file_index] - end, end - start)
            start, end = start + shift, end + shift
        path = self.files[file_index]
        try:
            audio = read_audio_segment(path, start, end, sampling_rate=self.sampling_rate)
        except Exception as error:  # a file that opened but fails further on: this window is dropped
            name = str(path.relative_to(self.folder))
            self.unreadable.setdefault(name, _reason(error, path))
            logger.warning(f"Skipping {start:.0f}-{end:.0f} s of {name}: it does not decode ({_reason(error, path)}).")
            return None
        if audio.size == 0 or not np.isfinite(audio).all():
            return None
        return self.views.transform(audio)


class ClipCropTransform:
    """`set_transform` for a `datasets` dataset: decodes the audio column and takes `views.count` random crops of
    each clip (labels unused)."""

    def __init__(
        self, audio_column: str, sampling_rate: int, max_length_seconds: float, views: ViewConfig | None = None
    ) -> None:
        self.audio_column = audio_column
        self.decoder = datasets.Audio(sampling_rate=sampling_rate)
        self.max_length = round(max_length_seconds * sampling_rate)
        self.views = views or ViewConfig()

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        clips = [self._decode(value) for value in batch[self.audio_column]]
        views = [[self._view(clip) for _ in range(self.views.count)] for clip in clips]
        return {"views": views, "recording": [None] * len(clips)}

    def _view(self, clip: np.ndarray | None) -> np.ndarray | None:
        return None if clip is None else self.views.transform(random_crop(clip, self.max_length))

    def _decode(self, value: dict) -> np.ndarray | None:
        try:
            audio = np.asarray(self.decoder.decode_example(value)["array"], dtype=np.float32)
        except Exception as error:  # undecodable row: dropped by the collator
            logger.warning(f"Skipping an undecodable clip ({value.get('path') or 'bytes'}): {error}")
            return None
        if audio.size == 0 or not np.isfinite(audio).all():
            return None
        return audio


@dataclass
class PretrainingDataCollator:
    """Pads the views of every item with the feature extractor (`input_values`, `attention_mask`) and numbers their
    recordings (`recording_ids`: views of one item, or windows of one file, share a number); drops `None` views."""

    feature_extractor: SamAudioFeatureExtractor

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        usable, owners = [], []
        for position, row in enumerate(rows):
            owner = ("file", row["recording"]) if row["recording"] is not None else ("item", position)
            for view in row["views"]:
                if view is not None:
                    usable.append(view)
                    owners.append(owner)
        total = sum(len(row["views"]) for row in rows)
        if len(usable) < total:
            logger.warning(f"Dropped {total - len(usable)} undecodable clip(s) from a batch of {total}.")
        if not usable:
            raise ValueError("Every clip in this batch failed to decode; see the warnings above for the files.")
        batch = self.feature_extractor(
            usable, sampling_rate=self.feature_extractor.sampling_rate, padding=True, return_tensors="pt"
        )
        numbers = {owner: number for number, owner in enumerate(dict.fromkeys(owners))}
        batch["recording_ids"] = torch.tensor([numbers[owner] for owner in owners], dtype=torch.long)
        return batch


@dataclass
class PretrainingDataArguments:
    """Where the unlabelled audio comes from and how it is cut."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A folder of audio files (any format FFmpeg reads, any length, searched recursively), or a "
            "dataset run_raga_classification.py takes ('synthetic', a save_to_disk folder, parquet files or a Hub id)."
        },
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    audio_column_name: str = field(default="audio", metadata={"help": "A dataset's column holding the audio."})
    train_split_name: str = field(default="train", metadata={"help": "A dataset's split to train on."})
    max_length_seconds: float = field(
        default=20.0, metadata={"help": "Length of the training windows (folders) or random crops (datasets), in s."}
    )
    min_length_seconds: float = field(
        default=5.0, metadata={"help": "Shorter files and recording tails are left out (folders), in s."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use at most this many windows or clips."})
    views: int = field(
        default=2,
        metadata={
            "help": "Views per training item: windows of one recording (folders) or crops of one clip (datasets). "
            "Their segments are positives of the contrastive loss, as a performance keeps its raga; 1: only the "
            "segments of one window are."
        },
    )
    view_pitch_shift_semitones: float = field(
        default=0.0, metadata={"help": "Shift each view by up to this many semitones (drone and melody together)."}
    )
    view_spectral_tilt_db: float = field(
        default=0.0,
        metadata={"help": "Tilt each view's spectrum by a random slope of up to this many dB per octave, either way."},
    )
    view_noise_probability: float = field(default=0.0, metadata={"help": "Chance of adding white noise to a view."})
    view_noise_snr_db: list[float] = field(
        default_factory=lambda: [10.0, 30.0], metadata={"help": "SNR range of that noise, in dB."}
    )
    view_window_jitter: bool = field(
        default=False,
        metadata={
            "help": "Folders: move each window by a random offset, up to its length, within its file (a file no "
            "longer than a window otherwise gives the same window to every view)."
        },
    )
    synthetic_recordings_per_raga: int = field(default=6, metadata={"help": "'synthetic': recordings per raga."})
    synthetic_clips_per_recording: int = field(default=8, metadata={"help": "'synthetic': clips per recording."})
    synthetic_clip_seconds: float = field(default=20.0, metadata={"help": "'synthetic': clip length (s)."})
    synthetic_seed: int = field(default=0, metadata={"help": "'synthetic': generator seed."})
    synthetic_variant: str = field(default="standard", metadata={"help": "'synthetic': 'standard' or 'hard'."})

    def __post_init__(self):
        if self.views < 1:
            raise ValueError(f"`views` must be at least 1, got {self.views!r}.")
        if self.view_pitch_shift_semitones < 0:
            raise ValueError(f"`view_pitch_shift_semitones` must be >= 0, got {self.view_pitch_shift_semitones!r}.")
        if not self.view_spectral_tilt_db >= 0:
            raise ValueError(f"`view_spectral_tilt_db` must be >= 0, got {self.view_spectral_tilt_db!r}.")
        if not 0 <= self.view_noise_probability <= 1:
            raise ValueError(f"`view_noise_probability` must lie in [0, 1], got {self.view_noise_probability!r}.")
        if len(self.view_noise_snr_db) != 2 or not self.view_noise_snr_db[0] <= self.view_noise_snr_db[1]:
            raise ValueError(f"`view_noise_snr_db` must be [low, high] in dB, got {self.view_noise_snr_db!r}.")
        if not self.max_length_seconds > 0:
            raise ValueError(f"`max_length_seconds` must be positive, got {self.max_length_seconds!r}.")
        if not 0 < self.min_length_seconds <= self.max_length_seconds:
            raise ValueError(
                f"`min_length_seconds` must lie in (0, max_length_seconds = {self.max_length_seconds}], got "
                f"{self.min_length_seconds!r}."
            )


@dataclass
class PretrainingModelArguments(ModelArguments):
    """The model arguments of the classification script, and what masked segment prediction predicts."""

    pretraining_target: str | None = field(
        default=None,
        metadata={
            "help": "'frames': the masked frames' conv features. 'teacher': the segment states an exponential moving "
            "average of the model computes from the unmasked clip (data2vec)."
        },
    )


@dataclass
class PretrainingArguments(SamAudioTrainingArguments):
    """`TrainingArguments` with the loss weights and defaults of a pretraining run (no evaluation, saves by steps)."""

    mask_weight: float = field(default=1.0, metadata={"help": "Weight of the masked segment prediction loss."})
    contrastive_weight: float = field(default=1.0, metadata={"help": "Weight of the contrastive segment loss."})
    teacher_decay: float = field(
        default=0.99, metadata={"help": "'teacher' target: EMA decay of the teacher at the first step."}
    )
    teacher_final_decay: float = field(
        default=0.999, metadata={"help": "'teacher' target: EMA decay at the last step (rising linearly)."}
    )
    output_dir: str = field(default="outputs/sam-audio-pretrained", metadata={"help": "Checkpoints and the model."})
    eval_strategy: str = field(default="no", metadata={"help": "Pretraining has no validation split: 'no'."})
    save_strategy: str = field(default="steps", metadata={"help": "When to checkpoint: 'steps' or 'epoch'."})
    load_best_model_at_end: bool = field(default=False, metadata={"help": "No metric picks a checkpoint: false."})
    metric_for_best_model: str | None = field(default=None, metadata={"help": "Unused in pretraining."})

    def __post_init__(self):
        super().__post_init__()
        for name in ("teacher_decay", "teacher_final_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must lie in [0, 1), got {value!r}.")


class SamAudioPreTrainer(SamAudioTrainer):
    """Weighs the masked-segment and contrastive losses of `SamAudioForPreTraining` and logs each term."""

    loss_terms = ("masked_segment_loss", "contrastive_loss")
    no_loss_hint = "pretraining needs `mask_time_prob` > 0 or training mode"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = None
        if self.model.config.pretraining_target == "teacher":
            self.teacher = EmaTeacherCallback(
                self.model.sam_audio, self.args.teacher_decay, self.args.teacher_final_decay
            )
            self.add_callback(self.teacher)

    def loss_weights(self) -> dict[str, float]:
        return {"masked_segment_loss": self.args.mask_weight, "contrastive_loss": self.args.contrastive_weight}

    def train(self, resume_from_checkpoint: str | None = None, **kwargs):
        if self.teacher is not None:
            self.teacher.resume_from = resume_from_checkpoint
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.teacher is not None and model.training:
            with self.accelerator.autocast():
                targets = self.teacher.segment_states(inputs["input_values"], inputs.get("attention_mask"))
            inputs = {**inputs, "teacher_segment_states": targets}
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


def parse_arguments(argv: list[str]) -> tuple:
    """Parse `--config file.yaml` and the command line; flags on the command line override the YAML."""
    return parse_config_and_flags((PretrainingModelArguments, PretrainingDataArguments, PretrainingArguments), argv)


def view_config(data_args: PretrainingDataArguments, sampling_rate: int) -> ViewConfig:
    return ViewConfig(
        count=data_args.views,
        pitch_shift_semitones=data_args.view_pitch_shift_semitones,
        spectral_tilt_db=data_args.view_spectral_tilt_db,
        noise_probability=data_args.view_noise_probability,
        noise_snr_db=tuple(data_args.view_noise_snr_db),
        window_jitter=data_args.view_window_jitter,
        sampling_rate=sampling_rate,
    )


def build_training_set(
    data_args: PretrainingDataArguments, sampling_rate: int, seed: int
) -> tuple[Dataset | datasets.Dataset, AudioWindowDataset | None]:
    """The training set (rows of `{"input_values": waveform}`), and the folder scan when it is a folder of audio."""
    name = data_args.dataset_name
    if not name:
        raise ValueError("No data: pass --dataset_name, a folder of audio files or a dataset.")
    path = Path(name).expanduser()
    if not path.exists() and (path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1):
        raise ValueError(f"No such folder: {name!r}. Pass a folder of audio files or a dataset with --dataset_name.")
    if is_audio_folder(name):
        windows = AudioWindowDataset(
            path,
            sampling_rate,
            data_args.max_length_seconds,
            data_args.min_length_seconds,
            view_config(data_args, sampling_rate),
        )
        logger.info(
            f"{len(windows.files)} recordings ({windows.total_seconds / 3600:.2f} h) under {path}: {len(windows)} "
            f"windows of up to {data_args.max_length_seconds} s."
        )
        if windows.too_short:
            logger.info(f"Left out {len(windows.too_short)} file(s) under {data_args.min_length_seconds} s.")
        dataset = windows
        if data_args.max_train_samples is not None:
            order = np.random.default_rng(seed).permutation(len(windows))[: data_args.max_train_samples]
            dataset = torch.utils.data.Subset(windows, order.tolist())
        return dataset, windows

    synthetic_config = synthetic_config_of(data_args)
    try:
        raw = load_raga_dataset(name, data_args.dataset_config_name, synthetic_config=synthetic_config)
    except DatasetUnavailableError as error:
        if path.exists():
            raise
        # A mistyped folder name reads as a Hub id: say that no such folder exists either.
        raise DatasetUnavailableError(f"{error} No folder {name!r} exists here either.") from None
    if data_args.train_split_name not in raw:
        raise ValueError(
            f"The dataset has no {data_args.train_split_name!r} split (its splits: {', '.join(raw)}); set "
            "`train_split_name` to one of them."
        )
    dataset = raw[data_args.train_split_name]
    check_columns(dataset, {"audio_column_name": data_args.audio_column_name})
    if len(dataset) == 0:
        raise ValueError(f"The {data_args.train_split_name!r} split of {name!r} is empty.")
    if data_args.max_train_samples is not None:
        dataset = dataset.shuffle(seed=seed).select(range(min(data_args.max_train_samples, len(dataset))))
    dataset = dataset.cast_column(data_args.audio_column_name, datasets.Audio(decode=False))
    dataset.set_transform(
        ClipCropTransform(
            data_args.audio_column_name,
            sampling_rate,
            data_args.max_length_seconds,
            view_config(data_args, sampling_rate),
        )
    )
    logger.info(f"{len(dataset)} clips from {name!r} (labels, if any, are not used).")
    return dataset, None


def main(argv: list[str] | None = None) -> dict[str, float]:
    model_args, data_args, training_args = parse_arguments(sys.argv[1:] if argv is None else argv)

    setup_logging(training_args, logger)
    logger.info(f"Training parameters {training_args}")
    logger.info(f"Process {training_args.process_index} of {training_args.world_size}, on {training_args.device}")
    set_seed(training_args.seed)
    adapt_schedule(training_args, streaming=False)

    feature_extractor = (
        SamAudioFeatureExtractor.from_pretrained(model_args.model_name_or_path)
        if model_args.model_name_or_path
        else SamAudioFeatureExtractor()
    )
    with training_args.main_process_first(desc="loading the dataset"):
        train_dataset, windows = build_training_set(data_args, feature_extractor.sampling_rate, training_args.seed)

    if model_args.model_name_or_path:
        check_checkpoint_shapes(
            model_args.model_name_or_path, model_args.config_overrides(), model_args.trust_remote_code
        )
        model = SamAudioForPreTraining.from_pretrained(
            model_args.model_name_or_path,
            **model_args.config_overrides(),
            trust_remote_code=model_args.trust_remote_code,
        )
    else:
        model = SamAudioForPreTraining(SamAudioConfig(**model_args.config_overrides()))
    if not (model.config.mask_time_prob > 0 and training_args.mask_weight > 0) and not (
        training_args.contrastive_weight > 0
    ):
        raise ValueError(
            "Nothing to learn: set `mask_time_prob` and `mask_weight` above 0, or `contrastive_weight` above 0."
        )

    push_only_if_the_hub_answers(training_args)
    # One upload, of the finished folder, at the end: with the flag on, `Trainer.save_model` would push as well.
    push_at_the_end, training_args.push_to_hub = training_args.push_to_hub, False
    setup_wandb(training_args)

    trainer = SamAudioPreTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        data_collator=PretrainingDataCollator(feature_extractor),
        processing_class=feature_extractor,
    )
    checkpoint = checkpoint_to_resume(training_args, logger, type(model).__name__)
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()
    # Weights in safetensors, config and model code (`auto_map`), feature extractor, `training_args.json`.
    trainer.save_model()

    if trainer.is_world_process_zero():
        if windows is not None and windows.unreadable:
            names = ", ".join(sorted(windows.unreadable))
            logger.warning(f"skipped {len(windows.unreadable)} unreadable files: {names}")
        output_dir = Path(training_args.output_dir).resolve()
        logger.info(
            f"Pretrained model saved in {output_dir}. Fine-tune it with: python run_raga_classification.py --config "
            f"config.yaml --model_name_or_path {output_dir} --dataset_name LABELLED_DATASET [--use_lora true]"
        )
    push_to_hub_at_the_end(trainer, push_at_the_end, logger)
    return train_result.metrics


def cli(argv: list[str] | None = None) -> int:
    """Run `main`, turning a bad configuration or dataset into one line on stderr and exit code 1."""
    return run_cli(main, argv)


if __name__ == "__main__":
    raise SystemExit(cli())
