"""Classify one clip the model has never heard (a new synthetic recording) through `pipeline(...)`.

python scripts/classify_held_out_clip.py outputs/demo [--seed 2026]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from transformers import pipeline


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from synthetic_ragas import RAGA_NAMES, TIMBRES, generate_clip  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="folder written by run_raga_classification.py")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the new recording (not in the corpus)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng([args.seed, 7])
    raga = RAGA_NAMES[rng.integers(len(RAGA_NAMES))]
    timbre = TIMBRES[rng.integers(len(TIMBRES))]
    tonic_hz = float(rng.uniform(130.0, 280.0))
    clip = generate_clip(raga, tonic_hz, timbre, seconds=20.0, sampling_rate=44100, rng=rng)

    classifier = pipeline("audio-classification", model=args.model, trust_remote_code=True)
    predictions = classifier({"raw": clip, "sampling_rate": 44100}, top_k=3)
    print(f"Held-out clip: {raga}, tonic {tonic_hz:.1f} Hz, {timbre}, 20 s at 44.1 kHz (a recording never trained on)")
    for rank, prediction in enumerate(predictions, start=1):
        print(f"  {rank}. {prediction['label']:<18} {prediction['score']:.3f}")
    print("correct" if predictions[0]["label"] == raga else "wrong")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
