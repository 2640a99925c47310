"""Evaluation of a raga classifier: `evaluate` metrics (accuracy, macro and per-raga F1) and a confusion matrix."""

from collections.abc import Callable
from pathlib import Path

import evaluate
import numpy as np
from transformers import EvalPrediction
from transformers.utils import logging


logger = logging.get_logger(__name__)

# Metric modules shipped with the package, so that `evaluate.load` needs no Hub access.
METRICS_DIR = Path(__file__).resolve().parent / "metrics"


def build_compute_metrics(labels: list[str]) -> Callable[[EvalPrediction], dict[str, float]]:
    """A `Trainer` `compute_metrics` returning accuracy, macro-F1 and `f1_<raga>` for each raga."""
    accuracy = evaluate.load(str(METRICS_DIR / "accuracy"))
    f1 = evaluate.load(str(METRICS_DIR / "f1"))

    def compute_metrics(eval_prediction: EvalPrediction) -> dict[str, float]:
        logits = eval_prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        predictions = np.argmax(logits, axis=-1)
        references = eval_prediction.label_ids
        metrics = accuracy.compute(predictions=predictions, references=references)
        metrics["macro_f1"] = f1.compute(predictions=predictions, references=references, num_classes=len(labels))["f1"]
        per_raga = f1.compute(predictions=predictions, references=references, num_classes=len(labels), average=None)
        metrics.update({f"f1_{label}": score for label, score in zip(labels, per_raga["f1"])})
        return metrics

    return compute_metrics


def confusion_matrix(predictions: np.ndarray, references: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class), shape `(num_classes, num_classes)`."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (references, predictions), 1)
    return matrix


def save_confusion_matrix(
    logits: np.ndarray, references: np.ndarray, labels: list[str], path: str | Path, log_to_wandb: bool = False
) -> Path:
    """Plot the confusion matrix of `logits` against `references` to a PNG (and to the active W&B run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = confusion_matrix(np.argmax(logits, axis=-1), references, len(labels))
    figure, axes = plt.subplots(figsize=(1.0 + 0.8 * len(labels), 1.0 + 0.7 * len(labels)))
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, label="clips")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted raga")
    axes.set_ylabel("true raga")
    axes.set_title(f"Validation confusion matrix (accuracy {np.trace(matrix) / max(matrix.sum(), 1):.3f})")
    for true_index in range(len(labels)):
        for predicted_index in range(len(labels)):
            count = matrix[true_index, predicted_index]
            if count:
                color = "white" if count > matrix.max() / 2 else "black"
                axes.text(predicted_index, true_index, str(count), ha="center", va="center", color=color)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    if log_to_wandb:
        import wandb

        if wandb.run is not None:
            wandb.log({"confusion_matrix": wandb.Image(str(path))})
    return path


__all__ = ["build_compute_metrics", "confusion_matrix", "save_confusion_matrix"]
