import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from configuration_sam_audio import SamAudioConfig
from modeling_sam_audio import (
    SamAudioForAudioClassification,
    SamAudioForPreTraining,
    SamAudioModel,
    SamAudioTonicAlignment,
    _compute_mask_indices,
    _filterbank_blocks,
    _fold_octaves,
    _half_band_filter,
    _interval_template,
    _log_frequency_filterbank,
    _masked_segment_loss,
    _mel_filterbank,
    _segment_contrastive_loss,
)
from sam_audio_raga.synthetic import generate_clip
from testing_utils import SamAudioModelTester


PITCH_CLASS_TEMPLATES = "sam_audio.feature_encoder.frontend.tonic_alignment.pitch_class_head.templates"


FRONTENDS = ("log_frequency", "log_mel", "waveform")


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
    # Uniform [0, 1) like wav2vec2's mask embedding, Kaiming-initialised conv kernels, the interval-shaped templates.
    exempt = ("masked_spec_embed", "feature_encoder.conv_layers", "pos_conv_embed.conv.weight", "_template")
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


@pytest.mark.parametrize("frequency", [131.0, 196.0, 261.6, 587.3, 1046.5, 2349.3, 3951.1])
def test_waveform_filterbank_starts_on_the_log_frequency_bands(frequency):
    """A tone peaks in the band of the log-frequency grid it belongs to, in both frontends, on the same frames."""
    bands = {}
    for frontend in ("waveform", "log_frequency"):
        config = SamAudioConfig(frontend=frontend)
        spectral = SamAudioModel(config).feature_encoder.frontend
        time = torch.arange(3 * config.sampling_rate) / config.sampling_rate
        tone = torch.sin(2 * math.pi * frequency * time)[None]
        with torch.no_grad():
            bands[frontend] = (
                spectral.waveform_filterbank(tone) if frontend == "waveform" else spectral.band_energies(tone)
            )
    expected = round(config.bins_per_octave * math.log2(frequency / config.min_frequency))
    assert bands["waveform"].shape == bands["log_frequency"].shape
    assert bands["waveform"][0].mean(-1).argmax().item() == expected
    # The STFT's widened low filters blur the lowest notes by a band.
    assert abs(bands["log_frequency"][0].mean(-1).argmax().item() - expected) <= 1
    # Steady over time: the power is sampled often enough that a steady tone gives steady frames.
    steady = bands["waveform"][0, expected]
    assert (steady.std() / steady.mean()).item() < 0.05


def test_waveform_levels_are_the_linear_convolution_with_the_half_band_filter():
    """Each halving is the half-band filter's full linear convolution, decimated, tail included."""
    config = SamAudioConfig(frontend="waveform")
    filterbank = SamAudioModel(config).feature_encoder.frontend.waveform_filterbank
    torch.manual_seed(0)
    waveform = torch.randn(2, 5001, dtype=torch.float64)
    levels = filterbank.decimated(waveform.float())
    kernel = _half_band_filter(config).double()
    reach = kernel.numel() // 2
    expected = waveform
    for level in levels[1:]:
        expected = F.conv1d(F.pad(expected[:, None], (2 * reach, 2 * reach)), kernel.flip(0)[None, None])[:, 0]
        expected = expected[:, reach::2][:, : level.shape[-1]]
        assert level.shape[-1] >= expected.shape[-1] - 1
        assert torch.allclose(level[:, : expected.shape[-1]].double(), expected, atol=1e-5)
        expected = level.double()
    assert len(levels) == filterbank.max_halvings + 1 == 5


@pytest.mark.parametrize("config_kwargs", [{"frontend": "log_mel"}, {"tonic_alignment": False}])
def test_unfolded_spectrograms_have_no_loudness_or_clip_offset(config_kwargs):
    """Raw log-energies share a large offset that lets training collapse the encoder; the frontend removes it."""
    frontend = SamAudioModel(SamAudioConfig(**config_kwargs)).feature_encoder.frontend
    torch.manual_seed(0)
    waveform = 3.0 * torch.randn(2, 30 * 1024 + 4096)
    frame_mask = torch.ones(2, 31, dtype=torch.bool)
    frame_mask[1, 20:] = False
    with torch.no_grad():
        features, tonic_probabilities, _ = frontend(waveform, frame_mask)
    assert tonic_probabilities is None  # nothing was aligned
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


