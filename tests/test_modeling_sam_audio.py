import pytest
import torch

from configuration_sam_audio import SamAudioConfig
from modeling_sam_audio import (
    SamAudioForAudioClassification,
    SamAudioForPreTraining,
    SamAudioModel,
    _compute_mask_indices,
    _filterbank_blocks,
    _log_frequency_filterbank,
    _masked_segment_loss,
    _mel_filterbank,
    _segment_contrastive_loss,
)


FRONTENDS = ("log_frequency", "log_mel", "waveform")


class SamAudioModelTester:
    """Tiny configurations and inputs, in the pattern of transformers' model testers."""

    def __init__(self, frontend: str = "log_frequency", batch_size: int = 3, num_samples: int = 1600):
        self.frontend = frontend
        self.batch_size = batch_size
        self.num_samples = num_samples
        self.num_labels = 4

    def get_config(self, **overrides) -> SamAudioConfig:
        spectral = {"n_fft": 128, "hop_length": 32, "num_mel_bins": 8, "min_frequency": 250.0, "num_octaves": 3}
        conv = (
            {"conv_dim": (8, 8), "conv_kernel": (10, 3), "conv_stride": (5, 2)}
            if self.frontend == "waveform"
            else {"conv_dim": (8, 8), "conv_kernel": (3, 3), "conv_stride": (1, 2)}
        )
        kwargs = {
            "frontend": self.frontend,
            "hidden_size": 16,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "num_segment_tokens": 4,
            "num_segment_layers": 2,
            "num_conv_pos_embeddings": 3,
            "num_conv_pos_embedding_groups": 4,
            "bins_per_semitone": 1,
            "contrastive_proj_size": 8,
            "mask_time_prob": 0.3,
            "mask_time_length": 2,
            "mask_time_min_masks": 1,
            "num_labels": self.num_labels,
            **spectral,
            **conv,
            **overrides,
        }
        return SamAudioConfig(**kwargs)

    def prepare_config_and_inputs(self):
        config = self.get_config()
        input_values = torch.randn(self.batch_size, self.num_samples)
        attention_mask = torch.ones(self.batch_size, self.num_samples, dtype=torch.long)
        attention_mask[-1, self.num_samples // 2 :] = 0
        input_values[-1, self.num_samples // 2 :] = 0.0
        labels = torch.tensor([0, 1, 0])[: self.batch_size]
        return config, input_values, attention_mask, labels

    def prepare_config_and_inputs_for_common(self):
        config, input_values, attention_mask, _ = self.prepare_config_and_inputs()
        return config, {"input_values": input_values, "attention_mask": attention_mask}

    def create_and_check_model(self, config, input_values, attention_mask):
        model = SamAudioModel(config).eval()
        with torch.no_grad():
            outputs = model(input_values, attention_mask=attention_mask)
        num_frames = model._get_feat_extract_output_lengths(self.num_samples)
        assert outputs.last_hidden_state.shape == (self.batch_size, num_frames, config.hidden_size)
        assert outputs.segment_states.shape == (self.batch_size, config.num_segment_tokens, config.hidden_size)
        assert outputs.extract_features.shape == (self.batch_size, num_frames, config.conv_dim[-1])
        assert outputs.masked_segment_loss is None

    def create_and_check_for_audio_classification(self, config, input_values, attention_mask, labels):
        model = SamAudioForAudioClassification(config).eval()
        with torch.no_grad():
            outputs = model(input_values, attention_mask=attention_mask, labels=labels)
        assert outputs.logits.shape == (self.batch_size, config.num_labels)
        assert outputs.loss.shape == ()
        assert torch.equal(outputs.loss, outputs.classification_loss)


ALL_MODEL_CLASSES = (SamAudioModel, SamAudioForAudioClassification, SamAudioForPreTraining)


def _main_output(outputs):
    return outputs.logits if hasattr(outputs, "logits") else outputs.segment_states


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_model_shapes(frontend):
    tester = SamAudioModelTester(frontend)
    config, input_values, attention_mask, labels = tester.prepare_config_and_inputs()
    tester.create_and_check_model(config, input_values, attention_mask)
    tester.create_and_check_for_audio_classification(config, input_values, attention_mask, labels)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_save_load_round_trip(model_class, tmp_path):
    config, inputs = SamAudioModelTester().prepare_config_and_inputs_for_common()
    model = model_class(config).eval()
    model.save_pretrained(tmp_path)
    reloaded = model_class.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        expected = _main_output(model(**inputs))
        actual = _main_output(reloaded(**inputs))
    assert (expected - actual).abs().max() <= 1e-5
    # The non-persistent spectral buffers are rebuilt on load, not left as uninitialised memory.
    frontend = reloaded.base_model.feature_encoder.frontend
    assert torch.allclose(frontend.window, torch.hann_window(config.n_fft))


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_eval_is_deterministic(frontend):
    config, inputs = SamAudioModelTester(frontend).prepare_config_and_inputs_for_common()
    model = SamAudioForAudioClassification(config).eval()
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, model(**inputs).logits)


def test_initialization():
    """With a tiny initializer range, weights average to 0 and norms to 1 (exemptions listed by name)."""
    config = SamAudioModelTester().get_config(initializer_range=1e-10)
    model = SamAudioForAudioClassification(config)
    # Uniform [0, 1) like wav2vec2's mask embedding, Kaiming-initialised conv kernels, the drone-shaped template.
    exempt = ("masked_spec_embed", "feature_encoder.conv_layers", "pos_conv_embed.conv.weight", "tonic_template")
    for name, parameter in model.named_parameters():
        if any(key in name for key in exempt):
            continue
        mean = ((parameter.mean() * 1e9).round() / 1e9).item()
        assert mean in (0.0, 1.0), f"{name} is initialised with mean {mean}"


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_training_step(frontend):
    tester = SamAudioModelTester(frontend)
    config, input_values, attention_mask, labels = tester.prepare_config_and_inputs()
    model = SamAudioForAudioClassification(config).train()
    outputs = model(input_values, attention_mask=attention_mask, labels=labels)
    for name in ("loss", "classification_loss", "masked_segment_loss", "contrastive_loss"):
        assert torch.isfinite(getattr(outputs, name)), name
    (outputs.loss + outputs.masked_segment_loss + outputs.contrastive_loss).backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing}"


