"""Metrics against numbers computed by hand: accuracy, macro and per-raga F1, the confusion matrix and its picture."""

import evaluate
import matplotlib.figure
import numpy as np
import pytest
from transformers import EvalPrediction

from sam_audio_raga.evaluation import METRICS_DIR, build_compute_metrics, confusion_matrix, save_confusion_matrix


LABELS = ["Kalyani", "Todi", "Varali"]
# Six clips: Kalyani 3 (2 right, 1 taken for Todi), Todi 2 (1 right, 1 taken for Varali), Varali 1 (right).
REFERENCES = np.array([0, 0, 0, 1, 1, 2])
PREDICTIONS = np.array([0, 0, 1, 1, 2, 2])
# By hand: F1 = 2 TP / (predicted + actual).
# Kalyani: TP 2, predicted 2, actual 3 -> 4/5. Todi: TP 1, predicted 2, actual 2 -> 2/4. Varali: TP 1, predicted 2,
# actual 1 -> 2/3.
EXPECTED_F1 = {"Kalyani": 4 / 5, "Todi": 1 / 2, "Varali": 2 / 3}


def logits_for(predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Logits whose argmax is `predictions`, with the runner-up varying so that only the argmax matters."""
    rng = np.random.default_rng(0)
    logits = rng.uniform(-1.0, 1.0, size=(len(predictions), num_classes)).astype(np.float32)
    logits[np.arange(len(predictions)), predictions] = 2.0
    return logits


def f1_by_formula(predictions: np.ndarray, references: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-class F1 as the harmonic mean of precision and recall (0 where either is undefined or zero)."""
    scores = np.zeros(num_classes)
    for label in range(num_classes):
        true_positives = np.sum((predictions == label) & (references == label))
        predicted, actual = np.sum(predictions == label), np.sum(references == label)
        if true_positives == 0:
            continue
        precision, recall = true_positives / predicted, true_positives / actual
        scores[label] = 2 * precision * recall / (precision + recall)
    return scores


def test_compute_metrics_matches_the_hand_computed_values():
    compute_metrics = build_compute_metrics(LABELS)
    metrics = compute_metrics(EvalPrediction(predictions=logits_for(PREDICTIONS, 3), label_ids=REFERENCES))
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["macro_f1"] == pytest.approx((4 / 5 + 1 / 2 + 2 / 3) / 3)
    for label, expected in EXPECTED_F1.items():
        assert metrics[f"f1_{label}"] == pytest.approx(expected), label
    assert set(metrics) == {"accuracy", "macro_f1", "f1_Kalyani", "f1_Todi", "f1_Varali"}


def test_compute_metrics_reads_the_logits_of_a_tuple_of_outputs():
    compute_metrics = build_compute_metrics(LABELS)
    segment_states = np.zeros((len(PREDICTIONS), 4, 8), dtype=np.float32)
    from_tuple = compute_metrics(
        EvalPrediction(predictions=(logits_for(PREDICTIONS, 3), segment_states), label_ids=REFERENCES)
    )
    assert from_tuple["accuracy"] == pytest.approx(4 / 6)
    assert from_tuple["f1_Todi"] == pytest.approx(1 / 2)


def test_a_raga_never_seen_nor_predicted_scores_zero_and_counts_in_the_macro_average():
    labels = [*LABELS, "Hamsanaadam"]
    metrics = build_compute_metrics(labels)(
        EvalPrediction(predictions=logits_for(PREDICTIONS, 4), label_ids=REFERENCES)
    )
    assert metrics["f1_Hamsanaadam"] == 0.0
    assert metrics["macro_f1"] == pytest.approx((4 / 5 + 1 / 2 + 2 / 3 + 0) / 4)


def test_perfect_and_all_wrong_predictions():
    compute_metrics = build_compute_metrics(LABELS)
    perfect = compute_metrics(EvalPrediction(predictions=logits_for(REFERENCES, 3), label_ids=REFERENCES))
    assert perfect == {"accuracy": 1.0, "macro_f1": 1.0, "f1_Kalyani": 1.0, "f1_Todi": 1.0, "f1_Varali": 1.0}
    shifted = (REFERENCES + 1) % 3
    wrong = compute_metrics(EvalPrediction(predictions=logits_for(shifted, 3), label_ids=REFERENCES))
    assert wrong == {"accuracy": 0.0, "macro_f1": 0.0, "f1_Kalyani": 0.0, "f1_Todi": 0.0, "f1_Varali": 0.0}


@pytest.mark.parametrize("seed", range(5))
def test_metric_modules_agree_with_the_textbook_formulas(seed):
    rng = np.random.default_rng(seed)
    num_classes = 5
    references = rng.integers(0, num_classes, size=40)
    # Mostly right, so that every class has true positives and some have none.
    predictions = np.where(rng.random(40) < 0.6, references, rng.integers(0, num_classes, size=40))
    accuracy = evaluate.load(str(METRICS_DIR / "accuracy"))
    f1 = evaluate.load(str(METRICS_DIR / "f1"))
    assert accuracy.compute(predictions=predictions, references=references)["accuracy"] == pytest.approx(
        np.sum(predictions == references) / len(references)
    )
    expected = f1_by_formula(predictions, references, num_classes)
    per_class = f1.compute(predictions=predictions, references=references, num_classes=num_classes, average=None)
    np.testing.assert_allclose(per_class["f1"], expected, atol=1e-12)
    macro = f1.compute(predictions=predictions, references=references, num_classes=num_classes)["f1"]
    assert macro == pytest.approx(expected.mean())


def test_metric_modules_edge_cases():
    accuracy = evaluate.load(str(METRICS_DIR / "accuracy"))
    f1 = evaluate.load(str(METRICS_DIR / "f1"))
    assert accuracy.compute(predictions=[], references=[])["accuracy"] == 0.0
    # Without `num_classes`, the classes are those up to the largest index seen.
    assert f1.compute(predictions=[0, 2], references=[0, 1], average=None)["f1"] == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="average"):
        f1.compute(predictions=[0, 1], references=[0, 1], average="micro")