def test_pretraining_contrastive_positives_follow_the_recording_ids():
    """Two copies of one clip: named one recording, each copy's segments find positives in the other, so the loss
    falls below that of two unrelated clips; without ids, clips are their own recordings."""
    torch.manual_seed(0)
    config = SamAudioModelTester().get_config(hidden_dropout=0.0, final_dropout=0.0)
    model = SamAudioForPreTraining(config).train()
    clip = torch.randn(1, 1600)
    copies = torch.cat([clip, clip])
    no_mask = torch.zeros(2, model.sam_audio._get_feat_extract_output_lengths(1600), dtype=torch.bool)
    with torch.no_grad():
        same = model(copies, mask_time_indices=no_mask, recording_ids=torch.tensor([0, 0])).contrastive_loss
        apart = model(copies, mask_time_indices=no_mask, recording_ids=torch.tensor([0, 1])).contrastive_loss
        default = model(copies, mask_time_indices=no_mask).contrastive_loss
    assert same < apart
    assert torch.equal(default, apart)


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


def test_teacher_target_regresses_the_teachers_segments_normalised_over_each_clip():
    """With `pretraining_target="teacher"` the masked loss is the mean squared error between the student's predicted
    segment states and the teacher's, each channel normalised over a clip's segments: a per-clip, per-channel offset
    or scale of the teacher's states changes nothing, and without teacher states there is no masked loss."""
    torch.manual_seed(0)
    config = SamAudioModelTester().get_config(hidden_dropout=0.0, final_dropout=0.0, pretraining_target="teacher")
    model = SamAudioForPreTraining(config).train()
    input_values = torch.randn(2, 1600)
    frames = model.sam_audio._get_feat_extract_output_lengths(1600)
    mask = torch.zeros(2, frames, dtype=torch.bool)
    mask[:, :2] = True
    teacher = torch.randn(2, config.num_segment_tokens, config.hidden_size)
    with torch.no_grad():
        outputs = model(input_values, mask_time_indices=mask, teacher_segment_states=teacher)
        moved = 3.0 * teacher + torch.randn(2, 1, config.hidden_size)
        rescaled = model(input_values, mask_time_indices=mask, teacher_segment_states=moved)
        without = model(input_values, mask_time_indices=mask)
    centred = teacher - teacher.mean(dim=1, keepdim=True)
    targets = centred / (centred.pow(2).mean(dim=1, keepdim=True) + 1e-5).sqrt()
    expected = (model.teacher_prediction(outputs.segment_states) - targets).pow(2).mean()
    assert torch.allclose(outputs.masked_segment_loss, expected, atol=1e-5)
    assert torch.allclose(rescaled.masked_segment_loss, expected, atol=1e-4)
    assert without.masked_segment_loss is None and without.contrastive_loss is not None
    # The frame target keeps its head and has no teacher head.
    assert SamAudioForPreTraining(SamAudioModelTester().get_config()).teacher_prediction is None


def _partition_overlap(attention: torch.Tensor) -> float:
    """Mean pairwise overlap (sum over frames of the minimum) of head-averaged, normalised token maps."""
    maps = attention.mean(dim=1)  # (batch, tokens, frames)
    maps = maps / maps.sum(dim=-1, keepdim=True)
    pairwise = torch.minimum(maps[:, :, None, :], maps[:, None, :, :]).sum(-1)  # (batch, tokens, tokens)
    num_tokens = maps.shape[1]
    off_diagonal = ~torch.eye(num_tokens, dtype=torch.bool)
    return pairwise[:, off_diagonal].mean().item()


@pytest.mark.parametrize("competition, low, high", [(True, 0.0, 0.2), (False, 0.9, 1.0)])
def test_segment_competition_partitions_frames(competition, low, high):
    """Competing tokens with a temporal prior share out the frames; plain cross-attention tokens all see them all."""
    config = SamAudioModelTester(num_samples=16000).get_config(
        segment_competition=competition, num_segment_tokens=8, initializer_range=1e-3
    )
    model = SamAudioModel(config).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        attentions = model(torch.randn(2, 16000), output_attentions=True).attentions
    for attention in attentions:
        assert low <= _partition_overlap(attention) <= high
        assert torch.allclose(attention.sum(-1), torch.ones(()), atol=1e-4)


