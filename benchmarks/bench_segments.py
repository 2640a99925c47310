"""Do SAM-Audio's segment tokens partition a clip? Overlap and coverage of the last segment layer's attention maps.

    python benchmarks/bench_segments.py --model DIR [--clips 24] [--variant hard] [--json PATH]

`DIR` is a saved model folder (the `output_dir` of `run_raga_classification.py`, or any folder written by
`save_pretrained`), loaded with `AutoModelForAudioClassification` and `AutoFeatureExtractor` (`trust_remote_code`).
The clips are new audio: a small synthetic corpus with generator seed 99 (no training corpus uses it), one clip per
recording, ragas in turn. The model runs with `output_attentions=True`; the last segment layer's token-to-frame
attention `(batch, heads, tokens, frames)` is averaged over heads and each token's map normalised to sum to 1 over
the clip's frames. Per clip:

- **overlap**: the mean over token pairs i < j of sum over frames of min(a_i, a_j). 1 when all tokens attend alike,
  0 for a perfect partition.
- **coverage**: the share of frames where the tokens' maps, summed, exceed half the uniform level
  (0.5 * tokens / frames): frames that no token looks at are not covered.
- **tokens owning frames**: tokens that are the argmax of at least one frame, and the largest share of frames that
  one token owns.

The table gives the mean over clips (and the min / max over clips of the overlap). Untrained references (default
`SamAudioConfig`, 16 tokens, 24 standard clips): with `segment_competition=False` the maps are near-uniform, overlap
0.994; with competition the temporal prior alone already gives overlap 0.046 and coverage 1.0, so compare a trained
model with an untrained one of its own configuration before crediting training with the partition.
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from sam_audio_raga.synthetic import RAGA_NAMES, SyntheticRagaConfig, load_synthetic_dataset


ROOT = Path(__file__).resolve().parent.parent


CLIP_SECONDS = 20.0
SEED = 99
BATCH_SIZE = 8


def segment_partition_stats(attentions: torch.Tensor, frame_mask: torch.Tensor) -> dict[str, list[float] | int]:
    """
    How well the segment tokens' attention maps partition each clip.

    Args:
        attentions (`torch.Tensor` of shape `(batch, heads, tokens, frames)` or `(batch, tokens, frames)`):
            Token-to-frame attention of one segment layer (averaged over heads here when it has a heads axis).
        frame_mask (`torch.Tensor` of shape `(batch, frames)`):
            `True` (or 1) on the frames of real audio, `False` on padding.

    Returns:
        `dict` with per-clip lists `overlap` (mean over token pairs i < j of sum_frames min(a_i, a_j)), `coverage`
        (share of frames where the summed maps exceed half the uniform level), `tokens_owning_frames` (tokens that are
        the argmax of at least one frame) and `largest_owned_share` (share of frames owned by the token owning most),
        plus `num_tokens`.
    """
    maps = attentions.detach().float()
    if maps.dim() == 4:
        maps = maps.mean(dim=1)
    mask = frame_mask.to(maps.device).bool()
    num_frames = mask.sum(dim=-1).clamp(min=1)  # (batch,)
    maps = maps * mask[:, None, :]
    # A token that attends nowhere (possible when tokens compete) keeps an all-zero map.
    maps = maps / maps.sum(dim=-1, keepdim=True).clamp(min=torch.finfo(maps.dtype).tiny)  # (batch, tokens, frames)
    num_tokens = maps.shape[1]

    first, second = torch.triu_indices(num_tokens, num_tokens, offset=1)
    if len(first):
        overlap = torch.minimum(maps[:, first], maps[:, second]).sum(dim=-1).mean(dim=-1)  # (batch,)
    else:
        overlap = torch.full((maps.shape[0],), math.nan)

    uniform_level = num_tokens / num_frames  # the summed maps of tokens that all attend uniformly
    covered = (maps.sum(dim=1) > 0.5 * uniform_level[:, None]) & mask
    coverage = covered.sum(dim=-1) / num_frames

    owner = maps.argmax(dim=1)  # (batch, frames)
    owned = torch.zeros(maps.shape[:2], dtype=torch.long, device=maps.device).scatter_add_(
        1, owner, mask.long()
    )  # (batch, tokens)
    return {
        "overlap": overlap.tolist(),
        "coverage": coverage.tolist(),
        "tokens_owning_frames": (owned > 0).sum(dim=-1).tolist(),
        "largest_owned_share": (owned.max(dim=-1).values / num_frames).tolist(),
        "num_tokens": num_tokens,
    }


def held_out_clips(count: int, variant: str, cache_dir: Path | None) -> list[np.ndarray]:
    """`count` clips of new recordings (generator seed 99), one per recording, the ragas in turn."""
    sizes = {
        "recordings_per_raga": math.ceil(count / len(RAGA_NAMES)),
        "clips_per_recording": 1,
        "clip_seconds": CLIP_SECONDS,
        "seed": SEED,
    }
    config = SyntheticRagaConfig(**sizes, variant=variant)
    corpus = load_synthetic_dataset(config, cache_dir=cache_dir)
    # Rows are ordered by raga; interleave them so any `count` takes every raga in turn.
    per_raga = sizes["recordings_per_raga"]
    order = [raga * per_raga + recording for recording in range(per_raga) for raga in range(len(RAGA_NAMES))]
    return [np.asarray(corpus[index]["audio"]["array"], dtype=np.float32) for index in order[:count]]


def measure(model_dir: Path, clips: list[np.ndarray]) -> dict:
    """Per-clip partition statistics of the last segment layer of the model saved in `model_dir`."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    model = AutoModelForAudioClassification.from_pretrained(model_dir, trust_remote_code=True).eval()
    extractor = AutoFeatureExtractor.from_pretrained(model_dir, trust_remote_code=True)
    stats: dict[str, list] = {}
    for start in range(0, len(clips), BATCH_SIZE):
        batch = clips[start : start + BATCH_SIZE]
        inputs = extractor(batch, sampling_rate=extractor.sampling_rate, padding=True, return_tensors="pt")
        with torch.inference_mode():
            # The base model runs the same encoder and segment layers as the classifier and also returns the frame
            # mask, which the attention's padded frames need.
            outputs = model.base_model(**inputs, output_attentions=True)
        batch_stats = segment_partition_stats(outputs.attentions[-1], outputs.frame_mask)
        num_tokens = batch_stats.pop("num_tokens")
        for key, values in batch_stats.items():
            stats.setdefault(key, []).extend(values)
    return {**stats, "num_tokens": num_tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="saved model folder")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--variant", default="hard", choices=("standard", "hard"))
    parser.add_argument("--cache-dir", type=Path, default=None, help="synthetic corpus cache (default: the package's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if args.clips < 1:
        parser.error("--clips must be at least 1")

    torch.set_num_threads(min(2, torch.get_num_threads()))
    stats = measure(args.model, held_out_clips(args.clips, args.variant, args.cache_dir))
    summary = {
        "model": str(args.model),
        "variant": args.variant,
        "clips": len(stats["overlap"]),
        "num_tokens": stats["num_tokens"],
        "mean_overlap": float(np.mean(stats["overlap"])),
        "min_overlap": float(np.min(stats["overlap"])),
        "max_overlap": float(np.max(stats["overlap"])),
        "coverage": float(np.mean(stats["coverage"])),
        "tokens_owning_frames": float(np.mean(stats["tokens_owning_frames"])),
        "largest_owned_share": float(np.mean(stats["largest_owned_share"])),
    }
    print("| model | variant | clips | mean overlap | min / max over clips | coverage | tokens owning frames | "
          "largest owned share |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.model.name} | {args.variant} | {summary['clips']} | {summary['mean_overlap']:.3f} | "
        f"{summary['min_overlap']:.3f} / {summary['max_overlap']:.3f} | {summary['coverage']:.3f} | "
        f"{summary['tokens_owning_frames']:.1f} of {summary['num_tokens']} | {summary['largest_owned_share']:.3f} |"
    )
    if args.json:
        args.json.write_text(json.dumps({**summary, "per_clip": stats}, indent=2))


if __name__ == "__main__":
    main()
