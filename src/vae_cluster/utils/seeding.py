"""Deterministic seeding and device choice."""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' takes CUDA when present, else CPU; 'cuda' without a GPU is a user error."""
    from vae_cluster.utils.errors import UserError

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"trainer.device={device} but no CUDA GPU is available; use trainer.device=auto or cpu")
    return torch.device(device)