def test_competing_tokens_lose_the_frames_another_token_wins():
    """Attention is normalised over tokens: frames that one token claims are taken away from the others."""
    config = SamAudioModelTester().get_config(num_segment_tokens=4)
    attention = SamAudioModel(config).segment_decoder.layers[0].cross_attn.eval()
    tokens, frames = torch.randn(1, 4, config.hidden_size), torch.randn(1, 12, config.hidden_size)
    bias = torch.zeros(1, 1, 4, 12)
    bias[..., 0, :6] = 30.0  # token 0 claims the first half of the clip
    with torch.no_grad():
        _, weights = attention(
            tokens, frames, competition_bias=bias, frame_weights=torch.ones(1, 1, 1, 12), output_attentions=True
        )
    assert weights[:, :, 1:, :6].max() < 1e-6
    assert torch.allclose(weights[:, :, 1:, 6:].sum(-1), torch.ones(()), atol=1e-5)


def test_segment_prior_follows_each_clip_unpadded_length():
    """Token anchors sit at the same relative positions of a short clip and of a long one in the same batch."""
    config = SamAudioModelTester().get_config(num_segment_tokens=4)
    decoder = SamAudioModel(config).segment_decoder
    frame_mask = torch.zeros(2, 40, dtype=torch.bool)
    frame_mask[0, :40] = True
    frame_mask[1, :20] = True
    prior = decoder.temporal_prior(frame_mask, torch.float32)[:, 0]  # (batch, tokens, frames)
    peaks_long = prior[0].argmax(-1)
    peaks_short = prior[1, :, :20].argmax(-1)
    assert peaks_long.tolist() == [4, 14, 24, 34]
    assert peaks_short.tolist() == [2, 7, 12, 17]


def _drone_and_melody_frames(config: SamAudioConfig, tonic_bin: int, drone_semitones: tuple[int, ...]):
    """Pitch-class frames with a steady drone and a melody that walks Sa, Ri, Ga, Pa, Dha, Sa (tonic at `tonic_bin`).

    The drone sounds Sa louder than its other note, as a tanpura with three Sa strings does.
    """
    bins = config.bins_per_octave
    semitone = config.bins_per_semitone
    frames = torch.zeros(bins, 60)
    for interval in drone_semitones:
        frames[(tonic_bin + interval * semitone) % bins] += 1.5 if interval == 0 else 0.5
    for frame, interval in enumerate([0, 2, 4, 7, 9, 0] * 10):
        frames[(tonic_bin + interval * semitone) % bins, frame] += 3.0
    return frames[None]


def _estimated_tonic(frames: torch.Tensor, **config_overrides) -> int:
    config = SamAudioModelTester().get_config(num_octaves=1, bins_per_semitone=3, **config_overrides)
    alignment = SamAudioModel(config).feature_encoder.frontend.tonic_alignment
    with torch.no_grad():
        _, tonic, _ = alignment(frames, torch.ones(1, frames.shape[-1], dtype=torch.bool))
    return tonic.argmax(-1).item()


@pytest.mark.parametrize("tonic_estimation", ["drone", "drone_and_melody"])
@pytest.mark.parametrize("drone_semitones", [(0, 7), (0, 5)])
def test_tonic_of_sa_pa_and_sa_ma_drones(drone_semitones, tonic_estimation):
    """A Sa-Ma drone has the pitch classes of a Sa-Pa drone a fourth higher; its louder Sa tells them apart."""
    config = SamAudioModelTester().get_config(num_octaves=1, bins_per_semitone=3)
    frames = _drone_and_melody_frames(config, 30, drone_semitones)
    assert _estimated_tonic(frames, tonic_estimation=tonic_estimation) == 30


def test_melody_decides_the_tonic_when_the_drone_cannot():
    """A drone whose Ma is as loud as its Sa fits a Sa-Ma template at two tonics equally well; the melody picks one."""
    config = SamAudioModelTester().get_config(num_octaves=1, bins_per_semitone=3)
    frames = _drone_and_melody_frames(config, 30, ())
    for interval in (0, 5):
        frames[0, (30 + interval * config.bins_per_semitone) % config.bins_per_octave] += 1.0
    both_tunings = (0, 5, 7)
    assert _estimated_tonic(frames, tonic_estimation="drone_and_melody", drone_intervals=both_tunings) == 30
    assert _estimated_tonic(frames, tonic_estimation="drone", drone_intervals=both_tunings) != 30


def _alignment_with_label_templates(config: SamAudioConfig, templates: torch.Tensor):
    alignment = SamAudioTonicAlignment(config, num_labels=templates.shape[0])
    with torch.no_grad():
        alignment.drone_template.copy_(_interval_template(config, config.drone_intervals, config.drone_tonic_weight))
        if alignment.melody_template is not None:
            alignment.melody_template.copy_(config.tonic_melody_weight * _interval_template(config, [0, 7]))
        if alignment.pitch_class_head is not None:
            alignment.pitch_class_head.templates.copy_(templates)
    return alignment


