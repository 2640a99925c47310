"""The set-up and layout: conda's environment.yml installs the pins of requirements.txt, installing adds the Hub files,
the run scripts and one package, and the README's file table matches the tree."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
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


def installed_layout() -> dict:
    """The top-level modules and packages `setup.py` installs, as setuptools reads them."""
    script = (
        "import json, setuptools\n"
        "from distutils.core import run_setup\n"
        "dist = run_setup('setup.py', stop_after='init')\n"
        "print(json.dumps({'modules': dist.py_modules, 'packages': dist.packages}))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_installing_adds_the_hub_files_the_run_scripts_and_one_package():
    layout = installed_layout()
    assert len(layout["modules"]) <= 7
    assert {package.split(".")[0] for package in layout["packages"]} == {"sam_audio_raga"}
    # Every top-level Python file but the web demo is installed; every package module is in an installed package.
    assert {path.stem for path in ROOT.glob("*.py")} - {"setup", "app"} == set(layout["modules"])
    package_dirs = {
        path.parent.relative_to(ROOT).as_posix().replace("/", ".") for path in ROOT.glob("sam_audio_raga/**/*.py")
    }
    assert package_dirs - {"sam_audio_raga.metrics.accuracy", "sam_audio_raga.metrics.f1"} == set(layout["packages"])


def tracked_files() -> list[str]:
    """The files of the checkout, as git lists them (the layout tests need a git checkout)."""
    try:
        listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the layout tests read the tracked files")
    return listing.stdout.split()


def tracked_python_files() -> list[Path]:
    return [ROOT / name for name in tracked_files() if name.endswith(".py")]


def test_no_module_but_the_model_is_over_700_lines():
    long = {
        path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
        for path in tracked_python_files()
        if len(path.read_text().splitlines()) > 700
    }
    assert set(long) <= {"modeling_sam_audio.py"}, long


def test_tests_benchmarks_and_scripts_import_the_installed_code():
    offenders = []
    for path in tracked_python_files():
        relative = path.relative_to(ROOT).as_posix()
        if not relative.startswith(("tests/", "benchmarks/", "scripts/")):
            continue
        text = path.read_text()
        if re.search(r"sys\.path\.(insert|append|extend)\(|sys\.path\s*=|site\.addsitedir", text):
            offenders.append(f"{relative}: edits the import path")
        if relative.startswith("tests/"):
            # Test modules share code through conftest.py fixtures and testing_utils.py, never through each other.
            offenders += [
                f"{relative}: imports {name}" for name in re.findall(r"^\s*(?:from|import) (test_\w+)", text, re.M)
            ]
    assert not offenders, offenders


def test_no_private_name_crosses_a_module_of_the_package():
    offenders = []
    for path in ROOT.glob("sam_audio_raga/**/*.py"):
        text = path.read_text()
        for names in re.findall(r"^\s*from \S+ import \(?([^)]*?)\)?$", text, re.M | re.S):
            offenders += [f"{path.name}: {name}" for name in re.findall(r"\b(_[a-z]\w*)", names)]
    assert not offenders, offenders


def test_the_readme_file_table_matches_the_tree():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Files", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([\w./-]+)`", table))
    # Every path the table names exists ...
    paths = {name for name in named if "/" in name or re.search(r"\.(py|ya?ml|txt|toml)$", name)}
    missing = {
        name
        for name in paths
        if not any((ROOT / folder / name).exists() for folder in (".", "tests", "sam_audio_raga/synthetic"))
    }
    assert not missing, missing
    # ... and every tracked file or folder at the root, and every module of the package, is named.
    listing = tracked_files()
    top_level = {name.split("/")[0] + ("/" if "/" in name else "") for name in listing if not name.startswith(".")}
    unnamed = {
        name
        for name in top_level - {"README.md", "BENCHMARKS.md"}
        if not any(entry == name or (name.endswith("/") and entry.startswith(name)) for entry in named)
    }
    modules = {name for name in listing if name.startswith("sam_audio_raga/") and name.endswith(".py")}
    unnamed |= {
        name
        for name in modules
        if name not in named
        and Path(name).name not in named
        and not any(name.startswith(folder) for folder in named if folder.endswith("/"))
        and not name.endswith("__init__.py")
    }
    assert not unnamed, unnamed
