"""The teacher of data2vec-style pretraining: an exponential moving average of the model being trained.

`EmaTeacherCallback` keeps the teacher beside a `Trainer`: built from the student when training starts (or read back
from the checkpoint a run resumes from), moved towards the student after every optimiser step, and saved in each
checkpoint as `teacher.safetensors`. The trainer asks it for the targets of each batch with `segment_states`.
"""

import copy
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR


TEACHER_FILE = "teacher.safetensors"


class EmaTeacherCallback(TrainerCallback):
    """An EMA copy of `student` whose decay rises linearly from `decay` to `final_decay` over the run.

    A low decay early lets the teacher leave its random start quickly; a high one late gives steady targets.
    """

    def __init__(self, student: nn.Module, decay: float, final_decay: float):
        self.student = student
        self.decay, self.final_decay = decay, final_decay
        self.teacher: nn.Module | None = None
        self.resume_from: str | None = None

    def decay_at(self, step: int, max_steps: int) -> float:
        progress = min(1.0, step / max(1, max_steps))
        return self.decay + (self.final_decay - self.decay) * progress

    def on_train_begin(self, args, state, control, **kwargs):
        # Built here, after `Trainer.train` has loaded a resumed checkpoint into the student.
        self.teacher = copy.deepcopy(self.student).eval().requires_grad_(False)
        saved = Path(self.resume_from) / TEACHER_FILE if self.resume_from else None
        if saved is not None and saved.is_file():
            self.teacher.load_state_dict(load_file(saved, device=str(args.device)))

    @torch.no_grad()
    def on_step_end(self, args, state, control, **kwargs):
        # Only the parameters move: the model's buffers (window, filterbanks) are constants of the config, which the
        # teacher has held since it was copied.
        decay = self.decay_at(state.global_step, state.max_steps)
        for teacher_weight, student_weight in zip(self.teacher.parameters(), self.student.parameters()):
            teacher_weight.lerp_(student_weight.detach().to(teacher_weight.dtype), 1.0 - decay)

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            checkpoint = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            if checkpoint.is_dir():
                weights = {name: tensor.contiguous() for name, tensor in self.teacher.state_dict().items()}
                save_file(weights, checkpoint / TEACHER_FILE)

    @torch.no_grad()
    def segment_states(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """The teacher's segment states on the unmasked clips (it runs in eval mode: no masking, no dropout)."""
        return self.teacher(input_values, attention_mask=attention_mask).segment_states