def test_auxiliary_losses_only_in_training():
    config, input_values, attention_mask, labels = SamAudioModelTester().prepare_config_and_inputs()
    model = SamAudioForAudioClassification(config).eval()
    with torch.no_grad():
        outputs = model(input_values, attention_mask=attention_mask, labels=labels)
    assert outputs.masked_segment_loss is None and outputs.contrastive_loss is None
    assert torch.isfinite(outputs.loss)


def test_explicit_mask_time_indices_enable_masked_loss_in_eval():
    config, inputs = SamAudioModelTester().prepare_config_and_inputs_for_common()
    model = SamAudioModel(config).eval()
    num_frames = model._get_feat_extract_output_lengths(inputs["input_values"].shape[-1])
    mask = torch.zeros(inputs["input_values"].shape[0], num_frames, dtype=torch.bool)
    mask[:, 1:3] = True
    with torch.no_grad():
        outputs = model(**inputs, mask_time_indices=mask)
    assert torch.isfinite(outputs.masked_segment_loss)
    assert torch.equal(outputs.mask_time_indices, mask & outputs.frame_mask)


def test_masked_loss_only_counts_masked_frames():
    torch.manual_seed(0)
    predictions, targets = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[0, 1:3] = True
    mask[1, 4] = True
    changed = targets.clone()
    changed[~mask] += 100.0  # unmasked frames must not matter
    assert torch.equal(
        _masked_segment_loss(predictions, targets, mask), _masked_segment_loss(predictions, changed, mask)
    )
    expected = (predictions[mask] - targets[mask]).pow(2).mean()
    assert torch.allclose(_masked_segment_loss(predictions, targets, mask), expected)


def test_compute_mask_indices_respects_padding_and_span_length():
    torch.manual_seed(0)
    frame_mask = torch.ones(4, 50, dtype=torch.bool)
    frame_mask[1, 20:] = False
    frame_mask[2, 3:] = False
    mask = _compute_mask_indices(frame_mask, mask_prob=0.5, mask_length=5, min_masks=1)
    assert not (mask & ~frame_mask).any()
    assert mask.any(dim=-1).all()
    # Spans are runs of at least `mask_length` frames unless cut by the end of the clip.
    row = mask[0].int().tolist()
    runs = [len(run) for run in "".join(map(str, row)).split("0") if run]
    assert min(runs) >= 5
    fraction = mask[0].float().mean().item()
    assert 0.2 < fraction <= 0.6


