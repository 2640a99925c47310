#!/usr/bin/env python
"""Train, evaluate and publish a SAM-Audio raga classifier.

    python run_raga_classification.py --config config.yaml [--batch-size 16 --epochs 100 --lr 0.001 --seed 42]
    accelerate launch run_raga_classification.py --config config.yaml
    python run_raga_classification.py --config config.yaml --dataset_name DIR --streaming true --max_steps 20000

Every option is a field of the argument dataclasses below (or of `TrainingArguments`); `config.yaml` sets them for a
run, and flags on the command line override the YAML.
"""

import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import torch
from accelerate.data_loader import prepare_data_loader
from huggingface_hub import upload_folder
from torch.utils.data import DataLoader
from transformers import Trainer, TrainingArguments, set_seed

from configuration_sam_audio import SamAudioConfig
from feature_extraction_sam_audio import SamAudioFeatureExtractor
from modeling_sam_audio import SamAudioForAudioClassification
from pipeline_sam_audio import add_pipeline_to_folder, save_pretrained_with_pipeline
from sam_audio_raga.calibration import fit_segment_logit_weight
from sam_audio_raga.cli import (
    LORA_ADAPTERS,
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
    AugmentationConfig,
    RagaAudioTransform,
    SamAudioDataCollator,
    check_columns,
    check_label_coverage,
    declared_label_names,
    hash_split,
    label_names_of,
    load_raga_dataset,
    stratified_group_split,
    streaming_evaluation_set,
    streaming_training_set,
)
from sam_audio_raga.evaluation import build_compute_metrics, save_confusion_matrix
from sam_audio_raga.hub import HUB_IGNORE_PATTERNS, write_model_card
from sam_audio_raga.lora import DEFAULT_LORA_TARGETS, LORA_LEARNING_RATE_FACTOR, adapter_learning_rate, apply_lora


logger = logging.getLogger(__name__)


