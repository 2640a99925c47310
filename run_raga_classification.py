#!/usr/bin/env python
"""Train, evaluate and publish a SAM-Audio raga classifier.

    python run_raga_classification.py --config config.yaml [--batch-size 16 --epochs 100 --lr 0.001 --seed 42]
    accelerate launch run_raga_classification.py --config config.yaml
    python run_raga_classification.py --config config.yaml --dataset_name DIR --streaming true --max_steps 20000

Every option is a field of the argument dataclasses below (or of `TrainingArguments`); `config.yaml` sets them for a
run, and flags on the command line override the YAML.
"""

import json
import logging
import netrc
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import torch
import transformers
import yaml
from accelerate.data_loader import prepare_data_loader
from huggingface_hub import upload_folder
from torch.utils.data import DataLoader
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed
from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from configuration_sam_audio import SamAudioConfig
from data_sam_audio import (
    AugmentationConfig,
    DatasetUnavailableError,
    RagaAudioTransform,
    SamAudioDataCollator,
    check_columns,
    declared_label_names,
    hash_split,
    label_names_of,
    load_raga_dataset,
    stratified_group_split,
    streaming_evaluation_set,
    streaming_training_set,
)
from evaluation_sam_audio import build_compute_metrics, save_confusion_matrix
from feature_extraction_sam_audio import SamAudioFeatureExtractor
from hub_sam_audio import HUB_IGNORE_PATTERNS, hub_unreachable_reason, write_model_card
from lora_sam_audio import DEFAULT_LORA_TARGETS, apply_lora
from modeling_sam_audio import SamAudioForAudioClassification
from pipeline_sam_audio import save_pretrained_with_pipeline


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
    tonic_estimation: str | None = field(
        default=None, metadata={"help": "Tonic evidence: 'drone_and_melody' or 'drone'."}
    )
    drone_intervals: list[int] | None = field(
        default=None, metadata={"help": "Semitones above Sa that the drone sounds (default 0 7: Sa, Pa)."}
    )
    learn_tonic_templates: bool | None = field(
        default=None, metadata={"help": "Train the tonic templates (false: keep them as initialised)."}
    )
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

    use_lora: bool = field(
        default=False, metadata={"help": "Train LoRA adapters, the layer norms and the classifier only."}
    )
    lora_r: int = field(default=8, metadata={"help": "Rank of the adapters."})
    lora_alpha: int = field(default=16, metadata={"help": "Scale of the adapters (alpha / r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the adapter input."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: list(DEFAULT_LORA_TARGETS), metadata={"help": "Module names to adapt."}
    )
    lora_include_conv_layers: bool = field(default=False, metadata={"help": "Also adapt the conv feature encoder."})


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
    hub_strategy: str = field(
        default="end", metadata={"help": "Push once, at the end, the folder `main()` writes (see `push_to_hub`)."}
    )

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._term_sums = {name: torch.zeros(()) for name in self.loss_terms}
        self._term_counts = dict.fromkeys(self.loss_terms, 0)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        weights = {
            "classification_loss": 1.0,
            "masked_segment_loss": self.args.mask_weight,
            "contrastive_loss": self.args.contrastive_weight,
        }
        loss = None
        for name, weight in weights.items():
            term = getattr(outputs, name)
            if term is None:
                continue
            loss = weight * term if loss is None else loss + weight * term
            if model.training:
                self._term_sums[name] = self._term_sums[name] + term.detach().float().cpu()
                self._term_counts[name] += 1
        if loss is None:
            raise ValueError("The model returned no loss: training needs `labels` in every batch.")
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
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, LoraArguments, SamAudioTrainingArguments))
    yaml_args: list[str] = []
    if "--config" in argv:
        position = argv.index("--config")
        if position + 1 >= len(argv):
            raise SystemExit("error: --config needs a path to a .yaml file")
        path = Path(argv[position + 1])
        argv = argv[:position] + argv[position + 2 :]
        yaml_args = yaml_to_arguments(path)
    elif len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        yaml_args, argv = yaml_to_arguments(Path(argv[0])), []
    # The YAML becomes leading flags, so argparse type-checks it and later (command-line) flags win.
    try:
        return parser.parse_args_into_dataclasses(args=yaml_args + argv)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None


