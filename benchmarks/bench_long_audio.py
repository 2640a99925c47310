"""Benchmark: classify one long synthetic concert through the SAM-Audio pipeline, and report time and memory.

    python benchmarks/bench_long_audio.py [--model DIR] [--minutes 60] [--sampling-rate 44100] [--format flac]
                                          [--batch-size 8] [--window-seconds 20]

Without `--model`, a randomly initialised classifier with the default `SamAudioConfig` (the architecture that is
trained) is saved with `save_pretrained_with_pipeline` to a temporary folder. The recording is synthesised a few
minutes at a time and appended to a temporary file, so the benchmark process never holds it whole. Classification
then runs in a fresh child process that loads the folder with the plain `pipeline("audio-classification", model=...,
trust_remote_code=True)` call, so its peak RSS is that of the pipeline alone (model, libraries and windows), not of
the synthesis. Printed: audio length, number of windows, wall time of the classification, real-time factor
(processing time / audio time) and the child's peak RSS, before and after classifying.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
# Synthesised and written this many seconds at a time.
PIECE_SECONDS = 300.0


def build_model(directory: Path) -> None:
    """Save a randomly initialised default-size classifier over the synthetic ragas, with the custom pipeline."""
    import torch

    from configuration_sam_audio import SamAudioConfig
    from feature_extraction_sam_audio import SamAudioFeatureExtractor
    from modeling_sam_audio import SamAudioForAudioClassification
    from pipeline_sam_audio import save_pretrained_with_pipeline
    from sam_audio_raga.synthetic import RAGA_NAMES

    config = SamAudioConfig(
        id2label=dict(enumerate(RAGA_NAMES)), label2id={name: index for index, name in enumerate(RAGA_NAMES)}
    )
    torch.manual_seed(0)
    model = SamAudioForAudioClassification(config).eval()
    save_pretrained_with_pipeline(model, SamAudioFeatureExtractor(), directory)


def write_recording(path: Path, minutes: float, sampling_rate: int, audio_format: str) -> float:
    """Synthesise a concert of `minutes` (stereo, a few ragas in turn) piece by piece into `path`; returns seconds."""
    import numpy as np
    import soundfile as sf

    from sam_audio_raga.synthetic import generate_clip

    rng = np.random.default_rng(0)
    ragas = [("Kalyani", "violin"), ("Todi", "voice"), ("Varali", "flute"), ("Hamsanaadam", "veena")]
    total = minutes * 60.0
    target = path if audio_format != "mp3" else path.with_suffix(".wav")
    subtype = "PCM_16" if audio_format in ("wav", "mp3") else None
    with sf.SoundFile(target, "w", samplerate=sampling_rate, channels=2, subtype=subtype) as sink:
        written, index = 0.0, 0
        while written < total:
            seconds = min(PIECE_SECONDS, total - written)
            raga, timbre = ragas[index % len(ragas)]
            piece = 0.5 * generate_clip(raga, 146.8, timbre, seconds=seconds, sampling_rate=sampling_rate, rng=rng)
            sink.write(np.stack([piece, 0.8 * piece], axis=1))
            written += seconds
            index += 1
    if audio_format == "mp3":
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-i", str(target), "-b:a", "192k", str(path)], check=True
        )
        target.unlink()
    return total


# Peak RSS is read from VmHWM (Linux): a child's `ru_maxrss` starts at its parent's RSS at the fork, here that of the
# synthesis, while VmHWM covers only the child's own address space.
CHILD = """
    import json, resource, sys, time
    from transformers import pipeline
    from transformers.utils import logging

    def peak_mib():
        try:
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    logging.disable_progress_bar()
    model, audio, batch_size, window_seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    classifier = pipeline("audio-classification", model=model, trust_remote_code=True, device="cpu")
    loaded_mib = peak_mib()
    start = time.perf_counter()
    result = classifier(audio, return_timeline=True, batch_size=batch_size, window_seconds=window_seconds, top_k=3)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "pipeline": type(classifier).__module__ + "." + type(classifier).__name__,
        "seconds": seconds,
        "windows": len(result["timeline"]),
        "duration": result["duration"],
        "labels": result["labels"],
        "loaded_mib": loaded_mib,
        "peak_mib": peak_mib(),
    }))
"""


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="Model folder (default: a random default-size model).")
    parser.add_argument("--minutes", type=float, default=60.0, help="Length of the recording (default: 60).")
    parser.add_argument("--sampling-rate", type=int, default=44100, help="Rate of the file (default: 44100).")
    parser.add_argument("--format", choices=("flac", "wav", "mp3"), default="flac", help="File format (flac).")
    parser.add_argument("--batch-size", type=int, default=8, help="Windows per forward pass (default: 8).")
    parser.add_argument("--window-seconds", type=float, default=20.0, help="Window length (default: 20).")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sam-audio-bench-") as scratch:
        scratch = Path(scratch)
        model = args.model
        if model is None:
            model = scratch / "model"
            build_model(model)
        audio = scratch / f"concert.{args.format}"
        start = time.perf_counter()
        seconds = write_recording(audio, args.minutes, args.sampling_rate, args.format)
        synthesis = time.perf_counter() - start
        # Flush the fresh file, so that the timed reads do not compete with the write-back of hundreds of MiB.
        os.sync()
        print(
            f"recording: {seconds / 60:.0f} min, {args.sampling_rate} Hz stereo {args.format}, "
            f"{audio.stat().st_size / 2**20:.0f} MiB on disk (synthesised in {synthesis:.0f} s)",
            flush=True,
        )
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                textwrap.dedent(CHILD),
                str(model),
                str(audio),
                str(args.batch_size),
                str(args.window_seconds),
            ],
            capture_output=True,
            text=True,
            cwd=scratch,
        )
        if completed.returncode != 0:
            print(completed.stderr, file=sys.stderr)
            return completed.returncode
        report = json.loads(completed.stdout.strip().splitlines()[-1])

    print(f"pipeline: {report['pipeline']}")
    print(f"model: {args.model or 'random default-size SamAudioConfig'}, batch size {args.batch_size}")
    print(f"windows: {report['windows']} of {args.window_seconds:g} s over {report['duration'] / 60:.1f} min")
    print(f"wall time: {report['seconds']:.1f} s")
    rtf = report["seconds"] / report["duration"]
    print(f"real-time factor: {rtf:.4f} (processing / audio time; {1 / rtf:.0f}x faster than real time)")
    print(f"peak RSS: {report['peak_mib']:.0f} MiB (after loading the model: {report['loaded_mib']:.0f} MiB)")
    print("top labels: " + ", ".join(f"{entry['label']} {entry['score']:.3f}" for entry in report["labels"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