@dataclass
class ModelArguments:
    """The model: a checkpoint to start from, or the hyperparameters of a new one (unset fields keep the
    `SamAudioConfig` defaults)."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Folder or Hub id of a SAM-Audio checkpoint; unset trains a new model."}
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow code from a Hub checkpoint to run."})
    frontend: str | None = field(default=None, metadata={"help": "'log_frequency', 'log_mel' or 'waveform'."})
    hidden_size: int | None = field(default=None, metadata={"help": "Width of frames, segment tokens and attention."})
    num_attention_heads: int | None = field(default=None, metadata={"help": "Heads per attention layer."})
    intermediate_size: int | None = field(default=None, metadata={"help": "Width of the feed-forward blocks."})
    num_segment_tokens: int | None = field(default=None, metadata={"help": "Learnable segment tokens."})
    num_segment_layers: int | None = field(default=None, metadata={"help": "Segment attention layers."})
    segment_competition: bool | None = field(
        default=None, metadata={"help": "Segment tokens compete for frames (false: plain cross-attention)."}
    )
    segment_prior_width: float | None = field(
        default=None, metadata={"help": "Width of each segment token's temporal prior, in token shares of the clip."}
    )
    tonic_estimation: str | None = field(default=None, metadata={"help": "'drone_and_melody' or 'drone'."})
    drone_intervals: list[int] | None = field(
        default=None, metadata={"help": "Semitones above Sa that the drone sounds (default 0 7: Sa, Pa)."}
    )
    learn_tonic_templates: bool | None = field(default=None, metadata={"help": "Train the tonic templates."})
    pitch_class_head: bool | None = field(default=None, metadata={"help": "Add the pitch-class head's logits."})
    segment_logit_weight: float | None = field(default=None, metadata={"help": "Segment logits' weight (unset: fit)."})
    conv_dim: list[int] | None = field(default=None, metadata={"help": "Channels of each conv layer."})
    conv_kernel: list[int] | None = field(default=None, metadata={"help": "Kernel of each conv layer."})
    conv_stride: list[int] | None = field(default=None, metadata={"help": "Stride of each conv layer."})
    n_fft: int | None = field(default=None, metadata={"help": "FFT size of the spectral frontends."})
    hop_length: int | None = field(default=None, metadata={"help": "Hop of the spectral frontends, in samples."})
    bins_per_semitone: int | None = field(default=None, metadata={"help": "Resolution of 'log_frequency'."})
    tonic_alignment: bool | None = field(default=None, metadata={"help": "Rotate pitch classes to the tonic."})
    mask_time_prob: float | None = field(default=None, metadata={"help": "Fraction of frames masked in training."})
    mask_time_length: int | None = field(default=None, metadata={"help": "Length of masked spans, in frames."})
    contrastive_temperature: float | None = field(default=None, metadata={"help": "Contrastive loss temperature."})
    contrastive_proj_size: int | None = field(default=None, metadata={"help": "Width of contrastive embeddings."})
    hidden_dropout: float | None = field(default=None, metadata={"help": "Dropout in the segment layers."})
    final_dropout: float | None = field(default=None, metadata={"help": "Dropout before the classifier."})
    label_smoothing: float | None = field(default=None, metadata={"help": "Label smoothing of the cross-entropy."})

    def config_overrides(self) -> dict:
        excluded = {"model_name_or_path", "trust_remote_code"}
        return {key: value for key, value in asdict(self).items() if key not in excluded and value is not None}


@dataclass
class DataTrainingArguments:
    """Where the audio comes from, how it is split and how training clips are augmented."""

    dataset_name: str = field(
        default="sarayusapa/carnatic-ragas",
        metadata={
            "help": "Hub dataset id, 'synthetic' (the built-in generated corpus), a local folder (audiofolder with "
            "metadata.csv, parquet files or save_to_disk output) or parquet files."
        },
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    audio_column_name: str = field(default="audio", metadata={"help": "Column holding the audio."})
    label_column_name: str = field(default="raga", metadata={"help": "Column holding the raga name."})
    group_column_name: str | None = field(
        default=None,
        metadata={"help": "Column naming the recording of each clip; a recording never spans the split."},
    )
    train_split_name: str = field(default="train", metadata={"help": "Dataset split to train on."})
    eval_split_name: str = field(
        default="validation",
        metadata={"help": "Dataset split to validate on; when the dataset lacks it, the training split is divided."},
    )
    validation_fraction: float = field(default=0.1, metadata={"help": "Share of each raga held out for validation."})
    streaming: bool = field(
        default=False,
        metadata={
            "help": "Read the dataset as it trains (parquet, audiofolder or Hub), in memory that does not grow with "
            "its size; needs `max_steps`, and `raga_names` unless the label column is a ClassLabel."
        },
    )
    shuffle_buffer_size: int = field(
        default=256,
        metadata={
            "help": "Streaming: rows (encoded clips) held to shuffle the stream; more mixes better, costs memory."
        },
    )
    raga_names: list[str] | None = field(
        default=None,
        metadata={"help": "The ragas in label-id order, when the label column holds strings (needed to stream)."},
    )
    max_length_seconds: float = field(default=20.0, metadata={"help": "Length of random training crops (s)."})
    max_eval_length_seconds: float | None = field(default=None, metadata={"help": "Cut evaluation clips (s)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use at most this many training clips."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use at most this many validation clips."})
    gain_db: float = field(default=0.0, metadata={"help": "Random gain of +-gain_db (no effect with do_normalize)."})
    pitch_shift_probability: float = field(default=0.0, metadata={"help": "Chance of pitch-shifting a crop."})
    pitch_shift_semitones: float = field(default=0.0, metadata={"help": "Largest pitch shift, in semitones."})
    noise_probability: float = field(default=0.0, metadata={"help": "Chance of adding white noise to a crop."})
    noise_snr_db: list[float] = field(default_factory=lambda: [20.0, 40.0], metadata={"help": "SNR range of noise."})
    synthetic_recordings_per_raga: int = field(default=6, metadata={"help": "'synthetic': recordings per raga."})
    synthetic_clips_per_recording: int = field(default=8, metadata={"help": "'synthetic': clips per recording."})
    synthetic_clip_seconds: float = field(default=20.0, metadata={"help": "'synthetic': clip length (s)."})
    synthetic_seed: int = field(default=0, metadata={"help": "'synthetic': generator seed."})
    synthetic_variant: str = field(
        default="standard",
        metadata={
            "help": "'synthetic': 'standard' (clean) or 'hard' (concert conditions: faint or Sa-Ma drone, mridangam, "
            "violin, pauses, noise, reverb)."
        },
    )

    def __post_init__(self):
        for name in ("pitch_shift_probability", "noise_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` is a probability and must lie in [0, 1], got {getattr(self, name)!r}.")
        if self.max_length_seconds is not None and self.max_length_seconds <= 0:
            raise ValueError(f"`max_length_seconds` must be positive, got {self.max_length_seconds!r}.")
        if self.shuffle_buffer_size < 1:
            raise ValueError(f"`shuffle_buffer_size` must be at least 1, got {self.shuffle_buffer_size!r}.")


@dataclass
class LoraArguments:
    """LoRA adapters through `peft.get_peft_model`."""

    use_lora: bool = field(default=False, metadata={"help": "Train only LoRA adapters, layer norms and label heads."})
    lora_r: int = field(default=8, metadata={"help": "Rank of the adapters."})
    lora_alpha: int = field(default=16, metadata={"help": "Scale of the adapters (alpha / r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the adapter input."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: list(DEFAULT_LORA_TARGETS), metadata={"help": "Module names to adapt."}
    )
    lora_include_conv_layers: bool = field(default=True, metadata={"help": "Also adapt the conv feature encoder."})
    lora_learning_rate: float | None = field(
        default=None, metadata={"help": f"Unset: {LORA_LEARNING_RATE_FACTOR:g} times `learning_rate`."}
    )


@dataclass
class SamAudioTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the auxiliary loss weights and run defaults suited to raga classification."""

    mask_weight: float = field(default=0.5, metadata={"help": "Weight of the masked segment prediction loss."})
    contrastive_weight: float = field(default=0.3, metadata={"help": "Weight of the contrastive segment loss."})
    output_dir: str = field(default="outputs/sam-audio-raga", metadata={"help": "Where checkpoints and the model go."})
    per_device_train_batch_size: int = field(
        default=8, metadata={"help": "Training batch size per device.", "aliases": ["--batch-size", "--batch_size"]}
    )
    num_train_epochs: float = field(default=30.0, metadata={"help": "Training epochs.", "aliases": ["--epochs"]})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak learning rate.", "aliases": ["--lr"]})
    seed: int = field(default=42, metadata={"help": "Seed of the split, initialisation and training."})
    eval_strategy: str = field(default="epoch", metadata={"help": "When to evaluate: 'no', 'steps' or 'epoch'."})
    save_strategy: str = field(default="epoch", metadata={"help": "When to checkpoint: 'no', 'steps' or 'epoch'."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Checkpoints kept (the best is kept too)."})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "Finish with the best checkpoint."})
    metric_for_best_model: str | None = field(default="accuracy", metadata={"help": "Metric that picks the best."})
    logging_steps: float = field(default=10, metadata={"help": "Log every this many steps."})
    warmup_steps: float = field(default=0.05, metadata={"help": "Warm-up steps (a fraction < 1 of all steps)."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep the columns the transform reads."})
    hub_strategy: str = field(default="end", metadata={"help": "Push once, at the end, the folder `main()` writes."})

    def __post_init__(self):
        for name in ("mask_weight", "contrastive_weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"`{name}` is a loss weight and must be >= 0, got {value!r}.")
        super().__post_init__()


class SamAudioTrainer(Trainer):
    """Adds the weighted masked-segment and contrastive losses to the classification loss, and logs each term."""

    # The loss is a per-batch mean, so the Trainer divides it by the gradient accumulation steps.
    loss_is_scaled_for_ga = False
    loss_terms = ("classification_loss", "masked_segment_loss", "contrastive_loss")
    no_loss_hint = "training needs `labels` in every batch"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._term_sums = {name: torch.zeros(()) for name in self.loss_terms}
        self._term_counts = dict.fromkeys(self.loss_terms, 0)

    def loss_weights(self) -> dict[str, float]:
        """The weight of each loss term the model returns, by its output field."""
        return {
            "classification_loss": 1.0,
            "masked_segment_loss": self.args.mask_weight,
            "contrastive_loss": self.args.contrastive_weight,
        }

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        loss = None
        for name, weight in self.loss_weights().items():
            term = getattr(outputs, name)
            if term is None:
                continue
            loss = weight * term if loss is None else loss + weight * term
            if model.training:
                self._term_sums[name] = self._term_sums[name] + term.detach().float().cpu()
                self._term_counts[name] += 1
        if loss is None:
            raise ValueError(f"The model returned no loss: {self.no_loss_hint}.")
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log: add each loss term, averaged since the previous log
            for name in self.loss_terms:
                if self._term_counts[name]:
                    mean = self._term_sums[name] / self._term_counts[name]
                    logs[name] = round(self.accelerator.reduce(mean.to(self.args.device), reduction="mean").item(), 4)
                self._term_sums[name] = torch.zeros(())
                self._term_counts[name] = 0
        super().log(logs, start_time)

    def get_train_dataloader(self) -> DataLoader:
        """As `Trainer`'s, except for a streamed training set in several processes: `main()` gave each process its
        own part of the stream (`split_dataset_by_node`), so accelerate must neither read the whole stream on the
        main process and send out its batches (its default for iterable datasets) nor split it again."""
        if not (isinstance(self.train_dataset, datasets.IterableDataset) and self.args.world_size > 1):
            return super().get_train_dataloader()
        loader = DataLoader(
            self.train_dataset,
            batch_size=self._train_batch_size,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
            persistent_workers=self.args.dataloader_persistent_workers,
            prefetch_factor=self.args.dataloader_prefetch_factor,
        )
        return prepare_data_loader(
            loader, self.args.device, num_processes=1, process_index=0, put_on_device=True, dispatch_batches=False
        )

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """As `Trainer._save`, but the training arguments go to `training_args.json` (tokens redacted) instead of a
        pickled `training_args.bin`: nothing this project writes needs `pickle` to read."""
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        model.save_pretrained(output_dir, state_dict=state_dict, is_main_process=self.args.should_save)
        if self.args.should_save:
            if self.processing_class is not None:
                self.processing_class.save_pretrained(output_dir)
            Path(output_dir, "training_args.json").write_text(self.args.to_json_string(), encoding="utf-8")

    def push_to_hub(
        self,
        commit_message: str | None = "End of training",
        blocking: bool = True,
        token: str | None = None,
        revision: str | None = None,
        private: bool | None = None,
        **kwargs,
    ):
        """Upload the output folder as `main()` left it: the (merged) model with its code, the feature extractor,
        the model card and the metrics. Checkpoints, W&B files, caches and `training_args.bin` stay local."""
        token = token if token is not None else self.args.hub_token
        if getattr(self, "hub_model_id", None) is None:
            self.init_hf_repo(token=token, private=private)
        if not self.is_world_process_zero():
            return None
        return upload_folder(
            repo_id=self.hub_model_id,
            folder_path=self.args.output_dir,
            commit_message=commit_message,
            token=token,
            revision=revision if revision is not None else self.args.hub_revision,
            run_as_future=not blocking,
            ignore_patterns=HUB_IGNORE_PATTERNS,
        )


def parse_arguments(argv: list[str]) -> tuple:
    """Parse `--config file.yaml` and the command line; flags on the command line override the YAML."""
    return parse_config_and_flags(
        (ModelArguments, DataTrainingArguments, LoraArguments, SamAudioTrainingArguments), argv
    )


@dataclass
class RagaSplits:
    """The datasets of a run, ready for the Trainer, with the ragas in label-id order and how they were split."""

    train: datasets.Dataset | datasets.IterableDataset
    validation: datasets.Dataset | datasets.IterableDataset
    test: datasets.Dataset | datasets.IterableDataset | None
    labels: list[str]
    description: str


def main(argv: list[str] | None = None) -> dict[str, float]:
    model_args, data_args, lora_args, training_args = parse_arguments(sys.argv[1:] if argv is None else argv)
    setup_logging(training_args, logger)
    logger.info(f"Training parameters {training_args}")
    logger.info(f"Process {training_args.process_index} of {training_args.world_size}, on {training_args.device}")
    set_seed(training_args.seed)
    adapt_schedule(training_args, streaming=data_args.streaming)

    feature_extractor = (
        SamAudioFeatureExtractor.from_pretrained(model_args.model_name_or_path)
        if model_args.model_name_or_path
        else SamAudioFeatureExtractor()
    )
    splits = load_splits(data_args, training_args, feature_extractor.sampling_rate)
    model = build_model(model_args, lora_args, training_args, splits.labels)
    if lora_args.use_lora:
        training_args.learning_rate = adapter_learning_rate(training_args.learning_rate, lora_args.lora_learning_rate)
        logger.info(f"LoRA learning rate {training_args.learning_rate:g}")

    push_only_if_the_hub_answers(training_args)
    # One upload, of the finished folder, at the end: with the flag on, `Trainer.save_model` would push as well.
    push_at_the_end, training_args.push_to_hub = training_args.push_to_hub, False
    setup_wandb(training_args)
    trainer = SamAudioTrainer(
        model=model,
        args=training_args,
        train_dataset=splits.train,
        eval_dataset=splits.validation,
        data_collator=SamAudioDataCollator(feature_extractor),
        processing_class=feature_extractor,
        compute_metrics=build_compute_metrics(splits.labels),
    )

    kind = LORA_ADAPTERS if lora_args.use_lora else type(model).__name__
    train_result = trainer.train(resume_from_checkpoint=checkpoint_to_resume(training_args, logger, kind))
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()
    if model_args.segment_logit_weight is None:
        fit_segment_logit_weight(trainer, splits.validation)
    metrics = trainer.evaluate()
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)
    test_metrics = None
    if splits.test is not None:
        test_metrics = trainer.evaluate(splits.test, metric_key_prefix="test")
        trainer.log_metrics("test", test_metrics)
        trainer.save_metrics("test", test_metrics)

    write_output_folder(trainer, feature_extractor, splits, metrics, test_metrics, model_args, data_args, lora_args)
    push_to_hub_at_the_end(trainer, push_at_the_end, logger)
    return metrics


def load_splits(
    data_args: DataTrainingArguments, training_args: SamAudioTrainingArguments, sampling_rate: int
) -> RagaSplits:
    """Load the dataset, split it (before any augmentation), check its ragas and attach the audio transforms.

    A dataset's own validation split is used when it has one; otherwise the training split is divided. A `test` split
    that neither trains nor validates is scored once at the end: it never picks the checkpoint.
    """
    synthetic_config = synthetic_config_of(data_args)
    with training_args.main_process_first(desc="loading the dataset"):
        raw = load_raga_dataset(
            data_args.dataset_name,
            data_args.dataset_config_name,
            synthetic_config=synthetic_config,
            streaming=data_args.streaming,
        )
    if data_args.train_split_name not in raw:
        raise ValueError(
            f"The dataset has no {data_args.train_split_name!r} split (its splits: {', '.join(raw)}); set "
            "`train_split_name` to one of them."
        )
    eval_split_name = data_args.eval_split_name
    if eval_split_name not in raw or eval_split_name == data_args.train_split_name:
        eval_split_name = None
    test_split_name = "test" if "test" in raw and "test" not in (data_args.train_split_name, eval_split_name) else None
    columns = {
        "audio_column_name": data_args.audio_column_name,
        "label_column_name": data_args.label_column_name,
        "group_column_name": data_args.group_column_name,
    }
    for split_name in (data_args.train_split_name, eval_split_name, test_split_name):
        if split_name is not None:
            check_columns(raw[split_name], columns)
    train_split = raw[data_args.train_split_name]
    test = None if test_split_name is None else raw[test_split_name]
    if eval_split_name is not None:
        train, validation = train_split, raw[eval_split_name]
        description = f"the dataset's own `{eval_split_name}` split."
    elif data_args.streaming:
        # Hashed on the encoded audio, so the stream is not decoded to split it.
        encoded = train_split.cast_column(data_args.audio_column_name, datasets.Audio(decode=False))
        train, validation, description = split_stream(encoded, data_args, training_args.seed)
    else:
        train, validation, description = split_by_raga(train_split, data_args, training_args.seed)

    if data_args.streaming:
        # Nothing here reads the stream: the ragas come from the features, the split from a hash of each row.
        labels = declared_label_names(train_split, data_args.label_column_name, data_args.raga_names, required=True)
        if data_args.max_train_samples is not None:
            train = train.take(data_args.max_train_samples)
        if data_args.max_eval_samples is not None:
            validation = validation.take(data_args.max_eval_samples)
    else:
        if data_args.max_train_samples is not None:
            train = train.shuffle(seed=training_args.seed).select(range(min(data_args.max_train_samples, len(train))))
        if data_args.max_eval_samples is not None:
            validation = validation.select(range(min(data_args.max_eval_samples, len(validation))))
        if len(train) == 0 or len(validation) == 0:
            raise ValueError(
                f"The split left {len(train)} training and {len(validation)} validation clips; both need at least "
                "one (use more data or another `validation_fraction`)."
            )
        labels = declared_label_names(train_split, data_args.label_column_name, data_args.raga_names)
        labels = labels or label_names_of(train_split, data_args.label_column_name)
        check_label_coverage(
            labels, data_args.label_column_name, {"Training": train, "Validation": validation, "Test": test}
        )
    if len(labels) < 2:
        raise ValueError(f"The dataset has {len(labels)} raga(s) ({labels}); classification needs at least two.")
    logger.info(f"Split: {description} Ragas: {labels}")

    splits = RagaSplits(train, validation, test, labels, description)
    attach_transforms(splits, data_args, training_args, sampling_rate)
    return splits


def split_by_raga(dataset: datasets.Dataset, data_args: DataTrainingArguments, seed: int) -> tuple:
    """Hold out `validation_fraction` of each raga, whole recordings at a time when `group_column_name` is set."""
    groups = dataset[data_args.group_column_name] if data_args.group_column_name else None
    train_indices, eval_indices = stratified_group_split(
        dataset[data_args.label_column_name], groups, data_args.validation_fraction, seed
    )
    by = f"by `{data_args.group_column_name}` (no group on both sides)" if groups else "clip by clip"
    description = (
        f"{100 * (1 - data_args.validation_fraction):.0f}/{100 * data_args.validation_fraction:.0f} stratified by "
        f"raga, {by}, seed {seed}: {len(train_indices)} training and {len(eval_indices)} validation clips."
    )
    return dataset.select(train_indices), dataset.select(eval_indices), description


def split_stream(dataset: datasets.IterableDataset, data_args: DataTrainingArguments, seed: int) -> tuple:
    """Hold out `validation_fraction` of a stream by a hash of each recording (or clip): no counts are known."""
    train, validation = hash_split(
        dataset,
        data_args.validation_fraction,
        seed,
        group_column=data_args.group_column_name,
        audio_column=data_args.audio_column_name,
    )
    by = f"recording (`{data_args.group_column_name}`)" if data_args.group_column_name else "clip"
    description = (
        f"{100 * (1 - data_args.validation_fraction):.0f}/{100 * data_args.validation_fraction:.0f} by a hash of "
        f"each {by} and seed {seed} (streamed: not stratified, counts not known in advance)."
    )
    return train, validation, description


def attach_transforms(
    splits: RagaSplits,
    data_args: DataTrainingArguments,
    training_args: SamAudioTrainingArguments,
    sampling_rate: int,
) -> None:
    """Decode, crop and (for training) augment the clips as they are read, in memory or from a stream."""
    augmentation = AugmentationConfig(
        gain_db=data_args.gain_db,
        pitch_shift_probability=data_args.pitch_shift_probability,
        pitch_shift_semitones=data_args.pitch_shift_semitones,
        noise_probability=data_args.noise_probability,
        noise_snr_db=tuple(data_args.noise_snr_db),
    )
    common = {
        "audio_column": data_args.audio_column_name,
        "label_column": data_args.label_column_name,
        "label2id": {label: index for index, label in enumerate(splits.labels)},
        "sampling_rate": sampling_rate,
    }
    train_transform = RagaAudioTransform(
        **common, max_length_seconds=data_args.max_length_seconds, augmentation=augmentation
    )
    eval_transform = RagaAudioTransform(**common, max_length_seconds=data_args.max_eval_length_seconds)
    audio_feature = datasets.Audio(sampling_rate=sampling_rate, decode=False)

    def prepare(dataset, transform):
        dataset = dataset.cast_column(data_args.audio_column_name, audio_feature)
        if data_args.streaming:
            # Evaluation streams are read on the main process and their batches sent out by accelerate, so every
            # process scores the same clips.
            return streaming_evaluation_set(dataset, transform)
        dataset.set_transform(transform)
        return dataset

    if data_args.streaming:
        # Each process decodes its own part of the training stream.
        splits.train = streaming_training_set(
            splits.train.cast_column(data_args.audio_column_name, audio_feature),
            train_transform,
            seed=training_args.seed,
            shuffle_buffer_size=data_args.shuffle_buffer_size,
            rank=training_args.process_index,
            world_size=training_args.world_size,
        )
    else:
        splits.train = prepare(splits.train, train_transform)
    splits.validation = prepare(splits.validation, eval_transform)
    if splits.test is not None:
        splits.test = prepare(splits.test, eval_transform)


def build_model(
    model_args: ModelArguments,
    lora_args: LoraArguments,
    training_args: SamAudioTrainingArguments,
    labels: list[str],
) -> SamAudioForAudioClassification:
    """A new classifier, or one from `model_name_or_path` with a head for `labels`; wrapped with LoRA if asked."""
    label_maps = {
        "num_labels": len(labels),
        "label2id": {label: index for index, label in enumerate(labels)},
        "id2label": dict(enumerate(labels)),
    }
    if model_args.model_name_or_path:
        saved = check_checkpoint_shapes(
            model_args.model_name_or_path, model_args.config_overrides(), model_args.trust_remote_code
        )
        model = SamAudioForAudioClassification.from_pretrained(
            model_args.model_name_or_path,
            **label_maps,
            **model_args.config_overrides(),
            ignore_mismatched_sizes=True,
            trust_remote_code=model_args.trust_remote_code,
        )
        if [saved.id2label[index] for index in range(saved.num_labels)] != labels:
            # The rows of heads of the same size belong to other ragas (or to these in another order): start anew.
            model.reset_label_heads()
    else:
        model = SamAudioForAudioClassification(SamAudioConfig(**model_args.config_overrides(), **label_maps))
    if not lora_args.use_lora:
        return model
    if not model_args.model_name_or_path and training_args.should_save:
        # A new model's random base is part of the result: the adapter means nothing without it.
        model.save_pretrained(Path(training_args.output_dir) / "adapter" / "base_model")
    return apply_lora(
        model,
        r=lora_args.lora_r,
        lora_alpha=lora_args.lora_alpha,
        lora_dropout=lora_args.lora_dropout,
        target_modules=lora_args.lora_target_modules,
        include_conv_layers=lora_args.lora_include_conv_layers,
    )


def write_output_folder(
    trainer: SamAudioTrainer,
    feature_extractor: SamAudioFeatureExtractor,
    splits: RagaSplits,
    metrics: dict[str, float],
    test_metrics: dict[str, float] | None,
    model_args: ModelArguments,
    data_args: DataTrainingArguments,
    lora_args: LoraArguments,
) -> None:
    """Write the model folder once: weights, feature extractor and code, the long-audio pipeline, the confusion
    matrix and the model card. With LoRA the root holds the merged model and `adapter/` the adapter."""
    training_args = trainer.args
    output_dir = Path(training_args.output_dir)
    # Collective calls first (every process takes part); then the main process writes the folder.
    predictions = trainer.predict(splits.validation)
    if not lora_args.use_lora:
        trainer.save_model()
    if not trainer.is_world_process_zero():
        return
    if lora_args.use_lora:
        model = trainer.accelerator.unwrap_model(trainer.model)
        model.save_pretrained(output_dir / "adapter")
        save_pretrained_with_pipeline(model.merge_and_unload(), feature_extractor, output_dir)
    else:
        # `pipeline("audio-classification", ...)` on the folder then classifies recordings of any length.
        add_pipeline_to_folder(output_dir)
    logits = predictions.predictions[0] if isinstance(predictions.predictions, tuple) else predictions.predictions
    save_confusion_matrix(
        logits,
        predictions.label_ids,
        splits.labels,
        output_dir / "confusion_matrix.png",
        log_to_wandb="wandb" in (training_args.report_to or []),
    )
    write_model_card(
        output_dir,
        labels=splits.labels,
        metrics={key.removeprefix("eval_"): value for key, value in metrics.items() if "runtime" not in key},
        test_metrics=None
        if test_metrics is None
        else {key.removeprefix("test_"): value for key, value in test_metrics.items() if "runtime" not in key},
        split_description=splits.description,
        dataset_name=data_args.dataset_name,
        hyperparameters={
            **model_args.config_overrides(),
            "segment_logit_weight": trainer.model.config.segment_logit_weight,  # fitted unless given
            "mask_weight": training_args.mask_weight,
            "contrastive_weight": training_args.contrastive_weight,
            "learning_rate": training_args.learning_rate,
            "per_device_train_batch_size": training_args.per_device_train_batch_size,
            "num_train_epochs": training_args.num_train_epochs,
            "seed": training_args.seed,
            "use_lora": lora_args.use_lora,
        },
        hub_model_id=training_args.hub_model_id,
    )
    test_line = (
        ""
        if test_metrics is None
        else f"Test accuracy {test_metrics['test_accuracy']:.4f}, macro-F1 {test_metrics['test_macro_f1']:.4f}. "
    )
    logger.info(
        f"Validation accuracy {metrics['eval_accuracy']:.4f}, macro-F1 {metrics['eval_macro_f1']:.4f} (the split "
        f"that picked the checkpoint). {test_line}Model saved in {output_dir.resolve()}"
    )


def cli(argv: list[str] | None = None) -> int:
    """Run `main`, turning a bad configuration or dataset into one line on stderr and exit code 1."""
    return run_cli(main, argv)


if __name__ == "__main__":
    raise SystemExit(cli())
