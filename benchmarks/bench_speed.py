"""CPU speed, memory and FLOPs of SAM-Audio configurations next to wav2vec2 baselines.

Prints one markdown table row per configuration: parameters, forward FLOPs per 20 s clip, training throughput
(16 s crops, forward + backward + AdamW step, auxiliary losses weighted as `SamAudioTrainer` weighs them), inference
latency and real-time factor of a 20 s clip at batch 1 and 16, peak resident memory, and the fraction of this CPU's
measured float32 matmul rate that training and inference reach. Each configuration runs in its own subprocess, so
its peak RSS (VmHWM) is its own; `--only NAME` runs one configuration in this process. Training `wav2vec2-base` at
batch 8 takes about 20 minutes and 21 GB of memory here; leave it out with `--only` on smaller machines.

On a shared machine, a sample during which other processes used the CPUs is not a measurement of the model: with
two threads, every parallel op then waits for a descheduled thread. Each sample therefore records how much CPU other
processes used meanwhile (from /proc/stat), and medians are taken over the clean samples (other processes below
0.1 CPU); sampling continues, within a time budget, until there are enough of them.

    python benchmarks/bench_speed.py                       # every configuration
    python benchmarks/bench_speed.py --quick               # smoke run: 2 s audio, 3 repeats; numbers not comparable
    python benchmarks/bench_speed.py --only sam-audio --repeats 20 --json /tmp/sam-audio.json
    python benchmarks/bench_speed.py --profile --only sam-audio   # per-op and per-module profiles instead

Nothing is written except the `--json` file (and temporary files in a temporary directory).
"""

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count


REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLING_RATE = 16000
NUM_LABELS = 8
NUM_THREADS = 2
SEED = 0
MATMUL_SIZE = 2048
# A sample is clean when other processes used less than this many CPUs on average while it ran.
MAX_OTHER_CPUS = 0.1

# name -> (family, config kwargs). Every entry also gets `num_labels`.
CONFIGS = {
    "sam-audio": ("sam_audio", {}),
    "sam-audio-log-mel": ("sam_audio", {"frontend": "log_mel"}),
    "sam-audio-waveform": ("sam_audio", {"frontend": "waveform"}),
    # The published settings; intermediate_size = 4 * hidden_size as in wav2vec2 and BERT (not given there).
    "sam-carnatic": (
        "sam_audio",
        {
            "frontend": "log_mel",
            "num_mel_bins": 80,
            "n_fft": 1024,
            "hop_length": 256,
            "conv_dim": (64, 128, 256, 512),
            "conv_kernel": (3, 3, 3, 3),
            "conv_stride": (2, 2, 2, 2),
            "num_segment_tokens": 64,
            "num_attention_heads": 8,
            "hidden_size": 512,
            "intermediate_size": 2048,
        },
    ),
    "wav2vec2-base": ("wav2vec2", {}),
    # About the parameter count of `sam-audio`, with its transformer widths (hidden 128, 4 heads, feed-forward
    # 256, 2 layers) on wav2vec2's seven-layer waveform conv stack narrowed to 128 channels.
    "wav2vec2-matched": (
        "wav2vec2",
        {
            "conv_dim": (128,) * 7,
            "hidden_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 256,
            "classifier_proj_size": 128,
        },
    ),
}


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_cpu_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# `FlopCounterMode` knows the CUDA attention kernels but not the CPU flash-attention kernel SDPA dispatches to here.
CPU_FLOP_FORMULAS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_cpu_backward_flops,
}


def build_model(name: str) -> torch.nn.Module:
    family, kwargs = CONFIGS[name]
    if family == "wav2vec2":
        from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

        return Wav2Vec2ForSequenceClassification(Wav2Vec2Config(num_labels=NUM_LABELS, **kwargs))
    from configuration_sam_audio import SamAudioConfig
    from modeling_sam_audio import SamAudioForAudioClassification

    return SamAudioForAudioClassification(SamAudioConfig(num_labels=NUM_LABELS, **kwargs))


