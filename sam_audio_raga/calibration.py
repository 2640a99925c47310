"""The weight of the segment classifier beside the pitch-class head, fitted on clips the model did not train on.

Both classifiers of `SamAudioForAudioClassification` learn on the training clips alone, so neither can tell from them
how far to trust the other: trained on one or two recordings per raga, the segment classifier fits them perfectly and
scores new recordings with a confidence it has not earned, more than the pitch-class head, a linear classifier of a
few statistics, does. `fit_segment_logit_weight` sets `config.segment_logit_weight` to the weight under which
`weight * segment_logits + pitch_class_logits` has the lowest cross-entropy on held-out clips, each weight at the
temperature that suits it best: the weight sets how much each classifier counts, not how sure their sum is. (Without
the temperature, a validation split that the model gets all right pushes the weight to the largest candidate, which
only sharpens the sum.)
"""

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Trainer
from transformers.utils import logging


logger = logging.get_logger(__name__)


# Candidate weights: 0 leaves the decision to the pitch-class head, 1 is the plain sum the model trains with.
SEGMENT_LOGIT_WEIGHTS = np.round(np.linspace(0.0, 2.0, 41), 2)
# Inverse temperatures tried for each weight.
LOGIT_SCALES = torch.logspace(-1.3, 1.7, 60, dtype=torch.float64)


def best_segment_logit_weight(
    segment_logits: torch.Tensor, pitch_class_logits: torch.Tensor, labels: torch.Tensor
) -> float:
    """The candidate weight under which `weight * segment_logits + pitch_class_logits`, scaled by the inverse
    temperature that suits it best, has the lowest cross-entropy against `labels` (the one nearest 1 among equals)."""
    segment_logits, pitch_class_logits = segment_logits.double(), pitch_class_logits.double()
    losses = []
    for weight in SEGMENT_LOGIT_WEIGHTS:
        # (scales, clips, labels)
        scaled = LOGIT_SCALES[:, None, None] * (weight * segment_logits + pitch_class_logits)
        per_scale = F.cross_entropy(scaled.transpose(1, 2), labels.expand(len(LOGIT_SCALES), -1), reduction="none")
        losses.append(per_scale.mean(dim=1).min().item())
    losses = np.array(losses)
    best = np.flatnonzero(losses <= losses.min() + 1e-6)
    return float(SEGMENT_LOGIT_WEIGHTS[best[np.argmin(np.abs(SEGMENT_LOGIT_WEIGHTS[best] - 1.0))]])


@torch.no_grad()
def fit_segment_logit_weight(trainer: Trainer, dataset) -> float | None:
    """Fit `config.segment_logit_weight` of the trainer's model on `dataset` (labelled clips it did not train on) and
    return it; `None`, with nothing changed, when the model has no pitch-class head or there is no dataset."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    if dataset is None or getattr(model, "pitch_class_head", None) is None:
        return None
    model.eval()
    # Gathered from every process, so that each fits the same weight.
    gather = trainer.accelerator.gather_for_metrics
    segment_logits, pitch_class_logits, labels = [], [], []
    for batch in trainer.get_eval_dataloader(dataset):
        batch_labels = batch.pop("labels")
        outputs = model(**batch)
        segment_logits.append(gather(outputs.segment_logits).float().cpu())
        pitch_class_logits.append(gather(outputs.pitch_class_logits).float().cpu())
        labels.append(gather(batch_labels).cpu())
    labels = torch.cat(labels)
    weight = best_segment_logit_weight(torch.cat(segment_logits), torch.cat(pitch_class_logits), labels)
    model.config.segment_logit_weight = weight
    logger.info(f"Segment classifier weight {weight:g}, fitted on {len(labels)} validation clips")
    return weight


__all__ = ["SEGMENT_LOGIT_WEIGHTS", "best_segment_logit_weight", "fit_segment_logit_weight"]
