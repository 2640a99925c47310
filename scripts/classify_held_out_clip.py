"""Test a trained model on recordings it has never heard (new synthetic performances) through `pipeline(...)`.

python scripts/classify_held_out_clip.py outputs/demo [--seed 2026] [--recordings-per-raga 2] [--variant standard]

Prints the test accuracy over clips of new recordings (their own seed, so neither training nor checkpoint selection
saw them), then the top three ragas of one clip at 44.1 kHz.
"""

import argparse

import numpy as np
from transformers import pipeline

from sam_audio_raga.synthetic import (
    RAGA_NAMES,
    TIMBRES,
    SyntheticRagaConfig,
    generate_clip,
    load_synthetic_dataset,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="folder written by run_raga_classification.py")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the new recordings (not the corpus seed)")
    parser.add_argument("--recordings-per-raga", type=int, default=2, help="new recordings per raga in the test set")
    parser.add_argument("--variant", default="standard", help="synthetic variant of the test set")
    args = parser.parse_args(argv)

    classifier = pipeline("audio-classification", model=args.model, trust_remote_code=True)
    test_set = load_synthetic_dataset(
        SyntheticRagaConfig(
            recordings_per_raga=args.recordings_per_raga, clips_per_recording=2, seed=args.seed, variant=args.variant
        )
    )
    clips = [{"raw": np.asarray(row["array"], dtype=np.float32), "sampling_rate": row["sampling_rate"]}
             for row in test_set["audio"]]  # fmt: skip
    predictions = [result[0]["label"] for result in classifier(clips, top_k=1)]
    correct = sum(predicted == raga for predicted, raga in zip(predictions, test_set["raga"]))
    recordings = len(set(test_set["recording_id"]))
    print(f"Test accuracy {correct / len(clips):.4f} ({correct} of {len(clips)} clips from {recordings} new "
          f"recordings, {args.variant} variant, seed {args.seed})")  # fmt: skip

    rng = np.random.default_rng([args.seed, 7])
    raga = RAGA_NAMES[rng.integers(len(RAGA_NAMES))]
    timbre = TIMBRES[rng.integers(len(TIMBRES))]
    tonic_hz = float(rng.uniform(130.0, 280.0))
    clip = generate_clip(raga, tonic_hz, timbre, seconds=20.0, sampling_rate=44100, rng=rng)
    top_three = classifier({"raw": clip, "sampling_rate": 44100}, top_k=3)
    print(f"Held-out clip: {raga}, tonic {tonic_hz:.1f} Hz, {timbre}, 20 s at 44.1 kHz (a recording never trained on)")
    for rank, prediction in enumerate(top_three, start=1):
        print(f"  {rank}. {prediction['label']:<18} {prediction['score']:.3f}")
    print("correct" if top_three[0]["label"] == raga else "wrong")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