def test_the_pitch_class_head_decides_a_tonic_that_fits_one_of_its_ragas():
    """A drone that fits two tonics equally leaves the tonic to the label profiles: the tonic under which the clip's
    pitch-class statistics match a raga's template wins, and that raga gets the highest logit."""
    config = SamAudioModelTester().get_config(
        num_octaves=1, bins_per_semitone=3, tonic_estimation="drone", drone_intervals=(0, 5, 7)
    )
    frames = _drone_and_melody_frames(config, 30, ())
    for interval in (0, 5):
        frames[0, (30 + interval * config.bins_per_semitone) % config.bins_per_octave] += 1.0
    mask = torch.ones(1, frames.shape[-1], dtype=torch.bool)
    stationary = frames.median(dim=-1, keepdim=True).values
    statistics = torch.stack([(frames - stationary).clamp(min=0).mean(-1), frames.std(-1, unbiased=False)], dim=1)
    raga_at_30 = statistics[0].roll(-30, dims=-1)  # the statistics read with Sa on bin 30
    with torch.no_grad():
        _, drone_only, no_head = _alignment_with_label_templates(config, torch.zeros(0, 2, 36))(frames, mask)
        joint = _alignment_with_label_templates(config, torch.stack([-raga_at_30, raga_at_30]))
        _, tonic, logits = joint(frames, mask)
    assert no_head is None and drone_only.argmax().item() != 30
    assert tonic.argmax().item() == 30 and logits.argmax().item() == 1


def test_tonic_alignment_and_the_pitch_class_head_are_invariant_to_the_performers_tonic():
    """Rotating every frame's pitch classes (a new tonic) rotates the tonic found and changes neither the aligned
    frames nor the pitch-class head's logits."""
    config = SamAudioModelTester().get_config(num_octaves=1, bins_per_semitone=3)
    torch.manual_seed(0)
    alignment = _alignment_with_label_templates(config, torch.randn(4, 2, config.bins_per_octave))
    frames = torch.randn(2, config.bins_per_octave, 30)
    mask = torch.ones(2, 30, dtype=torch.bool)
    with torch.no_grad():
        aligned, tonic, logits = alignment(frames, mask)
        shifted_aligned, shifted_tonic, shifted_logits = alignment(frames.roll(7, dims=1), mask)
    assert torch.allclose(shifted_aligned, aligned, atol=1e-5)
    assert torch.allclose(shifted_logits, logits, atol=1e-4)
    assert torch.allclose(shifted_tonic, tonic.roll(7, dims=-1), atol=1e-5)


def test_an_untrained_pitch_class_head_changes_nothing():
    """It starts at zero: logits and tonic are those of the same weights without the head, so switching it on for a
    checkpoint trained without one (a pretrained base) keeps what that checkpoint does."""
    config = SamAudioModelTester().get_config(num_labels=3)
    torch.manual_seed(0)
    with_head = SamAudioForAudioClassification(config).eval()
    config.pitch_class_head = False
    without_head = SamAudioForAudioClassification(config).eval()
    missing, unexpected = without_head.load_state_dict(with_head.state_dict(), strict=False)
    assert missing == [] and unexpected == [PITCH_CLASS_TEMPLATES]
    assert not with_head.state_dict()[PITCH_CLASS_TEMPLATES].any()
    waveform = torch.randn(2, 4000)
    with torch.no_grad():
        expected, got = without_head(waveform), with_head(waveform)
    assert torch.allclose(got.logits, expected.logits, atol=1e-5)
    assert torch.allclose(got.tonic_probabilities, expected.tonic_probabilities, atol=1e-6)


