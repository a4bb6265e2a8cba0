"""A baseline written the way the published code trains, to time against in the same run.

The paper's code (PyTorch) runs ``nn.LSTM(bidirectional=True, batch_first=True)`` over the
whole embedded window, reads one time step of its output (``out[:, -1]`` for the
``paper`` preset, ``out[:, k]`` for ``default``), applies ``nn.Linear`` layers, computes
every task's head on every batch and steps ``torch.optim.Adam`` on the cross-entropy of
the batch's task (one task per step: the ``sequential`` schedule). Its data loader hands
over already-embedded windows ``(B, W, D)``.

:class:`PublishedNet` and :func:`train_published` rebuild that with the same layer widths,
activation and readout as an :class:`~mtllaws.models.ModelConfig`, so that
``train_speed.py`` can report *our seconds per sample / published-style seconds per
sample* measured in one run on one machine. It is a timing reference only: nothing in
``mtllaws`` uses it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mtllaws.models import ModelConfig

__all__ = ["PublishedNet", "predict_published", "train_published"]


class PublishedNet(nn.Module):
    """Full BiLSTM + ``nn.Linear`` stack + every head, as the published code computes it."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.LSTM(cfg.emb_dim, cfg.hidden, batch_first=True, bidirectional=True)
        widths = [2 * cfg.hidden, *cfg.dense, cfg.n_classes]
        layers = list(zip(widths[:-1], widths[1:], strict=True))
        self.shared = nn.ModuleList(nn.Linear(a, b) for a, b in layers[: cfg.shared_dense])
        self.heads = nn.ModuleList(
            nn.ModuleList(nn.Linear(a, b) for a, b in layers[cfg.shared_dense :])
            for _ in range(cfg.n_tasks)
        )
        self.position = -1 if cfg.readout == "last" else cfg.window // 2

    def _act(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z) if self.cfg.activation == "relu" else z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(T, B, c)`` of every task for embedded windows ``x`` ``(B, W, D)``."""
        out, _ = self.lstm(x)
        z = out[:, self.position]
        for layer in self.shared:
            z = self._act(layer(z))
        logits = []
        for head in self.heads:
            y = z
            for j, layer in enumerate(head):
                y = layer(y)
                if j < len(head) - 1:
                    y = self._act(y)
            logits.append(y)
        return torch.stack(logits)


def train_published(
    cfg: ModelConfig,
    windows: np.ndarray,
    labels: np.ndarray,
    embeddings: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 100,
    seed: int = 0,
) -> PublishedNet:
    """Train :class:`PublishedNet` with the sequential schedule; returns the model.

    ``labels`` is ``(N, T)`` with ``-1`` where task ``t`` does not label row ``i`` (as in
    :func:`mtllaws.train.train_model`). The windows are embedded once up front, as the
    published data loader did; incomplete batches are dropped (``drop_last=True``).
    """
    torch.manual_seed(seed)
    model = PublishedNet(cfg)
    optimizer = torch.optim.Adam(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    x_all = torch.as_tensor(embeddings, dtype=torch.float32)[torch.as_tensor(windows).long()]
    tasks = []
    for t in range(labels.shape[1]):
        rows = np.flatnonzero(labels[:, t] >= 0)
        tasks.append((x_all[rows], torch.as_tensor(labels[rows, t], dtype=torch.int64)))
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for t, (x, y) in enumerate(tasks):
            order = torch.randperm(len(y), generator=gen)
            for a in range(0, len(y) - batch_size + 1, batch_size):
                idx = order[a : a + batch_size]
                loss = loss_fn(model(x[idx])[t], y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return model


@torch.no_grad()
def predict_published(
    model: PublishedNet, windows: np.ndarray, embeddings: np.ndarray, *, batch_size: int = 1000
) -> np.ndarray:
    """Task 0's predicted class ids, embedding and running ``batch_size`` windows at a time."""
    model.eval()
    table = torch.as_tensor(embeddings, dtype=torch.float32)
    ids = torch.as_tensor(windows).long()
    out = [model(table[ids[a : a + batch_size]])[0].argmax(-1)
           for a in range(0, len(ids), batch_size)]
    return torch.cat(out).numpy()