def test_confusion_matrix_rows_are_true_ragas_and_columns_predictions():
    matrix = confusion_matrix(PREDICTIONS, REFERENCES, 3)
    np.testing.assert_array_equal(matrix, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert matrix.dtype == np.int64
    # A raga with no clip keeps its row and column, of zeros.
    np.testing.assert_array_equal(confusion_matrix(np.array([1]), np.array([1]), 3), [[0, 0, 0], [0, 1, 0], [0, 0, 0]])


def test_saved_picture_shows_the_confusion_matrix_of_the_logits(tmp_path, monkeypatch):
    figures = []
    save = matplotlib.figure.Figure.savefig

    def keep(figure, *args, **kwargs):
        figures.append(figure)
        return save(figure, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    path = save_confusion_matrix(logits_for(PREDICTIONS, 3), REFERENCES, LABELS, tmp_path / "confusion.png")
    assert path == tmp_path / "confusion.png" and path.stat().st_size > 0
    (axes, _colorbar) = figures[0].axes
    np.testing.assert_array_equal(axes.images[0].get_array(), [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert axes.get_title() == "Validation confusion matrix (accuracy 0.667)"
    assert [tick.get_text() for tick in axes.get_yticklabels()] == LABELS
    assert [tick.get_text() for tick in axes.get_xticklabels()] == LABELS
    assert (axes.get_ylabel(), axes.get_xlabel()) == ("true raga", "predicted raga")
    cells = {(round(text.get_position()[1]), round(text.get_position()[0])): text.get_text() for text in axes.texts}
    assert cells == {(0, 0): "2", (0, 1): "1", (1, 1): "1", (1, 2): "1", (2, 2): "1"}
