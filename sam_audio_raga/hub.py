"""Talking to the Hugging Face Hub with one clear line when it cannot be reached, and the saved model's card."""

from pathlib import Path

from huggingface_hub import ModelCardData, constants, get_session
from transformers.utils import logging


logger = logging.get_logger(__name__)

# Files of a training output folder that never go to the Hub: run logs, checkpoints, caches and credentials.
HUB_IGNORE_PATTERNS = [
    "checkpoint-*",
    "checkpoint-*/**",
    "wandb/**",
    "runs/**",
    ".cache/**",
    "**/.cache/**",
    "*.token",
    ".netrc",
    "training_args.bin",
]


def hub_unreachable_reason(timeout: float = 5.0) -> str | None:
    """Why the Hub cannot be used right now (offline mode, no connection), or `None` when it answers."""
    if constants.HF_HUB_OFFLINE:
        return "offline mode is on (HF_HUB_OFFLINE=1)"
    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception as error:  # any transport failure means the same thing to the caller
        return f"{constants.ENDPOINT} did not answer ({type(error).__name__})"
    return None


def write_model_card(
    output_dir: str | Path,
    *,
    labels: list[str],
    metrics: dict[str, float],
    split_description: str,
    test_metrics: dict[str, float] | None = None,
    dataset_name: str,
    hyperparameters: dict[str, object],
    hub_model_id: str | None = None,
) -> Path:
    """Write `README.md` for a trained raga classifier: labels, metrics with their split, config and usage.

    `metrics` are the validation figures, from the split that picked the checkpoint; `test_metrics`, when the dataset
    had a test split, come from data that did not, and are the ones to quote.
    """
    repo = hub_model_id or "path/to/this/folder"
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="audio-classification",
        tags=["audio-classification", "carnatic", "raga", "sam-audio", "custom_code"],
        datasets=[dataset_name] if "/" in dataset_name else None,
    )
    if test_metrics is None:
        metric_header = "| metric | validation |\n|---|---|"
        metric_rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in sorted(metrics.items()))
        selection_note = (
            "The validation split also picked the checkpoint (the best epoch), so these figures flatter the model a "
            "little; a `test` split in the dataset is scored once at the end and gives figures that did not."
        )
    else:
        metric_header = "| metric | test | validation |\n|---|---|---|"
        metric_rows = "\n".join(
            f"| {name} | {value:.4f} | {metrics[name]:.4f} |" if name in metrics else f"| {name} | {value:.4f} | |"
            for name, value in sorted(test_metrics.items())
        )
        selection_note = (
            "The test split was scored once, at the end; the validation split picked the checkpoint (the best epoch), "
            "so quote the test figures."
        )
    hyperparameter_rows = "\n".join(f"| `{name}` | `{value}` |" for name, value in hyperparameters.items())
    card = f"""---
{card_data.to_yaml()}
---

# SAM-Audio raga classifier

SAM-Audio (learnable segment tokens attending over an audio encoder), trained to tell {len(labels)} Carnatic ragas
apart: {", ".join(labels)}. Loading it runs the model code stored next to the weights (`trust_remote_code=True`).

## Evaluation

Dataset: `{dataset_name}`. Split: {split_description}

{metric_header}
{metric_rows}

{selection_note}

Chunks of one recording share performer, tonic and room; unless the split above is by recording, these figures
overstate accuracy on recordings the model has never heard.

## Usage

```python
from transformers import pipeline

classifier = pipeline("audio-classification", model="{repo}", trust_remote_code=True)
classifier("concert.flac")  # or {{"raw": samples, "sampling_rate": 44100}}
```

From the command line, long recordings are classified window by window:

```bash
sam-audio-predict concert.mp3 --model {repo} --top-k 3
```

## Training configuration

| setting | value |
|---|---|
{hyperparameter_rows}
"""
    path = Path(output_dir) / "README.md"
    path.write_text(card, encoding="utf-8")
    return path


__all__ = ["HUB_IGNORE_PATTERNS", "hub_unreachable_reason", "write_model_card"]