def test_the_segment_classifier_and_the_pitch_class_head_each_learn_on_their_own():
    """The logits add up, but each classifier's cross-entropy is its own: neither only corrects the other."""
    config = SamAudioModelTester().get_config(num_labels=3)
    torch.manual_seed(0)
    model = SamAudioForAudioClassification(config).eval()
    with torch.no_grad():
        model.pitch_class_head.templates.normal_()
    waveform, labels = torch.randn(2, 4000), torch.tensor([0, 2])
    with torch.no_grad():
        outputs = model(waveform, labels=labels)
        base = model.sam_audio(waveform)
        segment_logits = model.classifier(base.segment_states.mean(dim=1))
    assert torch.allclose(outputs.logits, segment_logits + base.pitch_class_logits, atol=1e-5)
    expected = F.cross_entropy(segment_logits, labels) + F.cross_entropy(base.pitch_class_logits, labels)
    assert torch.allclose(outputs.loss, expected, atol=1e-5)
    # The weight of the segment classifier changes what the model predicts, not what either classifier learns.
    model.config.segment_logit_weight = 0.25
    with torch.no_grad():
        weighted = model(waveform, labels=labels)
    assert torch.allclose(weighted.segment_logits, segment_logits, atol=1e-5)
    assert torch.allclose(weighted.pitch_class_logits, base.pitch_class_logits, atol=1e-5)
    assert torch.allclose(weighted.logits, 0.25 * segment_logits + base.pitch_class_logits, atol=1e-5)
    assert torch.allclose(weighted.loss, expected, atol=1e-5)


def test_aligned_frames_keep_the_melody_pitch_distribution():
    """After alignment, the frames' mean is the melody's pitch-class occupancy above the drone, not zero."""
    config = SamAudioModelTester().get_config(num_octaves=1, bins_per_semitone=3)
    alignment = SamAudioModel(config).feature_encoder.frontend.tonic_alignment
    frames = _drone_and_melody_frames(config, tonic_bin=7, drone_semitones=(0, 7))
    with torch.no_grad():
        aligned, _, _ = alignment(frames, torch.ones(1, frames.shape[-1], dtype=torch.bool))
    occupancy = aligned.mean(-1)[0]
    played = [interval * config.bins_per_semitone for interval in (0, 2, 4, 7, 9)]
    unplayed = [b for b in range(config.bins_per_octave) if b not in played]
    assert occupancy[played].min() > occupancy[unplayed].max()


def test_folding_ignores_an_octave_that_holds_only_faint_noise():
    """A band-limited recording's empty octave (noise 40 dB down) does not blur the pitch classes of the others."""
    config = SamAudioModelTester().get_config(num_octaves=3, bins_per_semitone=1)
    torch.manual_seed(0)
    pitch_classes = torch.rand(1, config.bins_per_octave, 5) + 0.1
    loud = torch.cat(
        [torch.full_like(pitch_classes, 1e-4) * torch.rand_like(pitch_classes), pitch_classes, pitch_classes], 1
    )
    folded = _fold_octaves(loud, config)
    expected = torch.log(pitch_classes) - torch.log(pitch_classes).mean(dim=1, keepdim=True)
    assert torch.allclose(folded, expected, atol=0.05)


@pytest.mark.parametrize("tonic_hz", [146.8, 207.7])
def test_tonic_probabilities_peak_at_the_drone_tonic(tonic_hz):
    """The classifier reports the tonic its frontend aligned to: bin r is min_frequency * 2 ** (r / bins) Hz."""
    config = SamAudioConfig(num_labels=2)
    model = SamAudioForAudioClassification(config).eval()
    audio = generate_clip("Kalyani", tonic_hz, "voice", seconds=6.0, rng=np.random.default_rng(0))
    with torch.no_grad():
        outputs = model(torch.from_numpy(audio)[None])
    found = outputs.tonic_probabilities[0].argmax().item()
    expected = round(config.bins_per_octave * math.log2(tonic_hz / config.min_frequency)) % config.bins_per_octave
    distance = min((found - expected) % config.bins_per_octave, (expected - found) % config.bins_per_octave)
    assert distance <= 1
    assert outputs.tonic_probabilities.shape == (1, config.bins_per_octave)
    unaligned = SamAudioForAudioClassification(SamAudioConfig(num_labels=2, frontend="log_mel")).eval()
    with torch.no_grad():
        assert unaligned(torch.from_numpy(audio)[None]).tonic_probabilities is None


@pytest.mark.parametrize("learn", [True, False])
def test_tonic_templates_learn_only_when_asked(learn):
    config = SamAudioModelTester().get_config()
    config.learn_tonic_templates = learn
    model = SamAudioForAudioClassification(config).train()
    alignment = model.sam_audio.feature_encoder.frontend.tonic_alignment
    torch.manual_seed(0)
    model(torch.randn(2, 24000), labels=torch.tensor([0, 1])).loss.backward()
    for template in (alignment.drone_template, alignment.melody_template):
        assert (template.grad is not None and template.grad.abs().sum() > 0) == learn
