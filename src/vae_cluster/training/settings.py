"""Every trainer setting and its default, written once. Registered with Hydra's ConfigStore as the schema of
the `trainer` group (conf/trainer/*.yaml extend it), so overrides are type-checked when the config is composed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class TrainerSettings:
    max_epochs: int = 100
    batch_size: int = 64
    lr: float = 1.0e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"          # adam | adamw
    kl_warmup_epochs: int = 10       # linear KL annealing (epochs of the main stage)
    grad_clip: Optional[float] = 5.0  # max gradient norm; null = off
    patience: int = 15               # early stopping on validation loss (song-grouped val split)
    lr_patience: int = 5             # ReduceLROnPlateau
    lr_factor: float = 0.5
    device: str = "auto"             # auto: CUDA when available, else CPU
    progress: bool = True
    seed: Optional[int] = None
    amp: Any = "auto"                # mixed precision: auto = on for CUDA; never on CPU
    amp_dtype: str = "float16"       # float16 (with a gradient scaler) | bfloat16
    deterministic: bool = True       # deterministic cuDNN on CUDA (false: cudnn.benchmark, faster)
    checkpoint: bool = True          # <run dir>/checkpoints/last.pt after every epoch
    resume: bool = False             # continue from that checkpoint (same hydra.run.dir)
    keep_checkpoint: bool = False    # keep checkpoints/last.pt after a completed run (the bundle/ has the model)
    model_cache: bool = True         # reuse a model trained with the same key (<paths.cache_dir>/models)
    data_on_device: Any = "auto"     # keep the data set on the GPU (auto: when it takes < half the free memory)
    min_delta: float = 1.0e-6        # improvement that resets the patience counter
    embed_batch_size: int = 256
    cpu_threads: Optional[int] = None  # torch threads on CPU; null: 1 for models under 1 M parameters (small
    #                                    MLPs train fastest single-threaded, measured), torch's default for larger ones


@dataclass
class TrainerConfig(TrainerSettings):
    """The Hydra node: the settings plus the class they build."""

    _target_: str = "vae_cluster.training.trainer.Trainer"