def make_inputs(name: str, batch_size: int, seconds: float, labels: bool) -> dict[str, torch.Tensor]:
    """Noise clips of equal length; SAM-Audio also gets the all-ones `attention_mask` its feature extractor returns
    (wav2vec2's base extractor returns none for group-norm models)."""
    input_values = 0.1 * torch.randn(batch_size, round(seconds * SAMPLING_RATE))
    inputs = {"input_values": input_values}
    if CONFIGS[name][0] == "sam_audio":
        inputs["attention_mask"] = torch.ones_like(input_values, dtype=torch.long)
    if labels:
        # Every label twice, so the supervised contrastive loss has positives for every clip.
        inputs["labels"] = torch.arange(batch_size) % max(1, min(NUM_LABELS, batch_size // 2))
    return inputs


def training_loss_of(name: str, model: torch.nn.Module) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    """The training loss of a batch: for SAM-Audio, `SamAudioTrainer.compute_loss` with the loss weights of
    config.yaml; for the others, the model's own loss."""
    if CONFIGS[name][0] != "sam_audio":
        return lambda inputs: model(**inputs).loss
    from run_raga_classification import SamAudioTrainer, parse_arguments

    output_dir = tempfile.mkdtemp(prefix="bench_speed_")
    *_, training_args = parse_arguments(
        [
            "--config",
            str(REPO_ROOT / "config.yaml"),
            "--output_dir",
            output_dir,
            "--report_to",
            "none",
            "--eval_strategy",
            "no",
            "--load_best_model_at_end",
            "false",
        ]  # fmt: skip
    )
    trainer = SamAudioTrainer(model=model, args=training_args)
    return lambda inputs: trainer.compute_loss(model, inputs)


def stft_flops(model: torch.nn.Module, batch_size: int, num_samples: int) -> int:
    """5 N log2 N per frame and clip (complex radix-2 convention), which `FlopCounterMode` does not count."""
    config = model.config
    if getattr(config, "frontend", "waveform") == "waveform":
        return 0
    frames = (num_samples - config.n_fft) // config.hop_length + 1
    return round(batch_size * frames * 5 * config.n_fft * math.log2(config.n_fft))


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False, custom_mapping=CPU_FLOP_FORMULAS) as counter:
        fn()
    return counter.get_total_flops()


def _cpu_seconds() -> tuple[float, float, int]:
    """Busy CPU-seconds of the whole machine (NaN without /proc/stat), this process's CPU-seconds and page faults."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(field) for field in stat.readline().split()[1:9]]
        machine = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait
    except OSError:
        machine = math.nan
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return machine, usage.ru_utime + usage.ru_stime, usage.ru_minflt


def time_calls(
    fn: Callable[[], object], repeats: int, min_sample_seconds: float, budget_seconds: float
) -> list[dict[str, float]]:
    """Samples of seconds per call, each the mean of enough calls to last `min_sample_seconds` (as `timeit`
    autoranges), with the CPUs other processes used meanwhile and this process's page faults per call.

    After warm-up, sampling goes on until `repeats` samples are clean or `budget_seconds` have passed (at least three
    samples in all)."""
    start = time.perf_counter()
    fn()
    if time.perf_counter() - start < budget_seconds / 20:  # a second warm-up call unless calls are slow
        fn()
    singles = []
    for _ in range(3 if time.perf_counter() - start < budget_seconds / 20 else 1):
        call_start = time.perf_counter()
        fn()
        singles.append(time.perf_counter() - call_start)
    calls = max(1, math.ceil(min_sample_seconds / min(singles)))
    samples = []
    sampling_start = time.perf_counter()
    while sum(s["other_cpus"] < MAX_OTHER_CPUS for s in samples) < repeats and (
        len(samples) < 3 or time.perf_counter() - sampling_start < budget_seconds
    ):
        machine, own, faults = _cpu_seconds()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - start
        machine_after, own_after, faults_after = _cpu_seconds()
        other = max(0.0, (machine_after - machine) - (own_after - own)) / elapsed
        samples.append(
            {"seconds": elapsed / calls, "other_cpus": other, "page_faults": (faults_after - faults) / calls}
        )
    return samples


def robust_median(samples: list[dict[str, float]]) -> tuple[float, bool]:
    """Median seconds of the clean samples (and `True`), or of all samples (and `False`) when fewer than 3 are."""
    clean = [s["seconds"] for s in samples if s["other_cpus"] < MAX_OTHER_CPUS]
    if len(clean) >= 3:
        return statistics.median(clean), True
    return statistics.median(s["seconds"] for s in samples), False


def matmul_gflops(repeats: int, budget_seconds: float) -> list[dict[str, float]]:
    """Samples of the float32 `torch.mm` rate of this process's threads, in GFLOP/s."""
    a, b = torch.randn(MATMUL_SIZE, MATMUL_SIZE), torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    samples = time_calls(lambda: torch.mm(a, b), repeats, 0.2, budget_seconds)
    return [s | {"gflops": 2 * MATMUL_SIZE**3 / s["seconds"] / 1e9} for s in samples]


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MiB: VmHWM where Linux has it, else `ru_maxrss`.

    A child's `ru_maxrss` starts at its parent's resident size at the fork and keeps it across `exec`, so it would
    include this script's parent process; VmHWM covers only the child's own address space."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def benchmark(name: str, args: argparse.Namespace) -> dict:
    """Every measurement of one configuration, in this process."""
    torch.manual_seed(SEED)
    model = build_model(name)
    infer_seconds, train_seconds = args.clip_seconds, args.crop_seconds
    result = {
        "name": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "rss_after_build_mb": peak_rss_mb(),
    }
    budget = args.budget_seconds

    model.eval()
    inputs = make_inputs(name, 1, infer_seconds, labels=False)
    # Counted with autograd on (eval mode: the same forward), since FlopCounterMode's module tracker fails on the
    # segment tokens, a view of a parameter, under inference_mode and no_grad.
    result["forward_flops_per_clip"] = count_flops(lambda: model(**inputs))
    result["stft_flops_per_clip"] = stft_flops(model, 1, inputs["input_values"].shape[-1])
    with torch.inference_mode():
        for batch_size in (1, 16):
            inputs = make_inputs(name, batch_size, infer_seconds, labels=False)
            samples = time_calls(lambda: model(**inputs), args.repeats, args.min_sample_seconds, budget)
            result[f"infer_b{batch_size}_samples"] = samples
    del inputs
    result["peak_rss_infer_mb"] = peak_rss_mb()

    model.train()
    inputs = make_inputs(name, args.train_batch_size, train_seconds, labels=True)
    # Fused AdamW is what `TrainingArguments` picks by default (`optim="adamw_torch_fused"`).
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0, fused=True)

    training_loss = training_loss_of(name, model)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        training_loss(inputs).backward()
        optimizer.step()

    def forward_backward():
        optimizer.zero_grad(set_to_none=True)
        training_loss(inputs).backward()

    result["train_flops_per_step"] = count_flops(forward_backward) + stft_flops(
        model, args.train_batch_size, inputs["input_values"].shape[-1]
    )
    result["train_step_samples"] = time_calls(train_step, args.repeats, 0.0, budget)
    result["peak_rss_train_mb"] = peak_rss_mb()
    result["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def summarise(result: dict, args: argparse.Namespace, peak_gflops: float) -> dict:
    """Medians and derived rates of one configuration's samples."""
    flops = result["forward_flops_per_clip"] + result["stft_flops_per_clip"]
    step, step_clean = robust_median(result["train_step_samples"])
    b1, b1_clean = robust_median(result["infer_b1_samples"])
    b16, b16_clean = robust_median(result["infer_b16_samples"])
    peak = peak_gflops * 1e9
    measurements = ("train_step_samples", "infer_b1_samples", "infer_b16_samples")
    return {
        "train_audio_seconds_per_second": args.train_batch_size * args.crop_seconds / step,
        "infer_b1_ms": 1e3 * b1,
        "rtf_b1": args.clip_seconds / b1,
        "infer_b16_ms": 1e3 * b16,
        "rtf_b16": 16 * args.clip_seconds / b16,
        "train_fraction_of_matmul_peak": result["train_flops_per_step"] / step / peak,
        "infer_b1_fraction_of_matmul_peak": flops / b1 / peak,
        "infer_b16_fraction_of_matmul_peak": 16 * flops / b16 / peak,
        "train_flops_over_forward": result["train_flops_per_step"]
        / (flops * args.train_batch_size * args.crop_seconds / args.clip_seconds),
        "medians_of_clean_samples": {"train": step_clean, "infer_b1": b1_clean, "infer_b16": b16_clean},
        "clean_samples": sum(s["other_cpus"] < MAX_OTHER_CPUS for m in measurements for s in result[m]),
        "samples": sum(len(result[m]) for m in measurements),
        "mean_other_cpus": statistics.mean(s["other_cpus"] for m in measurements for s in result[m]),
        "page_faults_per_call": {m: statistics.median(s["page_faults"] for s in result[m]) for m in measurements},
    }


def markdown_table(results: list[dict], args: argparse.Namespace, peak_gflops: float) -> str:
    header = (
        "| configuration | params | GFLOPs / clip (STFT) | train audio-s/s | infer b1 (ms) | RTF b1 | infer b16 (ms) "
        "| RTF b16 | peak RSS infer / train (MB) | % matmul peak train / b1 / b16 | clean samples |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for result in results:
        s = summarise(result, args, peak_gflops)
        mark = {key: "" if clean else "*" for key, clean in s["medians_of_clean_samples"].items()}
        flops = (result["forward_flops_per_clip"] + result["stft_flops_per_clip"]) / 1e9
        lines.append(
            f"| {result['name']} | {result['parameters'] / 1e6:.2f} M | {flops:.2f} "
            f"({result['stft_flops_per_clip'] / 1e9:.2f}) | {s['train_audio_seconds_per_second']:.0f}{mark['train']} "
            f"| {s['infer_b1_ms']:.1f}{mark['infer_b1']} | {s['rtf_b1']:.0f} "
            f"| {s['infer_b16_ms']:.0f}{mark['infer_b16']} | {s['rtf_b16']:.0f} "
            f"| {result['peak_rss_infer_mb']:.0f} / {result['peak_rss_train_mb']:.0f} "
            f"| {100 * s['train_fraction_of_matmul_peak']:.1f} / {100 * s['infer_b1_fraction_of_matmul_peak']:.1f}"
            f" / {100 * s['infer_b16_fraction_of_matmul_peak']:.1f} | {s['clean_samples']}/{s['samples']} |"
        )
    return "\n".join(lines)


def machine_summary() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "num_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
    }


def run_in_subprocesses(names: list[str], args: argparse.Namespace) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_speed_") as tmp:
        for name in names:
            path = Path(tmp) / f"{name}.json"
            command = [sys.executable, str(Path(__file__).resolve()), "--only", name, "--json", str(path)]
            command += ["--repeats", str(args.repeats), "--train-batch-size", str(args.train_batch_size)]
            command += ["--quick"] if args.quick else []
            start = time.perf_counter()
            print(f"{name}: running ... (load average {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
            completed = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"HF_HOME": tmp})
            if completed.returncode != 0:
                sys.stderr.write(completed.stdout + completed.stderr)
                raise SystemExit(f"{name} failed with exit code {completed.returncode}")
            print(f"{name}: done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
            results.append(json.loads(path.read_text())["results"][0])
    return results


def profile(name: str, args: argparse.Namespace) -> None:
    """Per-op tables (self CPU time) and per-module forward times for batch-1 inference and one training step."""
    from torch.profiler import ProfilerActivity, record_function
    from torch.profiler import profile as torch_profile

    torch.manual_seed(SEED)
    model = build_model(name)
    # Label every module's forward, so the per-op table can be read against our own code.
    ranges = {}

    def enter(module, args):
        ranges[module] = record_function(f"## {names[module]}")
        ranges[module].__enter__()

    def leave(module, args, output):
        ranges.pop(module).__exit__(None, None, None)

    names = {module: module_name for module_name, module in model.named_modules() if module_name}
    for module in names:
        module.register_forward_pre_hook(enter)
        module.register_forward_hook(leave)

    infer_inputs = make_inputs(name, 1, args.clip_seconds, labels=False)
    train_inputs = make_inputs(name, args.train_batch_size, args.crop_seconds, labels=True)
    training_loss = training_loss_of(name, model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0, fused=True)

    def infer():
        with torch.inference_mode():
            model.eval()(**infer_inputs)

    def train_step():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with record_function("## (forward)"):
            loss = training_loss(train_inputs)
        with record_function("## (backward)"):
            loss.backward()
        with record_function("## (optimizer step)"):
            optimizer.step()

    for title, fn, calls in (("inference, batch 1", infer, 20), ("training step", train_step, 3)):
        for _ in range(3):
            fn()
        machine, own, _ = _cpu_seconds()
        start = time.perf_counter()
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                fn()
        elapsed = time.perf_counter() - start
        machine_after, own_after, _ = _cpu_seconds()
        other = max(0.0, (machine_after - machine) - (own_after - own)) / elapsed
        events = prof.key_averages()
        ops = [e for e in events if not e.key.startswith("## ")]
        modules = sorted((e for e in events if e.key.startswith("## ")), key=lambda e: -e.cpu_time_total)
        print(
            f"\n### {name}: {title}, {args.clip_seconds if fn is infer else args.crop_seconds:g} s clips "
            f"({calls} calls under the profiler, {1e3 * elapsed / calls:.1f} ms wall per call; other processes used "
            f"{other:.2f} CPUs meanwhile)\n"
        )
        print("| op | self CPU (ms per call) | calls |\n|---|---|---|")
        for event in sorted(ops, key=lambda e: -e.self_cpu_time_total)[: args.profile_rows]:
            print(f"| {event.key} | {event.self_cpu_time_total / 1e3 / calls:.2f} | {event.count // calls} |")
        print("\n| module (forward) or phase | total CPU (ms per call) |\n|---|---|")
        for event in modules[: args.profile_rows]:
            print(f"| {event.key[3:]} | {event.cpu_time_total / 1e3 / calls:.2f} |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"Comma-separated configurations (one runs in this process): {list(CONFIGS)}")
    parser.add_argument("--repeats", type=int, default=10, help="Clean timed samples wanted per measurement.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 2 s clips and crops, 3 repeats.")
    parser.add_argument("--json", type=Path, help="Also write the raw samples and summaries to this file.")
    parser.add_argument("--train-batch-size", type=int, default=8, help="Clips per training step.")
    parser.add_argument("--profile", action="store_true", help="Print profiles of `--only` (default sam-audio).")
    parser.add_argument("--profile-rows", type=int, default=15, help="Rows of each profile table.")
    args = parser.parse_args(argv)
    args.clip_seconds, args.crop_seconds = (2.0, 2.0) if args.quick else (20.0, 16.0)
    args.repeats = 3 if args.quick else args.repeats
    # Samples of fast calls average several calls; each measurement samples for at most this long (3 samples min).
    args.min_sample_seconds = 0.0 if args.quick else 0.2
    args.budget_seconds = 5.0 if args.quick else 90.0
    names = args.only.split(",") if args.only else list(CONFIGS)
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; choose from {list(CONFIGS)}")
    args.names = names
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(NUM_THREADS)
    if args.profile:
        profile(args.names[0] if args.only else "sam-audio", args)
        return

    load_before = os.getloadavg()
    matmul_budget = 2.0 if args.quick else 20.0
    if len(args.names) == 1:
        results = [benchmark(args.names[0], args)]
        peak_samples = matmul_gflops(args.repeats, matmul_budget)  # after the benchmark, so not in the peak RSS
    else:
        peak_samples = matmul_gflops(args.repeats, matmul_budget)
        results = run_in_subprocesses(args.names, args)
        peak_samples += matmul_gflops(args.repeats, matmul_budget)
    peak_seconds, peak_clean = robust_median(peak_samples)
    peak_gflops = 2 * MATMUL_SIZE**3 / peak_seconds / 1e9
    machine = machine_summary() | {"matmul_gflops": peak_gflops, "matmul_samples": peak_samples}

    print(
        f"torch {machine['torch']}, {machine['cpu_capability']}, {machine['cpu_count']} CPUs, "
        f"torch.get_num_threads() = {machine['num_threads']}; float32 {MATMUL_SIZE}x{MATMUL_SIZE} torch.mm: "
        f"{peak_gflops:.0f} GFLOP/s{'' if peak_clean else '*'}; load average (1 min) {load_before[0]:.2f} before, "
        f"{machine['load_average'][0]:.2f} after."
    )
    print(
        f"Inference: {args.clip_seconds:g} s clip, eval mode, torch.inference_mode(). Training: batch "
        f"{args.train_batch_size} x {args.crop_seconds:g} s crops, train mode, forward + backward + fused AdamW. "
        f"Medians of up to {args.repeats} clean samples per measurement."
        + (" QUICK RUN: not comparable.\n" if args.quick else "\n")
    )
    print(markdown_table(results, args, peak_gflops))
    print(
        f"\nClean samples: other processes used < {MAX_OTHER_CPUS} CPU while they ran; * marks a median over all "
        "samples, because fewer than 3 were clean. GFLOPs: FlopCounterMode on one forward (batch 1, eval), plus the "
        "STFT estimated as 5 N log2 N per frame (in brackets; the 36-point tonic-alignment FFTs are not counted). "
        "Training % uses FlopCounterMode on a whole forward + backward step (not 3x forward). RTF = audio seconds / "
        "wall seconds. Peak RSS includes the Python, torch and transformers baseline of the process."
    )
    if args.json:
        for result in results:
            result["summary"] = summarise(result, args, peak_gflops)
        payload = {"machine": machine, "arguments": {k: str(v) for k, v in vars(args).items()}, "results": results}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
