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


def lora_target_pattern(
    target_modules: Sequence[str] = DEFAULT_LORA_TARGETS, include_conv_layers: bool = False
) -> str:
    """A regular expression matching the full names of the modules LoRA adapts."""
    if not target_modules and not include_conv_layers:
        raise ValueError("LoRA needs at least one target: pass `target_modules` or `include_conv_layers=True`.")
    alternatives = []
    if target_modules:
        alternatives.append(r"(.*\.)?(" + "|".join(re.escape(name) for name in target_modules) + ")")
    if include_conv_layers:
        alternatives.append(r"(.*\.)?" + CONV_LAYER_PATTERN)
    return "|".join(f"({alternative})" for alternative in alternatives)


def layer_norm_names(model: nn.Module) -> list[str]:
    """Full names of every `nn.LayerNorm` in `model`."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.LayerNorm)]


def apply_lora(
    model: PreTrainedModel,
    r: int = 8,
    lora_alpha: int = 16,
    lora_dropout: float = 0.0,
    target_modules: Sequence[str] = DEFAULT_LORA_TARGETS,
    include_conv_layers: bool = False,
    modules_to_save: Sequence[str] = ("classifier",),
    train_layer_norms: bool = True,
) -> PeftModel:
    """Wrap `model` with LoRA adapters; everything else is frozen except `modules_to_save` and, with
    `train_layer_norms`, every layer norm.

    The layer norms go to `modules_to_save` (trained copies, saved with the adapter and merged by `merge_and_unload`):
    a few thousand parameters that let the adapted model re-centre and re-scale features a pretrained encoder
    normalised for another objective. `task_type` stays unset: PEFT's sequence-classification wrapper passes
    text-model arguments (`input_ids`, `inputs_embeds`) that an audio forward does not take. Names in
    `modules_to_save` that the model lacks (a pre-training model has no `classifier`) are skipped.
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


__all__ = ["DEFAULT_LORA_TARGETS", "apply_lora", "layer_norm_names", "lora_target_pattern"]
