"""Peak memory of training through `--streaming true` against the ordinary (map-style) loading, as the corpus grows.

Writes the synthetic raga corpus as parquet shards (20 by default) with embedded FLAC, in row groups of
`--row-group-size` clips (rows cycle through a pool of generated 20 s clips, each copy with its own file name and
recording id), once per corpus `SHARDSxCLIPS`, then trains `run_raga_classification.py --config config.yaml` on it for
the same number of steps in both modes, each run in its own process. Peak RSS is the child's own (`os.wait4`);
"cache" is what the run wrote under `HF_HOME` (the map-style loader first converts the whole corpus to Arrow files
there; a stream writes nothing). Prints a markdown table.

    python benchmarks/bench_streaming.py                    # corpora 20x32, 20x128 and 80x32, 20 steps of batch 8
    python benchmarks/bench_streaming.py --corpora 20x8 20x32 --steps 10 --work-dir /tmp/bench-streaming

A stream holds the shuffle buffer (`shuffle_buffer_size` encoded clips) and what is being read from up to 10 shards
at once (`datasets` interleaves that many into the buffer): its memory follows the size of the shards, up to a few
row groups each, not the number of clips or shards. The map-style loader's follows the part of the corpus a run
touches.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parent.parent


def folder_size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) if path.exists() else 0


def write_corpus(
    directory: Path, num_shards: int, clips_per_shard: int, row_group_size: int, pool_recordings: int
) -> int:
    """`num_shards` parquet files of `clips_per_shard` rows (raga as a ClassLabel); returns the bytes written."""
    import datasets

    from sam_audio_raga.synthetic import RAGA_NAMES, SyntheticRagaConfig, build_synthetic_dataset

    pool = build_synthetic_dataset(
        SyntheticRagaConfig(recordings_per_raga=pool_recordings, clips_per_recording=4, clip_seconds=20.0)
    )
    pool = pool.cast_column("audio", datasets.Audio(decode=False)).select_columns(["audio", "raga", "recording_id"])
    rows = pool.to_list()
    features = datasets.Features(
        {
            "audio": datasets.Audio(),
            "raga": datasets.ClassLabel(names=list(RAGA_NAMES)),
            "recording_id": datasets.Value("string"),
        }
    )
    directory.mkdir(parents=True)
    for shard in range(num_shards):
        columns = {"audio": [], "raga": [], "recording_id": []}
        for index in range(shard * clips_per_shard, (shard + 1) * clips_per_shard):
            row, copy = rows[index % len(rows)], index // len(rows)
            columns["audio"].append({"bytes": row["audio"]["bytes"], "path": f"copy{copy}-{row['audio']['path']}"})
            columns["raga"].append(row["raga"])
            columns["recording_id"].append(f"{row['recording_id']}-copy{copy}")
        shard_dataset = datasets.Dataset.from_dict(columns, features=features)
        path = directory / f"train-{shard:05d}-of-{num_shards:05d}.parquet"
        shard_dataset.to_parquet(str(path), batch_size=row_group_size)
    return folder_size(directory)


def run(corpus: Path, streaming: bool, args: argparse.Namespace, work_dir: Path) -> dict:
    """One training run in a child process: its wall time, peak RSS and the cache it wrote."""
    name = f"{corpus.name}-{'streaming' if streaming else 'map-style'}"
    hf_home = work_dir / f"hf-{name}"
    command = [
        sys.executable, str(REPO_ROOT / "run_raga_classification.py"), "--config", str(REPO_ROOT / "config.yaml"),
        "--dataset_name", str(corpus), "--group_column_name", "recording_id", "--max_steps", str(args.steps),
        "--batch-size", str(args.batch_size), "--max_eval_samples", "16", "--eval_strategy", "no",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--report_to", "none",
        "--output_dir", str(work_dir / f"out-{name}"), "--streaming", str(streaming).lower(),
    ]  # fmt: skip
    environment = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"error: the {name} run failed:\n{stderr[-3000:]}")
    # On Linux ru_maxrss is in kilobytes.
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "cache_mb": folder_size(hf_home) / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpora", nargs="+", default=["20x32", "20x128", "80x32"], help="SHARDSxCLIPS_PER_SHARD of each corpus"
    )
    parser.add_argument("--row-group-size", type=int, default=8, help="clips per parquet row group (default: 8)")
    parser.add_argument("--pool-recordings", type=int, default=1, help="generated recordings per raga (4 clips each)")
    parser.add_argument("--steps", type=int, default=20, help="training steps of every run (default: 20)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--work-dir", type=Path, default=None, help="kept afterwards (default: a temporary folder)")
    args = parser.parse_args()

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-streaming-"))
    rows = []
    try:
        for name in args.corpora:
            shards, clips_per_shard = (int(number) for number in name.split("x"))
            corpus = work_dir / f"corpus-{name}"
            corpus_bytes = write_corpus(corpus, shards, clips_per_shard, args.row_group_size, args.pool_recordings)
            for streaming in (False, True):
                result = run(corpus, streaming, args, work_dir)
                rows.append((shards, shards * clips_per_shard, corpus_bytes / 2**20, streaming, result))
                print(f"{name}, streaming={streaming}: {result}", file=sys.stderr, flush=True)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)

    print(
        f"\n{args.steps} steps of batch {args.batch_size} (16 s crops of 20 s clips), parquet row groups of "
        f"{args.row_group_size} clips, config.yaml model, this CPU\n"
    )
    print("| corpus (shards, clips, MB of parquet) | loading | peak RSS (MB) | cache written (MB) | wall time (s) |")
    print("|---|---|---:|---:|---:|")
    for shards, clips, megabytes, streaming, result in rows:
        print(
            f"| {shards} shards, {clips} clips, {megabytes:.0f} MB | {'streaming' if streaming else 'map-style'} | "
            f"{result['peak_rss_mb']:.0f} | {result['cache_mb']:.0f} | {result['seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()
