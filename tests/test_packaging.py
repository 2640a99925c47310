"""The set-up files agree: conda's environment.yml installs exactly the pins of requirements.txt."""

from pathlib import Path

import yaml


ROOT = Path(__file__).resolve().parent.parent


def requirement_pins() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_environment_yml_pins_are_those_of_requirements_txt():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_packages = [item for item in environment["dependencies"] if isinstance(item, str)]
    pip_sections = [item["pip"] for item in environment["dependencies"] if isinstance(item, dict)]
    assert len(pip_sections) == 1
    assert pip_sections[0] == [*requirement_pins(), "-e ."]
    assert "pip" in conda_packages and any(package.startswith("ffmpeg") for package in conda_packages)
    assert "conda-forge" in environment["channels"]
