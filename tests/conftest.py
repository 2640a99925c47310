import os
import sys
from pathlib import Path


# The package's modules live at the repository root (py_modules); make them importable without an install too.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Tests never reach the network and never write into the user's caches.
os.environ.setdefault("HF_HOME", str(ROOT / ".cache" / "huggingface"))
os.environ.setdefault("SAM_AUDIO_CACHE", str(ROOT / ".cache" / "sam_audio"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