def test_compute_mask_indices_off():
    frame_mask = torch.ones(2, 30, dtype=torch.bool)
    assert not _compute_mask_indices(frame_mask, mask_prob=0.0, mask_length=4, min_masks=0).any()


def test_contrastive_loss_prefers_label_clusters():
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    centres = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    clustered = torch.nn.functional.normalize(centres[labels][:, None, :] + 0.05 * torch.randn(8, 3, 16), dim=-1)
    shuffled = clustered[torch.randperm(8)]
    clustered_loss = _segment_contrastive_loss(clustered, labels, temperature=0.1)
    shuffled_loss = _segment_contrastive_loss(shuffled, labels, temperature=0.1)
    assert clustered_loss < shuffled_loss


def test_contrastive_loss_finite_with_singleton_classes():
    embeddings = torch.nn.functional.normalize(torch.randn(3, 1, 8), dim=-1)
    loss = _segment_contrastive_loss(embeddings, torch.tensor([0, 1, 2]), temperature=0.1)
    assert torch.isfinite(loss) and loss == 0
    loss = _segment_contrastive_loss(embeddings.expand(3, 2, 8), torch.tensor([0, 1, 2]), temperature=0.1)
    assert torch.isfinite(loss)


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_padding_invariance_and_batch_order(frontend):
    tester = SamAudioModelTester(frontend)
    config = tester.get_config()
    model = SamAudioForAudioClassification(config).eval()
    torch.manual_seed(0)
    short, long = torch.randn(1000), torch.randn(1600)
    batch = torch.zeros(2, 1600)
    batch[0, :1000], batch[1] = short, long
    attention_mask = torch.ones(2, 1600, dtype=torch.long)
    attention_mask[0, 1000:] = 0
    with torch.no_grad():
        alone = model(short[None]).logits[0]
        batched = model(batch, attention_mask=attention_mask).logits
        reversed_batch = model(batch.flip(0), attention_mask=attention_mask.flip(0)).logits
    assert (alone - batched[0]).abs().max() <= 1e-5
    assert (batched - reversed_batch.flip(0)).abs().max() <= 1e-5


