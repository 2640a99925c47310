"""LoRA adapters for SAM-Audio models, through `peft.get_peft_model`."""

import re
from collections.abc import Sequence

from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import logging


logger = logging.get_logger(__name__)

# Every linear layer between the conv features and the segment states: the feature projection, and the attention and
# feed-forward projections of the segment layers (and of the masked segment head, which shares their names).
DEFAULT_LORA_TARGETS = ("feature_projection.projection", "q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
CONV_LAYER_PATTERN = r"feature_encoder\.conv_layers\.\d+\.conv"
# A LoRA run's learning rate, as a multiple of full fine-tuning's: adapters start at zero and train few weights, so
# they want a larger step, but ten times (the usual advice) overshoots here (BENCHMARKS.md, label efficiency).
LORA_LEARNING_RATE_FACTOR = 3.0


def lora_target_pattern(target_modules: Sequence[str] = DEFAULT_LORA_TARGETS, include_conv_layers: bool = True) -> str:
    """A regular expression matching the full names of the modules LoRA adapts."""
    if not target_modules and not include_conv_layers:
        raise ValueError("LoRA needs at least one target: pass `target_modules` or `include_conv_layers=True`.")
    alternatives = []
    if target_modules:
        alternatives.append(r"(.*\.)?(" + "|".join(re.escape(name) for name in target_modules) + ")")
    if include_conv_layers:
        alternatives.append(r"(.*\.)?" + CONV_LAYER_PATTERN)
    return "|".join(f"({alternative})" for alternative in alternatives)


def adapter_learning_rate(full_fine_tuning_rate: float, lora_learning_rate: float | None = None) -> float:
    """The learning rate of a LoRA run: `lora_learning_rate` when given, else `LORA_LEARNING_RATE_FACTOR` times the
    full fine-tuning rate."""
    if lora_learning_rate is None:
        return LORA_LEARNING_RATE_FACTOR * full_fine_tuning_rate
    if not lora_learning_rate > 0:
        raise ValueError(
            f"`lora_learning_rate` must be > 0, got {lora_learning_rate!r}; leave it unset (null) for "
            f"{LORA_LEARNING_RATE_FACTOR:g} x `learning_rate`."
        )
    return lora_learning_rate


def layer_norm_names(model: nn.Module) -> list[str]:
    """Full names of every `nn.LayerNorm` in `model`."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.LayerNorm)]


def apply_lora(
    model: PreTrainedModel,
    r: int = 8,
    lora_alpha: int = 16,
    lora_dropout: float = 0.0,
    target_modules: Sequence[str] = DEFAULT_LORA_TARGETS,
    include_conv_layers: bool = True,
    modules_to_save: Sequence[str] = ("classifier", "pitch_class_head"),
    train_layer_norms: bool = True,
) -> PeftModel:
    """Wrap `model` with LoRA adapters on `target_modules` and, with `include_conv_layers`, the conv feature encoder;
    everything else is frozen except `modules_to_save` and, with `train_layer_norms`, every layer norm.

    The conv layers are adapted by default: they turn the frontend's frames into the features every later layer
    reads, and a model fine-tuned on a new corpus gains most from moving them (BENCHMARKS.md, label efficiency).

    The layer norms go to `modules_to_save` (trained copies, saved with the adapter and merged by `merge_and_unload`):
    a few thousand parameters that let the adapted model re-centre and re-scale features a pretrained encoder
    normalised for another objective. `task_type` stays unset: PEFT's sequence-classification wrapper passes
    text-model arguments (`input_ids`, `inputs_embeds`) that an audio forward does not take. Names in
    `modules_to_save` that the model lacks (a pre-training model has no `classifier`) are skipped. The label heads,
    `classifier` and the pitch-class head, train in full.
    """
    if r <= 0:
        raise ValueError(f"LoRA rank `r` must be a positive integer, got {r!r}.")
    if not 0.0 <= lora_dropout <= 1.0:
        raise ValueError(f"`lora_dropout` is a probability and must lie in [0, 1], got {lora_dropout!r}.")
    module_names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    saved = [name for name in modules_to_save if name in module_names]
    layer_norms = layer_norm_names(model) if train_layer_norms else []
    config = LoraConfig(
        r=r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=lora_target_pattern(target_modules, include_conv_layers),
        # Full names, as PEFT matches `modules_to_save` by name suffix: these select the layer norms and nothing else.
        modules_to_save=[*saved, *layer_norms] or None,
    )
    peft_model = get_peft_model(model, config)
    trainable, total = peft_model.get_nb_trainable_parameters()
    adapted = sum(1 for name, _ in peft_model.named_modules() if name.endswith(".lora_A"))
    logger.info(
        f"LoRA: training {trainable:,} of {total:,} parameters ({100 * trainable / total:.2f}%): adapters on "
        f"{adapted} layers, {len(layer_norms)} layer norms and {', '.join(saved) or 'no head'}."
    )
    return peft_model


__all__ = [
    "DEFAULT_LORA_TARGETS",
    "LORA_LEARNING_RATE_FACTOR",
    "adapter_learning_rate",
    "apply_lora",
    "layer_norm_names",
    "lora_target_pattern",
]
