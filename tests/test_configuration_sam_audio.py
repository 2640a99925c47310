import pytest
from transformers import AutoConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

from configuration_sam_audio import DEFAULT_CONV_LAYERS, SamAudioConfig


INVALID_VALUES = [
    ("frontend", "mfcc"),
    ("hidden_size", 0),
    ("num_attention_heads", -1),
    ("num_segment_tokens", 0),
    ("num_segment_layers", 1.5),
    ("pretraining_target", "hubert"),
    ("mask_time_prob", 1.5),
    ("mask_time_prob", -0.1),
    ("hidden_dropout", 2.0),
    ("attention_dropout", -0.5),
    ("final_dropout", "0.1"),
    ("label_smoothing", 1.1),
    ("contrastive_temperature", 0.0),
    ("tonic_temperature", -1.0),
    ("mask_time_length", 0),
    ("mask_time_min_masks", -1),
    ("spectrogram_chunk_frames", -1),
    ("num_conv_pos_embeddings", 16),
    ("min_frequency", 0.0),
    ("layer_norm_eps", 0.0),
    ("n_fft", 0),
    ("hop_length", -512),
    ("contrastive_proj_size", 0),
    ("conv_stride", (2, 0)),
    ("segment_logit_weight", -0.5),
    ("segment_logit_weight", float("inf")),
]


@pytest.mark.parametrize("name, value", INVALID_VALUES)
def test_invalid_values_raise_naming_the_field(name, value):
    with pytest.raises(ValueError, match=name):
        SamAudioConfig(**{name: value})


def test_heads_must_divide_hidden_size():
    with pytest.raises(ValueError, match="num_attention_heads"):
        SamAudioConfig(hidden_size=130, num_attention_heads=4, num_conv_pos_embedding_groups=2)


def test_conv_lists_must_have_equal_lengths():
    with pytest.raises(ValueError, match="conv_kernel"):
        SamAudioConfig(conv_dim=(8, 8), conv_kernel=(3,), conv_stride=(2, 2))


def test_log_frequency_range_must_stay_below_nyquist():
    with pytest.raises(ValueError, match="num_octaves"):
        SamAudioConfig(min_frequency=1000.0, num_octaves=4)


@pytest.mark.parametrize("frontend", sorted(DEFAULT_CONV_LAYERS))
def test_conv_defaults_follow_the_frontend(frontend):
    config = SamAudioConfig(frontend=frontend)
    assert config.conv_dim == list(DEFAULT_CONV_LAYERS[frontend]["conv_dim"])
    assert config.inputs_to_logits_ratio > 1


def test_save_load_round_trip(tmp_path):
    config = SamAudioConfig(hidden_size=64, num_labels=3, id2label={0: "Todi", 1: "Varali", 2: "Kalyani"})
    config.save_pretrained(tmp_path)
    reloaded = SamAudioConfig.from_pretrained(tmp_path)
    assert reloaded.to_dict() == config.to_dict()
    assert reloaded.id2label[1] == "Varali"
    assert reloaded.auto_map["AutoModelForAudioClassification"] == "modeling_sam_audio.SamAudioForAudioClassification"


def test_model_type_is_free_and_registers():
    assert SamAudioConfig.model_type not in CONFIG_MAPPING_NAMES
    AutoConfig.register(SamAudioConfig.model_type, SamAudioConfig, exist_ok=True)
    assert isinstance(AutoConfig.for_model(SamAudioConfig.model_type), SamAudioConfig)