def test_output_attentions():
    config, inputs = SamAudioModelTester().prepare_config_and_inputs_for_common()
    model = SamAudioForAudioClassification(config).eval()
    with torch.no_grad():
        outputs = model(**inputs, output_attentions=True)
        plain = model(**inputs)
    num_frames = model.base_model._get_feat_extract_output_lengths(inputs["input_values"].shape[-1])
    assert len(outputs.attentions) == config.num_segment_layers
    for attention in outputs.attentions:
        assert attention.shape == (3, config.num_attention_heads, config.num_segment_tokens, num_frames)
        assert torch.allclose(attention.sum(-1), torch.ones(()), atol=1e-5)
        # No attention on the padded half of the last clip.
        padded = model.base_model._get_feat_extract_output_lengths(inputs["input_values"].shape[-1] // 2)
        assert attention[-1, :, :, padded:].abs().max() == 0
    assert torch.allclose(outputs.logits, plain.logits, atol=1e-5)


def test_too_short_input_raises():
    config = SamAudioModelTester().get_config()
    model = SamAudioModel(config).eval()
    with pytest.raises(ValueError, match="receptive field"):
        model(torch.randn(1, model.receptive_field - 1))
    with torch.no_grad():
        model(torch.randn(1, model.receptive_field))
    with pytest.raises(ValueError, match="batch_size, num_samples"):
        model(torch.randn(1600))


def test_log_frequency_filterbank_shifts_with_pitch():
    """One bin per semitone step: a tone a semitone higher peaks `bins_per_semitone` bins higher."""
    config = SamAudioConfig(bins_per_semitone=3, n_fft=4096)
    filterbank = _log_frequency_filterbank(config)
    assert filterbank.shape == (config.n_fft // 2 + 1, config.num_octaves * config.bins_per_octave)
    assert torch.allclose(filterbank.sum(0), torch.ones(filterbank.shape[1]))
    freqs = torch.linspace(0, config.sampling_rate / 2, config.n_fft // 2 + 1)

    def peak(frequency: float) -> int:
        spectrum = torch.exp(-0.5 * ((freqs - frequency) / 2.0) ** 2)
        return int((spectrum @ filterbank).argmax())

    assert peak(880.0 * 2 ** (1 / 12)) - peak(880.0) == 3


@pytest.mark.parametrize("frontend", ["log_frequency", "log_mel"])
def test_blocked_and_chunked_spectrogram_equals_one_dense_product(frontend):
    """The filterbank is zero outside its blocks, and chunked STFTs give the batch-wide spectrogram."""
    config = SamAudioConfig(frontend=frontend)
    filterbank = _log_frequency_filterbank(config) if frontend == "log_frequency" else _mel_filterbank(config)
    inside_blocks = torch.zeros_like(filterbank, dtype=torch.bool)
    for first_band, stop_band, first_fft_bin, stop_fft_bin in _filterbank_blocks(config):
        inside_blocks[first_fft_bin:stop_fft_bin, first_band:stop_band] = True
    assert not filterbank[~inside_blocks].any()

    torch.manual_seed(0)
    waveform = torch.randn(3, 40 * config.hop_length + config.n_fft)
    chunked = SamAudioModel(SamAudioConfig(frontend=frontend, spectrogram_chunk_frames=16)).feature_encoder.frontend
    spectrum = torch.stft(waveform, config.n_fft, config.hop_length, window=chunked.window, center=False,
                          return_complex=True)  # fmt: skip
    dense = torch.matmul(filterbank.T, spectrum.abs().pow(2))
    assert torch.allclose(chunked.band_energies(waveform), dense, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("config_kwargs", [{"frontend": "log_mel"}, {"tonic_alignment": False}])
def test_unfolded_spectrograms_have_no_loudness_or_clip_offset(config_kwargs):
    """Raw log-energies share a large offset that lets training collapse the encoder; the frontend removes it."""
    frontend = SamAudioModel(SamAudioConfig(**config_kwargs)).feature_encoder.frontend
    torch.manual_seed(0)
    waveform = 3.0 * torch.randn(2, 30 * 1024 + 4096)
    frame_mask = torch.ones(2, 31, dtype=torch.bool)
    frame_mask[1, 20:] = False
    with torch.no_grad():
        features = frontend(waveform, frame_mask)
    assert features.mean(dim=1).abs().max() < 1e-4  # no loudness per frame
    assert features[0].mean(dim=-1).abs().max() < 1e-4  # no mean spectrum per clip
    assert features[1, :, :20].mean(dim=-1).abs().max() < 1e-4  # over the unpadded frames only


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_conv_layers_start_kaiming_initialised(frontend):
    """Kaiming, not the generic 0.02: with it, the first steps turned the waveform conv stack input-independent."""
    model = SamAudioModel(SamAudioConfig(frontend=frontend))
    convs = [module for module in model.modules() if isinstance(module, torch.nn.Conv1d)]
    assert len(convs) == len(model.config.conv_dim) + 1  # the conv stack and the positional conv
    for conv in convs:
        fan_in = conv.weight.shape[1] * conv.weight.shape[2]
        assert conv.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.15)
        assert not conv.bias.any()


def test_tonic_alignment_makes_encoder_invariant_to_circular_shift():
    """Rotating every frame's pitch classes (a new tonic) leaves the aligned features unchanged."""
    config = SamAudioModelTester().get_config()
    model = SamAudioModel(config).eval()
    alignment = model.feature_encoder.frontend.tonic_alignment
    torch.manual_seed(0)
    pitch_classes = torch.randn(2, config.bins_per_octave, 20)
    frame_mask = torch.ones(2, 20, dtype=torch.bool)
    with torch.no_grad():
        aligned = alignment(pitch_classes, frame_mask)
        shifted = alignment(pitch_classes.roll(5, dims=1), frame_mask)
    assert torch.allclose(aligned, shifted, atol=1e-5)


def test_pretraining_loss_decreases_on_unlabeled_audio():
    torch.manual_seed(0)
    config = SamAudioModelTester().get_config(hidden_dropout=0.0, final_dropout=0.0)
    model = SamAudioForPreTraining(config).train()
    input_values = torch.randn(4, 1600)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        torch.manual_seed(1)  # the same masks each step, so the losses are comparable
        outputs = model(input_values)
        outputs.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(outputs.loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0]
