"""F1 score (macro or per class), as an `evaluate` metric module that loads without the Hub."""

import datasets
import evaluate
import numpy as np


_DESCRIPTION = "Harmonic mean of precision and recall per class; `average='macro'` takes their unweighted mean."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): predicted class indices.
    references (`list[int]`): true class indices.
    num_classes (`int`, *optional*): number of classes; defaults to the largest index seen plus one.
    average (`str` or `None`, *optional*, defaults to `"macro"`): `"macro"` for one number, `None` for one per class.
Returns:
    f1 (`float` or `list[float]`): in [0, 1]; a class with neither predictions nor references scores 0.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
        )

    def _compute(self, predictions, references, num_classes=None, average="macro") -> dict:
        predictions, references = np.asarray(predictions), np.asarray(references)
        if num_classes is None:
            num_classes = int(max(predictions.max(initial=-1), references.max(initial=-1))) + 1
        classes = np.arange(num_classes)
        true_positives = ((predictions[:, None] == classes) & (references[:, None] == classes)).sum(0)
        predicted = (predictions[:, None] == classes).sum(0)
        actual = (references[:, None] == classes).sum(0)
        denominator = predicted + actual
        per_class = np.where(denominator > 0, 2 * true_positives / np.maximum(denominator, 1), 0.0)
        if average is None:
            return {"f1": per_class.tolist()}
        if average == "macro":
            return {"f1": float(per_class.mean()) if num_classes else 0.0}
        raise ValueError(f"`average` must be 'macro' or None, got {average!r}.")
