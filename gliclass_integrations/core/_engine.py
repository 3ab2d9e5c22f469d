"""Batching: sort by length, fill batches up to a token budget, run, put results back in input order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ._assembly import EncodedRow
from ._network import Batch, GLiClassNetwork


def plan_batches(lengths: Sequence[int], *, batch_size: int, max_batch_tokens: int) -> list[list[int]]:
    """Row indices grouped into batches, longest rows first.

    A batch holds at most ``batch_size`` rows and, padded to its longest row, at most
    ``max_batch_tokens`` tokens (a single row longer than that still gets a batch of its own).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        if current and (len(current) >= batch_size or (len(current) + 1) * longest > max_batch_tokens):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def collate(rows: Sequence[EncodedRow], pad_id: int, device: torch.device) -> Batch:
    """Pad a batch's rows into tensors (built on the host, moved to the device once)."""
    length = max(len(row.ids) for row in rows)
    n_labels = max(len(row.label_positions) for row in rows)
    input_ids = np.full((len(rows), length), pad_id, dtype=np.int64)
    label_positions = np.full((len(rows), n_labels), length, dtype=np.int64)
    for i, row in enumerate(rows):
        input_ids[i, : len(row.ids)] = row.ids
        label_positions[i, : len(row.label_positions)] = row.label_positions

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(device, non_blocking=True)

    return Batch(
        input_ids=tensor(input_ids),
        lengths=tensor(np.array([len(row.ids) for row in rows], dtype=np.int64)),
        label_positions=tensor(label_positions),
        label_mask=tensor(label_positions < length),
        sep_positions=tensor(np.array([row.sep_position for row in rows], dtype=np.int64)),
        has_examples=tensor(np.array([row.has_examples for row in rows], dtype=bool)),
    )


def run_batches(
    network: GLiClassNetwork,
    rows: Sequence[EncodedRow],
    *,
    pad_id: int,
    device: torch.device,
    batch_size: int,
    max_batch_tokens: int,
    on_batch: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """Logits of every row (one array per row, one value per label), in input order.

    Float32, or float64 when the network runs in float64.
    """
    results: list[np.ndarray | None] = [None] * len(rows)
    plan = plan_batches([len(row.ids) for row in rows], batch_size=batch_size, max_batch_tokens=max_batch_tokens)
    with torch.inference_mode():
        for indices in plan:
            batch_rows = [rows[i] for i in indices]
            logits = network(collate(batch_rows, pad_id, device))
            host_dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
            host = logits.to(host_dtype).cpu().numpy()  # one transfer per batch
            for slot, index in enumerate(indices):
                results[index] = host[slot, : len(rows[index].label_positions)].copy()
            if on_batch is not None:
                on_batch(len(indices))
    return results  # type: ignore[return-value]
