#!/usr/bin/env bash
# Creates $VENV with the tested dependency versions. Safe to run again: every step checks before it acts.
set -euo pipefail

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}

# torchcodec (audio decoding in `datasets`) loads FFmpeg's shared libraries; the pipeline runs the ffmpeg CLI on files.
if ! command -v ffmpeg >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ffmpeg with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
  else
    echo "setup: ffmpeg is missing. Install it (e.g. 'sudo apt-get install ffmpeg', 'brew install ffmpeg' or" \
         "'conda install ffmpeg') and run 'make setup' again." >&2
    exit 1
  fi
fi

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  PYTHON=python3
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "setup: Python >= 3.10 is required; set PYTHON=/path/to/python3.x" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi

echo "setup: installing requirements.txt"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .

# The PyPI torchaudio wheel links CUDA libraries. Where they are absent its native extension fails to load; the
# parts used here (resampling, mel filterbanks) are pure Python and work once the extension is out of the way.
if ! "$VENV/bin/python" -c 'import torchaudio' >/dev/null 2>&1; then
  torchaudio_dir=$("$VENV/bin/python" -c \
    'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("torchaudio").origin))')
  echo "setup: torchaudio's native extension does not load here (no CUDA libraries); removing it"
  rm -f "$torchaudio_dir"/lib/*.so
  "$VENV/bin/python" -c 'import torchaudio.functional'
fi

if ! "$VENV/bin/python" -c 'from torchcodec.decoders import AudioDecoder' >/dev/null 2>&1; then
  echo "setup: torchcodec cannot load FFmpeg; check that ffmpeg's shared libraries (libavcodec...) are installed." >&2
  "$VENV/bin/python" -c 'from torchcodec.decoders import AudioDecoder'
  exit 1
fi
echo "setup: done ($("$VENV/bin/python" -c 'import torch, transformers; print("torch", torch.__version__, "/ transformers", transformers.__version__)'))"
