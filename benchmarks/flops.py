"""Exact matrix-product FLOP counts of :class:`mtllaws.models.MTLNet` training.

One multiply-add = 2 FLOPs. Counted: the LSTM input projections and recurrent products
of the steps the readout actually computes (``"last"``: ``W`` forward steps, the first
without a recurrent product, plus one backward step from the zero state, whose forget gate
is skipped: 3/4 of an input projection; ``"center"``: ``k + 1``
steps per direction, the first without a recurrent product), the shared dense layers
and, per row, its own task's dense layers and output layer (the joint schedule reads
group ``t`` by head ``t`` only). Not counted: gate nonlinearities, biases, loss, Adam
(elementwise, < 1 % here). The CPU path projects each distinct token id of a batch once
(``dedup``), so it does fewer input-projection FLOPs than counted: the count is the
model's nominal work, the usual basis of a utilisation figure. Training = 3 x forward.

Usage: ``python benchmarks/flops.py`` prints the per-sample counts of both presets.
"""

from __future__ import annotations

from mtllaws.models import ModelConfig, model_config


def forward_flops_per_row(cfg: ModelConfig) -> dict[str, int]:
    """Forward FLOPs of one window read by one task head, split by part."""
    d, h, w = cfg.emb_dim, cfg.hidden, cfg.window
    proj, rec = 2 * d * 4 * h, 2 * h * 4 * h
    if cfg.readout == "last":
        lstm = w * proj + (w - 1) * rec + proj * 3 // 4
    else:
        s = w // 2 + 1
        lstm = 2 * (s * proj + (s - 1) * rec)
    widths = [2 * h, *cfg.dense, cfg.n_classes]
    layers = [2 * a * b for a, b in zip(widths[:-1], widths[1:], strict=True)]
    shared = sum(layers[: cfg.shared_dense])
    head = sum(layers[cfg.shared_dense :])
    return {"lstm": lstm, "shared_dense": shared, "head": head, "total": lstm + shared + head}


def train_flops_per_sample(cfg: ModelConfig) -> int:
    """Forward + backward FLOPs of one training sample (= 3 x forward)."""
    return 3 * forward_flops_per_row(cfg)["total"]


if __name__ == "__main__":
    for preset in ("paper", "default"):
        cfg = model_config(preset, n_tasks=2, n_classes=5)
        f = forward_flops_per_row(cfg)
        print(preset, {k: f"{v / 1e6:.3f} MFLOP" for k, v in f.items()},
              f"train {train_flops_per_sample(cfg) / 1e6:.2f} MFLOP/sample")
