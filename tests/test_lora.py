"""LoRA matrix in the style of peft's custom-model tests: each case x each model class."""

import re

import pytest
import torch
from peft import PeftModel
from torch import nn

from modeling_sam_audio import SamAudioForAudioClassification, SamAudioForPreTraining
from sam_audio_raga.lora import apply_lora, layer_norm_names, lora_target_pattern
from testing_utils import SamAudioModelTester


TEST_CASES = [
    ("attention", {"target_modules": ("q_proj", "v_proj"), "include_conv_layers": False}),
    ("linear_layers", {"include_conv_layers": False}),
    ("linear_and_conv_layers", {}),
    ("rank_2_dropout", {"r": 2, "lora_dropout": 0.1}),
]
MODEL_CLASSES = (SamAudioForAudioClassification, SamAudioForPreTraining)


def make_inputs(model_class):
    tester = SamAudioModelTester()
    config, input_values, attention_mask, labels = tester.prepare_config_and_inputs()
    inputs = {"input_values": input_values, "attention_mask": attention_mask}
    if model_class is SamAudioForAudioClassification:
        inputs["labels"] = labels
    return config, inputs


def output_of(outputs):
    return outputs.logits if hasattr(outputs, "logits") else outputs.segment_states


def train_a_few_steps(model, inputs) -> set[str]:
    """Three SGD steps on every loss term; the names of the state-dict entries that changed."""
    before = {key: value.clone() for key, value in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model.train()
    for _ in range(3):
        outputs = model(**inputs)
        loss = sum(t for t in (outputs.loss, outputs.masked_segment_loss, outputs.contrastive_loss) if t is not None)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return {key for key, value in model.state_dict().items() if not torch.equal(value, before[key])}


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
@pytest.mark.parametrize("name, lora_kwargs", TEST_CASES)
def test_only_adapters_and_saved_modules_train(name, lora_kwargs, model_class):
    torch.manual_seed(0)
    config, inputs = make_inputs(model_class)
    model = apply_lora(model_class(config), **lora_kwargs)
    changed = train_a_few_steps(model, inputs)
    assert changed, "nothing trained"
    for key in changed:
        assert "lora_" in key or "modules_to_save" in key, f"{key} changed but is neither an adapter nor saved"
    if model_class is SamAudioForAudioClassification:
        assert any("classifier.modules_to_save" in key for key in changed)
    conv_adapters_trained = any("conv_layers" in key and "lora_" in key for key in changed)
    assert conv_adapters_trained == lora_kwargs.get("include_conv_layers", True)


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_adapter_reload_and_merge_reproduce_outputs(model_class, tmp_path):
    torch.manual_seed(0)
    config, inputs = make_inputs(model_class)
    inputs.pop("labels", None)
    base = model_class(config)
    base.save_pretrained(tmp_path / "base")
    model = apply_lora(base, include_conv_layers=True)
    # Move the adapters away from their zero initialisation so that they matter.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.1)
    model.eval()
    with torch.no_grad():
        expected = output_of(model(**inputs))
    model.save_pretrained(tmp_path / "adapter")

    reloaded = PeftModel.from_pretrained(model_class.from_pretrained(tmp_path / "base"), tmp_path / "adapter").eval()
    merged = reloaded.merge_and_unload().eval()
    assert type(merged) is model_class
    with torch.no_grad():
        assert (output_of(reloaded(**inputs)) - expected).abs().max() <= 1e-5
        assert (output_of(merged(**inputs)) - expected).abs().max() <= 1e-5


def test_target_pattern_matches_intended_modules():
    config, _ = make_inputs(SamAudioForAudioClassification)
    model = SamAudioForAudioClassification(config)
    pattern = lora_target_pattern(include_conv_layers=True)
    matched = {name for name, _ in model.named_modules() if re.fullmatch(pattern, name)}
    assert "sam_audio.segment_decoder.layers.0.cross_attn.q_proj" in matched
    assert "sam_audio.segment_decoder.layers.1.feed_forward.fc2" in matched
    assert "sam_audio.feature_encoder.conv_layers.0.conv" in matched
    assert "sam_audio.feature_projection.projection" in matched
    assert "contrastive_head.projection" not in matched
    assert "sam_audio.pos_conv_embed.conv" not in matched
    assert "classifier" not in matched


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_layer_norms_and_classifier_train_and_other_base_weights_stay_frozen(model_class):
    torch.manual_seed(0)
    config, inputs = make_inputs(model_class)
    base = model_class(config)
    layer_norms = layer_norm_names(base)
    model = apply_lora(base)
    assert model.peft_config["default"].task_type is None
    for name, parameter in model.named_parameters():
        assert parameter.requires_grad == ("lora_" in name or ".modules_to_save." in name), name
    changed = train_a_few_steps(model, inputs)
    trained_heads = [*layer_norms, "classifier"] if model_class is SamAudioForAudioClassification else layer_norms
    assert len(layer_norms) >= 8
    for module in trained_heads:
        for kind in ("weight", "bias"):
            assert f"base_model.model.{module}.modules_to_save.default.{kind}" in changed, f"{module} did not train"
    frozen = {key for key in model.state_dict() if "lora_" not in key and ".modules_to_save." not in key}
    assert frozen and not frozen & changed, sorted(frozen & changed)


def test_default_targets_adapt_every_linear_layer_of_the_projection_and_segment_layers():
    config, _ = make_inputs(SamAudioForAudioClassification)
    model = SamAudioForAudioClassification(config)
    pattern = lora_target_pattern()
    linear = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
        and name.startswith(("sam_audio.feature_projection.", "sam_audio.segment_decoder."))
    ]
    assert len(linear) == 1 + 2 * config.num_segment_layers * 4 + 2 * config.num_segment_layers
    assert [name for name in linear if not re.fullmatch(pattern, name)] == []


def test_invalid_lora_arguments_raise():
    config, _ = make_inputs(SamAudioForAudioClassification)
    with pytest.raises(ValueError, match="rank"):
        apply_lora(SamAudioForAudioClassification(config), r=0)
    with pytest.raises(ValueError, match="target"):
        lora_target_pattern(target_modules=(), include_conv_layers=False)
