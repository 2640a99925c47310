"""Draw the README's pictures with a trained model: a timeline of a three-raga concert and a segment-attention map.

python scripts/make_readme_pictures.py outputs/demo [--output-dir docs] [--seed 2027]

The concert is one new synthetic recording (one performer, tonic, instrument and room) that plays three ragas in
turn for a minute each. It goes through `sam-audio-predict`, which writes both pictures.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from sam_audio_raga.predict import main as predict
from sam_audio_raga.synthetic import generate_clip, sample_recording_style


CONCERT = (("Kalyani", 60.0), ("Todi", 60.0), ("Hamsanaadam", 60.0))
TONIC_HZ = 146.8
TIMBRE = "violin"
SAMPLING_RATE = 16000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="folder written by run_raga_classification.py")
    parser.add_argument("--output-dir", type=Path, default=Path("docs"))
    parser.add_argument("--seed", type=int, default=2027, help="seed of the new recording (not in the corpus)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng([args.seed, 11])
    style = sample_recording_style(rng)
    parts = [generate_clip(raga, TONIC_HZ, TIMBRE, seconds=seconds, rng=rng, style=style) for raga, seconds in CONCERT]
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        concert = Path(directory) / "concert.flac"
        soundfile.write(concert, np.concatenate(parts), SAMPLING_RATE)
        print("concert: " + ", then ".join(f"{raga} for {seconds:.0f} s" for raga, seconds in CONCERT))
        return predict([str(concert), "--model", args.model, "--top-k", "3", "--hop-seconds", "10",
                        "--timeline", str(args.output_dir / "timeline.png"),
                        "--attention", str(args.output_dir / "attention.png")])  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
