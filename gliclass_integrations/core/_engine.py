"""Batching: sort by length, fill batches up to a token budget, run, put results back in input order."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ._assembly import EncodedRow
from ._network import Batch, GLiClassNetwork


def plan_batches(lengths: Sequence[int], *, batch_size: int | None, max_batch_tokens: int) -> list[list[int]]:
    """Row indices grouped into batches, longest rows first.

    A batch holds, padded to its longest row, at most ``max_batch_tokens`` tokens and, unless
    ``batch_size`` is None, at most ``batch_size`` rows (a single row longer than the budget still
    gets a batch of its own).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    most_rows = batch_size if batch_size is not None else len(order)
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        if current and (len(current) >= most_rows or (len(current) + 1) * longest > max_batch_tokens):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def padded_tokens(rows: Sequence[EncodedRow]) -> int:
    """Tokens of a batch once padded to its longest row."""
    return len(rows) * max(len(row.ids) for row in rows)


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


class BatchRunner:
    """Runs batches of rows; a batch that runs out of device memory is split in halves and retried.

    After an out-of-memory error, batches at least as large (in padded tokens) as the one that
    failed are split before they are tried, so one error does not repeat on every later batch.
    """

    def __init__(self, network: GLiClassNetwork, *, pad_id: int, device: torch.device) -> None:
        self.network = network
        self.pad_id = pad_id
        self.device = device
        self.token_limit: int | None = None

    def run(self, rows: Sequence[EncodedRow]) -> list[np.ndarray]:
        """Logits of each row (one value per label), in the order of ``rows``."""
        tokens = padded_tokens(rows)
        if len(rows) > 1 and self.token_limit is not None and tokens > self.token_limit:
            return self._halves(rows)
        try:
            return self._forward(rows)
        except torch.cuda.OutOfMemoryError:  # the same class as torch.OutOfMemoryError (torch >= 2.5)
            if len(rows) == 1:
                raise
        # Retried outside the except block, so that the failed attempt's tensors can be freed.
        self._lower_limit(tokens, len(rows))
        return self._halves(rows)

    def _forward(self, rows: Sequence[EncodedRow]) -> list[np.ndarray]:
        logits = self.network(collate(rows, self.pad_id, self.device))
        host_dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
        host = logits.to(host_dtype).cpu().numpy()  # one transfer per batch
        return [host[slot, : len(row.label_positions)].copy() for slot, row in enumerate(rows)]

    def _halves(self, rows: Sequence[EncodedRow]) -> list[np.ndarray]:
        middle = len(rows) // 2
        return self.run(rows[:middle]) + self.run(rows[middle:])

    def _lower_limit(self, tokens: int, n_rows: int) -> None:
        if self.token_limit is None:
            warnings.warn(
                f"Out of device memory on a batch of {n_rows} texts ({tokens} padded tokens); splitting "
                "batches and continuing. A smaller max_batch_tokens avoids the failed attempts.",
                RuntimeWarning,
                stacklevel=2,
            )
        self.token_limit = min(tokens - 1, self.token_limit or tokens)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def run_batches(
    runner: BatchRunner,
    rows: Sequence[EncodedRow],
    *,
    batch_size: int | None,
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
            for index, logits in zip(indices, runner.run([rows[i] for i in indices])):
                results[index] = logits
            if on_batch is not None:
                on_batch(len(indices))
    return results  # type: ignore[return-value]