def yaml_to_arguments(path: Path) -> list[str]:
    """Turn a YAML mapping into `--key value` flags (lists become several values, null values are skipped)."""
    if not path.is_file():
        raise SystemExit(f"error: config file {str(path)!r} does not exist")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise SystemExit(f"error: {path} is not valid YAML: {error}") from None
    if not isinstance(content, dict):
        raise SystemExit(f"error: {path} must hold a mapping of option: value, not a {type(content).__name__}")
    arguments = []
    for key, value in content.items():
        if value is None:
            continue
        arguments.append(f"--{key}")
        values = value if isinstance(value, list) else [value]
        arguments.extend(str(item).lower() if isinstance(item, bool) else str(item) for item in values)
    return arguments


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest `checkpoint-N` folder whose save finished (the Trainer writes `trainer_state.json` last), so a
    save cut short by a crash is passed over instead of breaking the resume."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    candidates = [path for path in folder.glob("checkpoint-*") if path.name.split("-")[-1].isdigit()]
    for path in sorted(candidates, key=lambda path: int(path.name.split("-")[-1]), reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning(f"Skipping {path}: its save did not finish (no readable trainer_state.json).")
            continue
        return str(path)
    return None


def setup_wandb(training_args: SamAudioTrainingArguments) -> None:
    """Run W&B offline, with no prompt, when it is requested without an API key (and `WANDB_MODE` is unset)."""
    if "wandb" not in (training_args.report_to or []) or os.environ.get("WANDB_MODE"):
        return
    has_key = bool(os.environ.get("WANDB_API_KEY"))
    if not has_key:
        try:
            has_key = netrc.netrc().authenticators("api.wandb.ai") is not None
        except (FileNotFoundError, netrc.NetrcParseError):
            has_key = False
    if not has_key:
        os.environ["WANDB_MODE"] = "offline"
        logger.warning(
            "W&B: no API key found, so metrics are logged offline under ./wandb; upload them later with `wandb sync`."
        )


def main(argv: list[str] | None = None) -> dict[str, float]:
    model_args, data_args, lora_args, training_args = parse_arguments(sys.argv[1:] if argv is None else argv)

    setup_logging(training_args)
    logger.info(f"Training parameters {training_args}")
    logger.info(
        f"World size {training_args.world_size} (process {training_args.process_index} on {training_args.device})"
    )
    set_seed(training_args.seed)
    if not torch.cuda.is_available():
        training_args.dataloader_pin_memory = False
    if data_args.streaming:
        if training_args.max_steps <= 0:
            raise ValueError(
                "A streamed dataset has no length to count epochs by: give the run's length with --max_steps N."
            )
        # Nor has it epochs to evaluate, save or log at: those happen once, at the last step.
        for kind, strategy in (("eval", IntervalStrategy), ("save", SaveStrategy), ("logging", IntervalStrategy)):
            if getattr(training_args, f"{kind}_strategy") == "epoch":
                setattr(training_args, f"{kind}_strategy", strategy.STEPS)
                setattr(training_args, f"{kind}_steps", training_args.max_steps)

    # Data: load, split (before any augmentation), label maps.
    from synthetic_ragas import SyntheticRagaConfig

    synthetic_config = SyntheticRagaConfig(
        recordings_per_raga=data_args.synthetic_recordings_per_raga,
        clips_per_recording=data_args.synthetic_clips_per_recording,
        clip_seconds=data_args.synthetic_clip_seconds,
        seed=data_args.synthetic_seed,
        variant=data_args.synthetic_variant,
    )
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
    train_split = raw[data_args.train_split_name]
    eval_split_name = data_args.eval_split_name
    if eval_split_name not in raw or eval_split_name == data_args.train_split_name:
        eval_split_name = None
    # A `test` split that neither trains nor validates is scored once at the end: it never picks the checkpoint.
    test_split_name = "test" if "test" in raw and "test" not in (data_args.train_split_name, eval_split_name) else None
    columns = {
        "audio_column_name": data_args.audio_column_name,
        "label_column_name": data_args.label_column_name,
        "group_column_name": data_args.group_column_name,
    }
    check_columns(train_split, columns)
    feature_extractor = (
        SamAudioFeatureExtractor.from_pretrained(model_args.model_name_or_path)
        if model_args.model_name_or_path
        else SamAudioFeatureExtractor()
    )
    audio_feature = datasets.Audio(sampling_rate=feature_extractor.sampling_rate, decode=False)
    if data_args.streaming:
        # Nothing here reads the stream: the ragas come from the features, the split from a hash of each row.
        labels = declared_label_names(train_split, data_args.label_column_name, data_args.raga_names, required=True)
        train_split = train_split.cast_column(data_args.audio_column_name, audio_feature)
        test_dataset = None if test_split_name is None else raw[test_split_name]
        for split_name in (eval_split_name, test_split_name):
            if split_name is not None:
                check_columns(raw[split_name], columns)
        if eval_split_name is not None:
            train_dataset, eval_dataset = train_split, raw[eval_split_name]
            split_description = f"the dataset's own `{eval_split_name}` split."
        else:
            train_dataset, eval_dataset = hash_split(
                train_split,
                data_args.validation_fraction,
                training_args.seed,
                group_column=data_args.group_column_name,
                audio_column=data_args.audio_column_name,
            )
            by = f"recording (`{data_args.group_column_name}`)" if data_args.group_column_name else "clip"
            split_description = (
                f"{100 * (1 - data_args.validation_fraction):.0f}/{100 * data_args.validation_fraction:.0f} by a hash "
                f"of each {by} and seed {training_args.seed} (streamed: not stratified, counts not known in advance)."
            )
        if data_args.max_train_samples is not None:
            train_dataset = train_dataset.take(data_args.max_train_samples)
        if data_args.max_eval_samples is not None:
            eval_dataset = eval_dataset.take(data_args.max_eval_samples)
    else:
        if eval_split_name is not None:
            train_dataset, eval_dataset = train_split, raw[eval_split_name]
            check_columns(eval_dataset, columns)
            split_description = f"the dataset's own `{eval_split_name}` split."
        else:
            groups = train_split[data_args.group_column_name] if data_args.group_column_name else None
            train_indices, eval_indices = stratified_group_split(
                train_split[data_args.label_column_name], groups, data_args.validation_fraction, training_args.seed
            )
            train_dataset, eval_dataset = train_split.select(train_indices), train_split.select(eval_indices)
            by = f"by `{data_args.group_column_name}` (no group on both sides)" if groups else "clip by clip"
            split_description = (
                f"{100 * (1 - data_args.validation_fraction):.0f}/{100 * data_args.validation_fraction:.0f} "
                f"stratified by raga, {by}, seed {training_args.seed}: {len(train_indices)} training and "
                f"{len(eval_indices)} validation clips."
            )
        if data_args.max_train_samples is not None:
            train_dataset = train_dataset.shuffle(seed=training_args.seed).select(
                range(min(data_args.max_train_samples, len(train_dataset)))
            )
        if data_args.max_eval_samples is not None:
            eval_dataset = eval_dataset.select(range(min(data_args.max_eval_samples, len(eval_dataset))))
        if len(train_dataset) == 0 or len(eval_dataset) == 0:
            raise ValueError(
                f"The split left {len(train_dataset)} training and {len(eval_dataset)} validation clips; both need "
                "at least one (use more data or another `validation_fraction`)."
            )
        test_dataset = None if test_split_name is None else raw[test_split_name]
        if test_dataset is not None:
            check_columns(test_dataset, columns)
        labels = declared_label_names(train_split, data_args.label_column_name, data_args.raga_names)
        labels = labels or label_names_of(train_split, data_args.label_column_name)
        known = set(labels)
        trained_labels = set(label_names_of(train_dataset, data_args.label_column_name))
        for name, dataset in (("Training", train_dataset), ("Validation", eval_dataset), ("Test", test_dataset)):
            present = set(label_names_of(dataset, data_args.label_column_name)) if dataset else set()
            if name != "Training" and present - trained_labels:
                raise ValueError(
                    f"{name} has ragas with no training clip: {sorted(present - trained_labels)}. Add clips of them "
                    "or drop them."
                )
            if present - known:
                raise ValueError(f"{name} has ragas missing from `raga_names`: {sorted(present - known)}.")
    if len(labels) < 2:
        raise ValueError(f"The dataset has {len(labels)} raga(s) ({labels}); classification needs at least two.")
    label2id = {label: index for index, label in enumerate(labels)}
    logger.info(f"Split: {split_description} Ragas: {labels}")

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
        "label2id": label2id,
        "sampling_rate": feature_extractor.sampling_rate,
    }
    train_transform = RagaAudioTransform(
        **common, max_length_seconds=data_args.max_length_seconds, augmentation=augmentation
    )
    eval_transform = RagaAudioTransform(**common, max_length_seconds=data_args.max_eval_length_seconds)
    if data_args.streaming:
        # Each process decodes its own part of the training stream; evaluation streams are read on the main process
        # and their batches sent out by accelerate, so every process scores the same clips.
        train_dataset = streaming_training_set(
            train_dataset,
            train_transform,
            seed=training_args.seed,
            shuffle_buffer_size=data_args.shuffle_buffer_size,
            rank=training_args.process_index,
            world_size=training_args.world_size,
        )
        eval_dataset = streaming_evaluation_set(
            eval_dataset.cast_column(data_args.audio_column_name, audio_feature), eval_transform
        )
        if test_dataset is not None:
            test_dataset = streaming_evaluation_set(
                test_dataset.cast_column(data_args.audio_column_name, audio_feature), eval_transform
            )
    else:
        train_dataset = train_dataset.cast_column(data_args.audio_column_name, audio_feature)
        eval_dataset = eval_dataset.cast_column(data_args.audio_column_name, audio_feature)
        train_dataset.set_transform(train_transform)
        eval_dataset.set_transform(eval_transform)
        if test_dataset is not None:
            test_dataset = test_dataset.cast_column(data_args.audio_column_name, audio_feature)
            test_dataset.set_transform(eval_transform)

    # Model, optionally wrapped with LoRA.
    label_maps = {"num_labels": len(labels), "label2id": label2id, "id2label": dict(enumerate(labels))}
    if model_args.model_name_or_path:
        check_checkpoint_shapes(model_args)
        model = SamAudioForAudioClassification.from_pretrained(
            model_args.model_name_or_path,
            **label_maps,
            **model_args.config_overrides(),
            ignore_mismatched_sizes=True,
            trust_remote_code=model_args.trust_remote_code,
        )
    else:
        model = SamAudioForAudioClassification(SamAudioConfig(**model_args.config_overrides(), **label_maps))
    if lora_args.use_lora:
        if not model_args.model_name_or_path and training_args.should_save:
            # A new model's random base is part of the result: the adapter means nothing without it.
            model.save_pretrained(Path(training_args.output_dir) / "adapter" / "base_model")
        model = apply_lora(
            model,
            r=lora_args.lora_r,
            lora_alpha=lora_args.lora_alpha,
            lora_dropout=lora_args.lora_dropout,
            target_modules=lora_args.lora_target_modules,
            include_conv_layers=lora_args.lora_include_conv_layers,
        )

    compute_metrics = build_compute_metrics(labels)

    push_only_if_the_hub_answers(training_args)
    # One upload, of the finished folder, at the end: with the flag on, `Trainer.save_model` would push as well.
    push_at_the_end, training_args.push_to_hub = training_args.push_to_hub, False
    setup_wandb(training_args)

    trainer = SamAudioTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=SamAudioDataCollator(feature_extractor),
        processing_class=feature_extractor,
        compute_metrics=compute_metrics,
    )

    train_result = trainer.train(resume_from_checkpoint=checkpoint_to_resume(training_args))
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()

    metrics = trainer.evaluate()
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)
    test_metrics = None
    if test_dataset is not None:
        test_metrics = trainer.evaluate(test_dataset, metric_key_prefix="test")
        trainer.log_metrics("test", test_metrics)
        trainer.save_metrics("test", test_metrics)

    # Collective calls first (every process takes part); then the main process writes the folder.
    predictions = trainer.predict(eval_dataset)
    output_dir = Path(training_args.output_dir)
    if not lora_args.use_lora:
        trainer.save_model()
    if trainer.is_world_process_zero():
        model = trainer.accelerator.unwrap_model(trainer.model)
        if lora_args.use_lora:
            # The adapter goes to its own folder (with the base it applies to); the root holds the merged model.
            model.save_pretrained(output_dir / "adapter")
            model = model.merge_and_unload()
        # The folder also gets the long-audio pipeline, so `pipeline("audio-classification", ...)` classifies
        # recordings of any length.
        save_pretrained_with_pipeline(model, feature_extractor, output_dir)
        logits = predictions.predictions[0] if isinstance(predictions.predictions, tuple) else predictions.predictions
        save_confusion_matrix(
            logits,
            predictions.label_ids,
            labels,
            output_dir / "confusion_matrix.png",
            log_to_wandb="wandb" in (training_args.report_to or []),
        )
        write_model_card(
            output_dir,
            labels=labels,
            metrics={key.removeprefix("eval_"): value for key, value in metrics.items() if "runtime" not in key},
            test_metrics=None
            if test_metrics is None
            else {key.removeprefix("test_"): value for key, value in test_metrics.items() if "runtime" not in key},
            split_description=split_description,
            dataset_name=data_args.dataset_name,
            hyperparameters={
                **model_args.config_overrides(),
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

    if push_at_the_end:
        try:
            trainer.push_to_hub()
        except Exception as error:  # the local output is complete; a failed upload is reported, not raised
            logger.error(f"Push to the Hub failed ({type(error).__name__}: {str(error).splitlines()[0]}).")
    return metrics


# Config keys that set the shape of pretrained weights: a checkpoint cannot take other values for them.
SHAPE_KEYS = (
    "frontend",
    "hidden_size",
    "intermediate_size",
    "num_attention_heads",
    "num_segment_tokens",
    "num_segment_layers",
    "conv_dim",
    "conv_kernel",
    "conv_stride",
    "n_fft",
    "bins_per_semitone",
    "num_octaves",
    "num_mel_bins",
    "contrastive_proj_size",
)


def setup_logging(training_args: TrainingArguments, script_logger: logging.Logger = logger) -> None:
    """Log to stdout: info on the main process, the process log level of `training_args` elsewhere."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    if training_args.should_log:
        # `log_level` defaults to "passive"; as in transformers' example scripts, that means info on the main process.
        transformers.utils.logging.set_verbosity_info()
    log_level = training_args.get_process_log_level()
    script_logger.setLevel(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    for module in ("data_sam_audio", "lora_sam_audio", "synthetic_ragas", "feature_extraction_sam_audio"):
        transformers.utils.logging.get_logger(module).setLevel(log_level)


def push_only_if_the_hub_answers(training_args: TrainingArguments) -> None:
    """Turn `push_to_hub` off, with one line saying how to publish later, when the Hub does not answer."""
    if not training_args.push_to_hub:
        return
    reason = hub_unreachable_reason()
    if reason is not None:
        logger.error(
            f"Not pushing to the Hub: {reason}. The model is saved in {training_args.output_dir}; publish it "
            f"later with `hf upload {training_args.hub_model_id or '<user>/<repo>'} {training_args.output_dir}`."
        )
        training_args.push_to_hub = False


def checkpoint_to_resume(training_args: TrainingArguments, script_logger: logging.Logger = logger) -> str | None:
    """`resume_from_checkpoint`, or else the last complete checkpoint in the output folder (a rerun resumes)."""
    if training_args.resume_from_checkpoint is not None:
        return training_args.resume_from_checkpoint
    checkpoint = last_complete_checkpoint(training_args.output_dir)
    if checkpoint is not None:
        script_logger.warning(
            f"Resuming from {checkpoint}, the last complete checkpoint in {training_args.output_dir}."
        )
    return checkpoint


def check_checkpoint_shapes(model_args: ModelArguments) -> None:
    """Refuse overrides that would replace pretrained weights with new ones (only the classifier head may change)."""
    saved = SamAudioConfig.from_pretrained(
        model_args.model_name_or_path, trust_remote_code=model_args.trust_remote_code
    ).to_dict()
    overrides = model_args.config_overrides()
    changed = [
        f"{key} {overrides[key]!r} (the checkpoint has {saved[key]!r})"
        for key in SHAPE_KEYS
        if key in overrides and key in saved and _as_list(overrides[key]) != _as_list(saved[key])
    ]
    if changed:
        raise ValueError(
            f"{model_args.model_name_or_path} cannot take " + "; ".join(changed) + ": its weights would be "
            "replaced by new ones. Remove these keys from the config or the command line, or set them to the "
            "checkpoint's values."
        )


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def cli(argv: list[str] | None = None) -> int:
    """Run `main`, turning a bad configuration or dataset into one line on stderr and exit code 1."""
    try:
        main(argv)
    except (ValueError, DatasetUnavailableError) as error:
        logger.debug("Full traceback:", exc_info=True)
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
