from pathlib import Path

from setuptools import setup


setup(
    name="sam-audio-raga",
    version="0.1.0",
    description="SAM-Audio: segment tokens over an audio encoder, for Carnatic raga classification",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    py_modules=[
        "configuration_sam_audio",
        "feature_extraction_sam_audio",
        "modeling_sam_audio",
        "lora_sam_audio",
        "data_sam_audio",
        "evaluation_sam_audio",
        "hub_sam_audio",
        "run_raga_classification",
        "run_pretraining",
        "synthetic_ragas",
        "raga_synthesis",
        "raga_conditions",
        "pipeline_sam_audio",
        "predict_sam_audio",
        "visualization_sam_audio",
    ],
    entry_points={"console_scripts": ["sam-audio-predict=predict_sam_audio:main"]},
    packages=["sam_audio_metrics.accuracy", "sam_audio_metrics.f1"],
    package_data={"sam_audio_metrics.accuracy": ["*.py"], "sam_audio_metrics.f1": ["*.py"]},
    install_requires=[
        "torch>=2.8,<2.15",
        "torchaudio>=2.8,<2.12",
        "torchcodec>=0.12,<0.18",
        "soundfile>=0.13",
        "transformers>=5.23,<6",
        "datasets>=5.2,<6",
        "peft>=0.21.2,<1",
        "accelerate>=1.15,<2",
        "evaluate>=0.4.6,<0.5",
        "wandb>=0.31,<1",
        "PyYAML>=6",
        "matplotlib>=3.8",
    ],
    extras_require={
        "dev": ["pytest>=8", "ruff>=0.15", "selenium>=4.51"],
        # The web demo, app.py.
        "demo": ["gradio>=6.31,<7", "gradio_client>=2.7.2,<3"],
    },
)
