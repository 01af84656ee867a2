"""`cvae`: conditional VAE, conditioned on one label (`condition: genre | language`).

The condition is a one-hot vector (`embedding: onehot`) or a learned embedding (`embedding: learned`,
`embedding_dim` wide, 32 in seed paper 002), concatenated to the encoder input and/or the decoder input
(`condition_on: both | encoder | decoder`). Seed paper 000's "conditional beta-VAE" is
`model=cvae model.beta=4` (one-hot, both); paper 002's CVAE-G is
`model=cvae model.encoder=conv2d model.embedding=learned model.condition_on=decoder`.

A run with this model is flagged `uses_labels=<condition>` and is never scored against that label.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from torch import nn

from vae_cluster.data.base import LABELS
from vae_cluster.models.vae import VAE
from vae_cluster.utils.errors import UserError



class CVAE(VAE):
    def __init__(self, input_shape, condition: str = "genre", embedding: str = "onehot", embedding_dim: int = 32,
                 condition_on: str = "both", data_info=None, **kwargs):
        if condition not in LABELS:
            raise UserError(f"model.condition must be one of {', '.join(LABELS)}; got '{condition}'")
        if embedding not in ("onehot", "learned"):
            raise UserError(f"model.embedding must be onehot or learned; got '{embedding}'")
        if condition_on not in ("both", "encoder", "decoder"):
            raise UserError(f"model.condition_on must be both, encoder or decoder; got '{condition_on}'")
        classes = (data_info.classes if data_info is not None else {}).get(condition)
        if not classes:
            raise UserError(f"model=cvae with condition={condition}: the data set has no '{condition}' labels")
        self.condition, self.embedding_kind, self.condition_on = condition, embedding, condition_on
        self.classes = [str(c) for c in classes]
        self.cond_width = len(self.classes) if embedding == "onehot" else int(embedding_dim)
        super().__init__(input_shape, data_info=data_info, **kwargs)
        self.uses_labels = (condition,)
        self.embedding = nn.Embedding(len(self.classes), self.cond_width) if embedding == "learned" else None

    def condition_dims(self):
        enc = self.cond_width if self.condition_on in ("both", "encoder") else 0
        dec = self.cond_width if self.condition_on in ("both", "decoder") else 0
        return enc, dec

    def conditions(self, items: pd.DataFrame) -> np.ndarray:
        """One-hot rows (onehot) or class indices as a (N, 1) column (learned)."""
        if self.condition not in items.columns:
            raise UserError(f"model=cvae: items have no '{self.condition}' column")
        values = items[self.condition].astype(str).to_numpy()
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted(set(values) - set(index))
        if unknown:
            raise UserError(f"model=cvae: {self.condition} values {unknown[:5]} are not among the model's classes "
                            f"{self.classes}")
        idx = np.array([index[v] for v in values], dtype=np.int64)
        if self.embedding_kind == "learned":
            return idx[:, None].astype(np.float32)
        return np.eye(len(self.classes), dtype=np.float32)[idx]

    def _vector(self, cond):
        if cond is None:
            raise ValueError("cvae needs its condition vectors (model.conditions(items))")
        if self.embedding is not None:
            return self.embedding(cond.reshape(-1).long())
        return cond

    def encoder_condition(self, cond):
        return self._vector(cond) if self.condition_on in ("both", "encoder") else None

    def decoder_condition(self, cond):
        return self._vector(cond) if self.condition_on in ("both", "decoder") else None

    def encode(self, x, cond=None):
        if cond is None:
            raise ValueError("cvae needs its condition vectors (model.conditions(items))")
        return super().encode(x, cond)

    def extra_repr(self) -> str:
        return f"condition={self.condition}, embedding={self.embedding_kind}, condition_on={self.condition_on}"

