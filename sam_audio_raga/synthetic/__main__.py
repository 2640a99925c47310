"""Command line of the synthetic corpus: `python -m sam_audio_raga.synthetic --output DIR [--format ...]`."""

from .corpus import main


if __name__ == "__main__":
    raise SystemExit(main())
