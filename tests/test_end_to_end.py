"""Training learns, and the folder it saves names the ragas of recordings it never heard.

Two clearly different ragas of the synthetic corpus are trained on through `run_raga_classification.py`; then
`pipeline("audio-classification", ...)` classifies the held-out recordings from the saved folder, by name.
"""

import json

import datasets
import numpy as np
import pytest
from transformers import pipeline

from sam_audio_raga.synthetic import SyntheticRagaConfig, load_synthetic_dataset


# Kalyani (S R2 G3 M2 P D2 N3) and Todi (S R1 G2 M1 P D1 N2) share only Sa and Pa.
RAGAS = ("Kalyani", "Todi")
CORPUS = SyntheticRagaConfig(recordings_per_raga=8, clips_per_recording=2, clip_seconds=5.0)
# The last recordings of each raga are never trained or validated on.
HELD_OUT_RECORDINGS = 3
TRAINING = [
    "--epochs", "25", "--lr", "3.0e-3", "--max_length_seconds", "5", "--save_total_limit", "1",
    # The auxiliary losses slow a model this small down; the classification path is what is checked here.
    "--mask_weight", "0", "--contrastive_weight", "0",
    # Two validation recordings per raga: their loss picks the epoch more finely than their accuracy would.
    "--metric_for_best_model", "loss",
]  # fmt: skip


def recording_index(recording_id: str) -> int:
    return int(recording_id.rsplit("-", 1)[-1])


@pytest.fixture(scope="module")
def corpus() -> datasets.Dataset:
    loaded = load_synthetic_dataset(CORPUS)
    return loaded.filter(lambda raga: raga in RAGAS, input_columns="raga")


@pytest.fixture(scope="module")
def trained_folder(corpus, tmp_path_factory, run_training, tiny_model_flags, quick_run_flags):
    """Train on the first recordings of each raga (split by recording for validation); the saved folder."""
    tmp_path = tmp_path_factory.mktemp("end_to_end")
    first_held_out = CORPUS.recordings_per_raga - HELD_OUT_RECORDINGS
    seen = [recording_index(name) < first_held_out for name in corpus["recording_id"]]
    datasets.DatasetDict({"train": corpus.select(np.flatnonzero(seen))}).save_to_disk(tmp_path / "data")
    output_dir = tmp_path / "model"
    status, stderr = run_training(
        [
            "--dataset_name", str(tmp_path / "data"), "--group_column_name", "recording_id",
            "--output_dir", str(output_dir),
            *tiny_model_flags, *quick_run_flags, *TRAINING,
        ]
    )  # fmt: skip
    assert status == 0, stderr[-3000:]
    return output_dir


def test_the_saved_folder_names_the_ragas_of_held_out_recordings(corpus, trained_folder):
    held_out: dict[str, list[dict]] = {}
    for row in corpus:
        if recording_index(row["recording_id"]) >= CORPUS.recordings_per_raga - HELD_OUT_RECORDINGS:
            held_out.setdefault(row["recording_id"], []).append(row)
    assert len(held_out) == len(RAGAS) * HELD_OUT_RECORDINGS

    classifier = pipeline("audio-classification", model=str(trained_folder), trust_remote_code=True)
    answers = {}
    for recording_id, clips in held_out.items():
        audio = np.concatenate([clip["audio"]["array"] for clip in clips]).astype(np.float32)
        answers[recording_id] = classifier({"raw": audio, "sampling_rate": 16000}, top_k=len(RAGAS))
    assert all({entry["label"] for entry in answer} == set(RAGAS) for answer in answers.values())
    correct = [answer[0]["label"] == clips[0]["raga"] for answer, clips in zip(answers.values(), held_out.values())]
    # Chance is 1/2; a model that learnt nothing answers one raga for every recording (3 of 6), and swapped label
    # names turn a right answer into a wrong one.
    assert sum(correct) >= len(correct) - 1, answers


def test_training_lowers_the_loss_and_the_folder_keeps_the_label_names(trained_folder):
    config = json.loads((trained_folder / "config.json").read_text())
    assert config["id2label"] == {"0": "Kalyani", "1": "Todi"}
    assert config["label2id"] == {"Kalyani": 0, "Todi": 1}
    state = json.loads((trained_folder / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    first, last = np.mean(losses[:4]), np.mean(losses[-4:])
    assert last < 0.5 * first, losses
    evaluations = [entry["eval_loss"] for entry in state["log_history"] if "eval_loss" in entry]
    assert min(evaluations) < 0.5 * evaluations[0], evaluations
