"""Mixed-precision training and inference of SAM-Audio on a CUDA GPU.

For each precision asked (`bf16` by default; `fp16` too with `--precision bf16 fp16`), trains
`run_raga_classification.py --config config.yaml` on the synthetic raga corpus for `--steps` steps with `--bf16 true`
(or `--fp16 true`) in a child process, checks that the training loss falls (mean of the last tenth of the logged
losses below that of the first tenth), then times the trained model's forward pass on 20 s clips at batch 1 and 64
under `torch.autocast` in that precision. Prints a markdown table; exits 1 if a loss did not fall, and 2, with one
line on stderr, when there is no CUDA device.

    python benchmarks/bench_gpu.py                          # bf16, 300 steps of batch 16
    python benchmarks/bench_gpu.py --precision bf16 fp16 --steps 500 --work-dir /tmp/bench-gpu
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLING_RATE = 16000
CLIP_SECONDS = 20.0
DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", nargs="+", choices=sorted(DTYPES), default=["bf16"])
    parser.add_argument("--steps", type=int, default=300, help="training steps per precision (default: 300)")
    parser.add_argument("--batch-size", type=int, default=16, help="training batch size (default: 16)")
    parser.add_argument("--inference-batch-sizes", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeats", type=int, default=20, help="timed forward passes per batch size")
    parser.add_argument("--recordings-per-raga", type=int, default=3, help="synthetic corpus size (8 clips each)")
    parser.add_argument("--workers", type=int, default=4, help="dataloader workers of the training runs")
    parser.add_argument("--work-dir", type=Path, default=None, help="kept afterwards (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.steps < 20 or args.batch_size < 1 or min(args.inference_batch_sizes) < 1 or args.repeats < 1:
        parser.error("--steps must be at least 20, and batch sizes and --repeats positive")
    return args


def train(precision: str, args: argparse.Namespace, work_dir: Path) -> dict:
    """One training run of the run script in `precision`; the logged losses and the run's wall time."""
    output_dir = work_dir / f"model-{precision}"
    command = [
        sys.executable, str(REPO_ROOT / "run_raga_classification.py"), "--config", str(REPO_ROOT / "config.yaml"),
        "--dataset_name", "synthetic", "--synthetic_recordings_per_raga", str(args.recordings_per_raga),
        "--group_column_name", "recording_id", f"--{precision}", "true", "--max_steps", str(args.steps),
        "--batch-size", str(args.batch_size), "--logging_steps", "5", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--report_to", "none", "--dataloader_num_workers", str(args.workers),
        "--dataloader_persistent_workers", str(args.workers > 0).lower(), "--output_dir", str(output_dir),
    ]  # fmt: skip
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    environment.setdefault("SAM_AUDIO_CACHE", str(work_dir / "corpus-cache"))
    start = time.perf_counter()
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"error: the {precision} training run failed:\n{result.stderr[-3000:]}")
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    runtime = next(entry["train_runtime"] for entry in history if "train_runtime" in entry)
    return {"losses": losses, "seconds": seconds, "train_runtime": runtime, "output_dir": output_dir}


def time_inference(model_dir: Path, precision: str, args: argparse.Namespace) -> dict[int, float]:
    """Median milliseconds of one forward pass on `batch` random 20 s clips, under autocast in `precision`."""
    import torch

    from modeling_sam_audio import SamAudioForAudioClassification

    model = SamAudioForAudioClassification.from_pretrained(model_dir).to("cuda").eval()
    dtype = getattr(torch, DTYPES[precision])
    timings = {}
    for batch in args.inference_batch_sizes:
        inputs = torch.randn(batch, round(CLIP_SECONDS * SAMPLING_RATE), device="cuda")
        samples = []
        with torch.inference_mode(), torch.autocast("cuda", dtype=dtype):
            for repeat in range(args.repeats + 3):  # 3 warm-up passes
                torch.cuda.synchronize()
                start = time.perf_counter()
                model(inputs)
                torch.cuda.synchronize()
                if repeat >= 3:
                    samples.append(1000 * (time.perf_counter() - start))
        timings[batch] = statistics.median(samples)
    return timings


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    import torch

    if not torch.cuda.is_available():
        print(
            "bench_gpu: no CUDA device here (torch.cuda.is_available() is False); run it on a GPU machine.",
            file=sys.stderr,
        )
        return 2
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    rows, falls = [], True
    try:
        for precision in args.precision:
            if precision == "bf16" and not torch.cuda.is_bf16_supported():
                print(f"bench_gpu: {torch.cuda.get_device_name()} has no bf16; skipping it.", file=sys.stderr)
                continue
            run = train(precision, args, work_dir)
            tenth = max(1, len(run["losses"]) // 10)
            first, last = statistics.mean(run["losses"][:tenth]), statistics.mean(run["losses"][-tenth:])
            falls &= last < first
            torch.cuda.reset_peak_memory_stats()
            timings = time_inference(run["output_dir"], precision, args)
            peak = torch.cuda.max_memory_allocated() / 2**20
            rows.append((precision, first, last, run["train_runtime"], timings, peak))
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)

    print(f"\n{torch.cuda.get_device_name()}, {args.steps} steps of batch {args.batch_size}, config.yaml model\n")
    timed = args.inference_batch_sizes
    header = " | ".join(f"batch {batch} (ms, clips/s)" for batch in timed)
    print(f"| precision | loss: first tenth | last tenth | falls | train (s, steps/s) | {header} | peak memory (MB) |")
    print("|---|---:|---:|---|---:|" + "---:|" * len(timed) + "---:|")
    for precision, first, last, runtime, timings, peak in rows:
        cells = " | ".join(f"{timings[batch]:.1f}, {1000 * batch / timings[batch]:.0f}" for batch in timed)
        print(
            f"| {precision} | {first:.3f} | {last:.3f} | {'yes' if last < first else 'NO'} | "
            f"{runtime:.0f}, {args.steps / runtime:.2f} | {cells} | {peak:.0f} |"
        )
    return 0 if falls else 1


if __name__ == "__main__":
    sys.exit(main())
