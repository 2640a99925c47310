"""A saved SAM-Audio folder meets the contract of transformers' stock `run_audio_classification.py` example.

The flow runs in a fresh interpreter that imports only transformers, datasets and evaluate: string label ids,
`freeze_feature_encoder()`, a `compute_metrics` that takes `np.argmax(eval_pred.predictions, axis=1)`, training,
evaluation and `create_model_card()`, all through `trust_remote_code`.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from feature_extraction_sam_audio import SamAudioFeatureExtractor
from modeling_sam_audio import SamAudioForAudioClassification
from testing_utils import run_isolated


ROOT = Path(__file__).resolve().parent.parent
RAGAS = ["Kalyani", "Todi"]

STOCK_FLOW = """
import json, sys
import numpy as np
import datasets, evaluate
from datasets import load_dataset
from transformers import (AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification, Trainer,
                          TrainingArguments)

model_dir, data_dir, output_dir, metric_dir = sys.argv[1:5]
raw = {
    "train": load_dataset("audiofolder", data_dir=data_dir, split="train"),
    "eval": load_dataset("audiofolder", data_dir=data_dir, split="validation"),
}
feature_extractor = AutoFeatureExtractor.from_pretrained(model_dir, return_attention_mask=True, trust_remote_code=True)
audio = datasets.Audio(sampling_rate=feature_extractor.sampling_rate)
raw = {name: split.cast_column("audio", audio) for name, split in raw.items()}
input_name = feature_extractor.model_input_names[0]

def transform(batch, max_samples=None):
    waves = [np.asarray(item["array"])[:max_samples] for item in batch["audio"]]
    inputs = feature_extractor(waves, sampling_rate=feature_extractor.sampling_rate)
    return {input_name: inputs.get(input_name), "labels": list(batch["label"])}

labels = raw["train"].features["label"].names
label2id = {label: str(index) for index, label in enumerate(labels)}
id2label = {str(index): label for index, label in enumerate(labels)}
metric = evaluate.load(metric_dir)

def compute_metrics(eval_pred):
    predictions = np.argmax(eval_pred.predictions, axis=1)
    return metric.compute(predictions=predictions, references=eval_pred.label_ids)

config = AutoConfig.from_pretrained(
    model_dir, num_labels=len(labels), label2id=label2id, id2label=id2label,
    finetuning_task="audio-classification", trust_remote_code=True,
)
model = AutoModelForAudioClassification.from_pretrained(model_dir, config=config, trust_remote_code=True)
model.freeze_feature_encoder()
frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
encoder_before = {name: p.detach().clone() for name, p in model.named_parameters() if not p.requires_grad}

raw["train"].set_transform(lambda batch: transform(batch, feature_extractor.sampling_rate), output_all_columns=False)
raw["eval"].set_transform(transform, output_all_columns=False)
args = TrainingArguments(
    output_dir=output_dir, max_steps=2, per_device_train_batch_size=2, per_device_eval_batch_size=4,
    learning_rate=1e-2, remove_unused_columns=False, report_to="none", use_cpu=True, save_strategy="no",
    dataloader_pin_memory=False, logging_steps=1,
)
trainer = Trainer(model=model, args=args, train_dataset=raw["train"], eval_dataset=raw["eval"],
                  compute_metrics=compute_metrics, processing_class=feature_extractor)
train_result = trainer.train()
trainer.save_model()
metrics = trainer.evaluate()
trainer.create_model_card(finetuned_from=model_dir, tasks="audio-classification", dataset=data_dir,
                          tags=["audio-classification"])
prediction = trainer.predict(raw["eval"])
print(json.dumps({
    "module": type(model).__module__,
    "frozen": frozen,
    "encoder_unchanged": all(
        bool((p.detach() == encoder_before[name]).all()) for name, p in model.named_parameters() if name in frozen
    ),
    "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    "metrics": metrics,
    "prediction_shape": list(np.shape(prediction.predictions)),
    "label2id": model.config.label2id,
    "id2label": {str(key): value for key, value in model.config.id2label.items()},
}))
"""


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, make_tiny_model):
    directory = tmp_path_factory.mktemp("saved")
    make_tiny_model(RAGAS).save_pretrained(directory)
    SamAudioFeatureExtractor().save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def audiofolder(tmp_path_factory):
    """`split/label/clip.wav`: the layout for which `audiofolder` gives a `ClassLabel` column named `label`."""
    directory = tmp_path_factory.mktemp("audiofolder")
    rng = np.random.default_rng(0)
    for split, clips in (("train", 4), ("validation", 2)):
        for raga_index, raga in enumerate(RAGAS):
            (directory / split / raga).mkdir(parents=True)
            for clip in range(clips):
                seconds = 1.0 + 0.25 * clip  # clips of different lengths, so batches are padded
                time = np.arange(int(seconds * 16000)) / 16000
                tone = np.sin(2 * np.pi * (220.0 + 110.0 * raga_index) * time)
                noise = 0.05 * rng.standard_normal(time.shape)
                sf.write(directory / split / raga / f"clip{clip}.wav", (0.3 * tone + noise).astype(np.float32), 16000)
    return directory


def test_the_stock_audio_classification_flow_runs_on_a_saved_folder(saved_model, audiofolder, tmp_path):
    output_dir = tmp_path / "out"
    report = run_isolated(
        STOCK_FLOW,
        tmp_path,
        tmp_path / "hf",
        str(saved_model),
        str(audiofolder),
        str(output_dir),
        str(ROOT / "sam_audio_raga" / "metrics" / "accuracy"),
    )
    assert report["module"].startswith("transformers_modules")
    # freeze_feature_encoder() froze the conv feature encoder, and only it; the rest still trains.
    assert report["frozen"] and all(".feature_encoder." in name for name in report["frozen"])
    assert any("conv_layers.0.conv.weight" in name for name in report["frozen"])
    assert report["encoder_unchanged"] and report["trainable"] > 0
    # Predictions are the logits alone, so the stock compute_metrics could take their argmax.
    assert report["prediction_shape"] == [4, len(RAGAS)]
    assert 0.0 <= report["metrics"]["eval_accuracy"] <= 1.0
    assert report["id2label"] == {"0": "Kalyani", "1": "Todi"}
    assert {int(value) for value in report["label2id"].values()} == {0, 1}
    card = (output_dir / "README.md").read_text()
    assert "audio-classification" in card and "accuracy" in card.lower()
    saved = json.loads((output_dir / "config.json").read_text())
    assert saved["auto_map"]["AutoModelForAudioClassification"].endswith("SamAudioForAudioClassification")


def test_freeze_base_model_leaves_only_the_heads_trainable(saved_model):
    model = SamAudioForAudioClassification.from_pretrained(saved_model)
    model.freeze_base_model()
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert {name.split(".")[0] for name in trainable} == {"classifier", "contrastive_head", "sam_audio"}
    # The pitch-class head scores the labels, so it is a head too, even though the tonic alignment holds it.
    assert {name for name in trainable if name.startswith("sam_audio.")} == {
        "sam_audio.feature_encoder.frontend.tonic_alignment.pitch_class_head.templates"
    }


def test_eval_predictions_leave_out_everything_but_the_logits(saved_model):
    model = SamAudioForAudioClassification.from_pretrained(saved_model).eval()
    inputs = SamAudioFeatureExtractor()(np.zeros(16000, dtype=np.float32), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs, labels=torch.tensor([0]))
    ignored = set(model.config.keys_to_ignore_at_inference)
    assert [key for key in outputs if key not in ignored | {"loss"}] == ["logits"]
