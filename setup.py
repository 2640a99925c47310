from pathlib import Path

from setuptools import find_packages, setup


setup(
    name="sam-audio-raga",
    version="0.1.0",
    description="SAM-Audio: segment tokens over an audio encoder, for Carnatic raga classification",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # The files a Hub model folder holds (copied next to the weights), and the two run scripts.
    py_modules=[
        "configuration_sam_audio",
        "feature_extraction_sam_audio",
        "modeling_sam_audio",
        "pipeline_sam_audio",
        "audio_io_sam_audio",
        "run_raga_classification",
        "run_pretraining",
    ],
    # Everything else: data, the synthetic corpus, evaluation and metrics, Hub helpers, the CLI, pictures.
    packages=find_packages(include=["sam_audio_raga", "sam_audio_raga.*"]),
    package_data={"sam_audio_raga": ["metrics/*/*.py"]},
    entry_points={"console_scripts": ["sam-audio-predict=sam_audio_raga.predict:main"]},
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
