"""The synthetic Carnatic raga corpus: a seeded, offline stand-in for the `sarayusapa/carnatic-ragas` Hub dataset.

Import from here; the modules behind it are `ragas` (the raga tables), `style` (per-recording tempo, room and
noise), `melody` (phrase composition and pitch contours), `render` (the audio and `generate_clip`), `conditions`
and `accompaniment` (the concert conditions of the hard variant), `dsp` (signal helpers) and `corpus` (the dataset,
its cache and export). Importing the package builds nothing and writes nothing.

Example:

```python
>>> from sam_audio_raga.synthetic import SyntheticRagaConfig, load_synthetic_dataset
>>> ds = load_synthetic_dataset(SyntheticRagaConfig(recordings_per_raga=2, clips_per_recording=2, clip_seconds=5.0))
>>> ds[0]["raga"], ds[0]["recording_id"], ds[0]["audio"]["array"].shape
```

Command line: `python -m sam_audio_raga.synthetic --output DIR --format audiofolder [--variant hard]`.
"""

from .conditions import ConcertEvents, RecordingConditions, sample_recording_conditions, schedule_events
from .corpus import (
    CONDITION_COLUMNS,
    GENERATOR_VERSION,
    VARIANTS,
    SyntheticRagaConfig,
    build_synthetic_dataset,
    config_fingerprint,
    export_synthetic_dataset,
    load_synthetic_dataset,
)
from .ragas import RAGA_NAMES, RAGAS, TIMBRES, RagaSpec
from .render import generate_clip
from .style import RecordingStyle, sample_recording_style


__all__ = [
    "CONDITION_COLUMNS",
    "GENERATOR_VERSION",
    "RAGAS",
    "RAGA_NAMES",
    "TIMBRES",
    "VARIANTS",
    "ConcertEvents",
    "RagaSpec",
    "RecordingConditions",
    "RecordingStyle",
    "SyntheticRagaConfig",
    "build_synthetic_dataset",
    "config_fingerprint",
    "export_synthetic_dataset",
    "generate_clip",
    "load_synthetic_dataset",
    "sample_recording_conditions",
    "sample_recording_style",
    "schedule_events",
]
