"""A saved folder is what a Hub upload holds: it must load with the Auto classes in a process without this package."""

import json

import numpy as np
import pytest
import torch

from feature_extraction_sam_audio import SamAudioFeatureExtractor
from modeling_sam_audio import SamAudioForAudioClassification, SamAudioModel
from testing_utils import run_isolated


RAGAS = ["Kalyani", "Kharaharapriya", "Mayamalavagoulai", "Todi"]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, make_tiny_model):
    directory = tmp_path_factory.mktemp("saved")
    model = make_tiny_model(RAGAS)
    model.save_pretrained(directory)
    SamAudioFeatureExtractor().save_pretrained(directory)
    clip = np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32)
    np.save(directory / "clip.npy", clip)
    with torch.no_grad():
        inputs = SamAudioFeatureExtractor()(clip, sampling_rate=16000, return_tensors="pt")
        np.save(directory / "expected_logits.npy", model(**inputs).logits.numpy())
    return directory


def test_saved_folder_holds_code_and_auto_map(saved_model):
    files = {path.name for path in saved_model.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= files
    assert {"configuration_sam_audio.py", "modeling_sam_audio.py"} <= files
    config = json.loads((saved_model / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_sam_audio.SamAudioModel"
    assert config["auto_map"]["AutoModelForAudioClassification"].endswith("SamAudioForAudioClassification")
    preprocessor = json.loads((saved_model / "preprocessor_config.json").read_text())
    assert preprocessor["auto_map"]["AutoFeatureExtractor"].endswith("SamAudioFeatureExtractor")


def test_loads_in_fresh_process_with_identical_logits_and_pipeline(saved_model, tmp_path):
    script = f"""
        import json, sys
        import numpy as np, torch
        from transformers import AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification, pipeline
        directory = {str(saved_model)!r}
        model = AutoModelForAudioClassification.from_pretrained(directory, trust_remote_code=True).eval()
        extractor = AutoFeatureExtractor.from_pretrained(directory, trust_remote_code=True)
        clip = np.load(directory + "/clip.npy")
        with torch.no_grad():
            logits = model(**extractor(clip, sampling_rate=16000, return_tensors="pt")).logits.numpy()
        expected = np.load(directory + "/expected_logits.npy")
        base = AutoModel.from_pretrained(directory, trust_remote_code=True)
        classifier = pipeline("audio-classification", model=directory, trust_remote_code=True)
        from_array = classifier(clip, top_k=2)
        from_dict = classifier({{"raw": np.tile(clip, 3)[: 44100 * 2], "sampling_rate": 44100}}, top_k=4)
        print(json.dumps({{
            "model_module": type(model).__module__,
            "base_class": type(base).__name__,
            "package_imported": "modeling_sam_audio" in sys.modules,
            "max_diff": float(np.abs(logits - expected).max()),
            "from_array": from_array,
            "from_dict": from_dict,
        }}))
    """
    result = run_isolated(script, cwd=tmp_path, hf_home=tmp_path / "hf_home")
    assert result["model_module"].startswith("transformers_modules")
    assert not result["package_imported"]
    assert result["base_class"] == "SamAudioModel"
    # Float reductions may be ordered differently in another process (thread pool state), hence no exact equality.
    assert result["max_diff"] <= 1e-5
    assert {entry["label"] for entry in result["from_dict"]} == set(RAGAS)
    assert abs(sum(entry["score"] for entry in result["from_dict"]) - 1.0) < 1e-4
    # The pipeline's answer for the clip, by name: the two ragas of the largest saved logits, with their softmax.
    logits = np.load(saved_model / "expected_logits.npy")[0]
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    top = np.argsort(-probabilities)[:2]
    assert [entry["label"] for entry in result["from_array"]] == [RAGAS[index] for index in top]
    assert [entry["score"] for entry in result["from_array"]] == pytest.approx(probabilities[top].tolist(), abs=1e-4)


def test_auto_classes_without_remote_code(saved_model):
    from transformers import AutoModel, AutoModelForAudioClassification

    from modeling_sam_audio import register_auto_classes

    register_auto_classes()
    assert isinstance(AutoModelForAudioClassification.from_pretrained(saved_model), SamAudioForAudioClassification)
    assert isinstance(AutoModel.from_pretrained(saved_model), SamAudioModel)
