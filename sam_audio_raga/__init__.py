"""The SAM-Audio raga toolkit: everything around the model files.

The model itself lives in the Hub files next to this package (`configuration_sam_audio`,
`feature_extraction_sam_audio`, `modeling_sam_audio`, `pipeline_sam_audio`, `audio_io_sam_audio`), which a model folder
carries with its weights. This package holds the rest, one module per job:

- `sam_audio_raga.data`: raga datasets (Hub, local folders, the synthetic corpus), splits, transforms, collators.
- `sam_audio_raga.synthetic`: the synthetic Carnatic corpus (raga tables, melody, rendering, concert conditions).
- `sam_audio_raga.evaluation`: metrics for `Trainer` and the confusion matrix (`sam_audio_raga/metrics` holds the
  `evaluate` metric scripts it loads).
- `sam_audio_raga.lora`: LoRA adapters through `peft.get_peft_model`.
- `sam_audio_raga.hub`: Hub reachability and the model card.
- `sam_audio_raga.cli`: the configuration, logging, resume and upload steps shared by the run scripts.
- `sam_audio_raga.predict`: the `sam-audio-predict` command.
- `sam_audio_raga.visualization`: segment-attention and timeline pictures.

Importing the package imports none of them; import the module you need.
"""

__version__ = "0.1.0"
