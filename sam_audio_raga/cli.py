"""The steps `run_raga_classification.py` and `run_pretraining.py` share: the YAML-plus-flags command line, logging,
the schedule's fit to the machine, W&B, resuming, and one upload to the Hub at the end."""

import json
import logging
import netrc
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers
import yaml
from transformers import HfArgumentParser, Trainer, TrainingArguments
from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from configuration_sam_audio import SamAudioConfig

from .data import DatasetUnavailableError
from .hub import hub_unreachable_reason
from .synthetic import SyntheticRagaConfig


logger = logging.getLogger(__name__)


def parse_config_and_flags(dataclass_types: Sequence[type], argv: list[str]) -> tuple:
    """Parse `--config file.yaml` and the command line into `dataclass_types`; command-line flags override the YAML."""
    parser = HfArgumentParser(dataclass_types)
    yaml_args: list[str] = []
    if "--config" in argv:
        position = argv.index("--config")
        if position + 1 >= len(argv):
            raise SystemExit("error: --config needs a path to a .yaml file")
        yaml_args = yaml_to_arguments(Path(argv[position + 1]))
        argv = argv[:position] + argv[position + 2 :]
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


def setup_wandb(training_args: TrainingArguments) -> None:
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


def setup_logging(training_args: TrainingArguments, script_logger: logging.Logger) -> None:
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
    for name in ("sam_audio_raga", "feature_extraction_sam_audio", "audio_io_sam_audio"):
        transformers.utils.logging.get_logger(name).setLevel(log_level)


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


def adapt_schedule(training_args: TrainingArguments, streaming: bool) -> None:
    """Fit the training arguments to the machine and the data: no pinned memory without CUDA, and for a stream (which
    has no length to count epochs by) a run length in steps, with evaluation, saving and logging at its last step."""
    if not torch.cuda.is_available():
        training_args.dataloader_pin_memory = False
    if not streaming:
        return
    if training_args.max_steps <= 0:
        raise ValueError(
            "A streamed dataset has no length to count epochs by: give the run's length with --max_steps N."
        )
    for kind, strategy in (("eval", IntervalStrategy), ("save", SaveStrategy), ("logging", IntervalStrategy)):
        if getattr(training_args, f"{kind}_strategy") == "epoch":
            setattr(training_args, f"{kind}_strategy", strategy.STEPS)
            setattr(training_args, f"{kind}_steps", training_args.max_steps)


# `checkpoint_kind` of a checkpoint that holds LoRA adapters (a peft folder) rather than a model's weights.
LORA_ADAPTERS = "LoRA adapters"


def checkpoint_kind(checkpoint: str | os.PathLike) -> str | None:
    """What a `checkpoint-N` folder holds: `LORA_ADAPTERS`, the model class of its `config.json`, or `None`."""
    folder = Path(checkpoint)
    if (folder / "adapter_config.json").is_file():
        return LORA_ADAPTERS
    try:
        architectures = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("architectures")
    except (OSError, ValueError):
        return None
    return architectures[0] if architectures else None


def checkpoint_to_resume(
    training_args: TrainingArguments, script_logger: logging.Logger, expected_kind: str
) -> str | None:
    """`resume_from_checkpoint`, or else the last complete checkpoint in the output folder (a rerun resumes).

    `expected_kind` is what this run saves (see `checkpoint_kind`): a checkpoint of another kind, such as a
    pretraining run's in the folder a fine-tuning run writes to, is refused with the way out, not half loaded.
    """
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint is None:
        checkpoint = last_complete_checkpoint(training_args.output_dir)
        if checkpoint is not None:
            script_logger.warning(
                f"Resuming from {checkpoint}, the last complete checkpoint in {training_args.output_dir}."
            )
    kind = None if checkpoint is None else checkpoint_kind(checkpoint)
    if kind is not None and kind != expected_kind:
        hint = " (to fine-tune it, pass that folder as --model_name_or_path)" if kind.endswith("PreTraining") else ""
        raise ValueError(
            f"{checkpoint} holds {kind}, not the {expected_kind} this run trains, so it cannot be resumed{hint}: "
            "give another --output_dir."
        )
    return checkpoint


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


def check_checkpoint_shapes(
    model_name_or_path: str, overrides: dict, trust_remote_code: bool = False
) -> SamAudioConfig:
    """Refuse config overrides that would replace pretrained weights with new ones (only a head may change); return
    the checkpoint's config."""
    config = SamAudioConfig.from_pretrained(model_name_or_path, trust_remote_code=trust_remote_code)
    saved = config.to_dict()
    changed = [
        f"{key} {overrides[key]!r} (the checkpoint has {saved[key]!r})"
        for key in SHAPE_KEYS
        if key in overrides and key in saved and _as_list(overrides[key]) != _as_list(saved[key])
    ]
    if changed:
        raise ValueError(
            f"{model_name_or_path} cannot take " + "; ".join(changed) + ": its weights would be "
            "replaced by new ones. Remove these keys from the config or the command line, or set them to the "
            "checkpoint's values."
        )
    return config


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def synthetic_config_of(data_args: Any) -> SyntheticRagaConfig:
    """The synthetic corpus a run's `synthetic_*` arguments describe (used when `dataset_name` is "synthetic")."""
    return SyntheticRagaConfig(
        recordings_per_raga=data_args.synthetic_recordings_per_raga,
        clips_per_recording=data_args.synthetic_clips_per_recording,
        clip_seconds=data_args.synthetic_clip_seconds,
        seed=data_args.synthetic_seed,
        variant=data_args.synthetic_variant,
    )


def push_to_hub_at_the_end(trainer: Trainer, push: bool, script_logger: logging.Logger) -> None:
    """Upload the finished output folder once; a failed upload is logged, since the local folder is complete."""
    if not push:
        return
    try:
        trainer.push_to_hub()
    except Exception as error:
        script_logger.error(f"Push to the Hub failed ({type(error).__name__}: {str(error).splitlines()[0]}).")


def run_cli(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> int:
    """Run a script's `main`, turning a bad configuration or dataset into one line on stderr and exit code 1."""
    try:
        main(argv)
    except (ValueError, DatasetUnavailableError) as error:
        logger.debug("Full traceback:", exc_info=True)
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


__all__ = [
    "LORA_ADAPTERS",
    "SHAPE_KEYS",
    "adapt_schedule",
    "check_checkpoint_shapes",
    "checkpoint_kind",
    "checkpoint_to_resume",
    "last_complete_checkpoint",
    "parse_config_and_flags",
    "push_only_if_the_hub_answers",
    "push_to_hub_at_the_end",
    "run_cli",
    "setup_logging",
    "setup_wandb",
    "synthetic_config_of",
    "yaml_to_arguments",
]
