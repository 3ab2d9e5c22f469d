"""Batching: sort by length, fill batches up to a token budget, run, put results back in input order."""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import torch

from ._assembly import EncodedRow
from ._network import Batch, GLiClassNetwork
from ._pipeline import AheadOfTime

Tag = TypeVar("Tag")


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
    """Pad a batch's rows into tensors, built on the host and sent to the device once (from pinned memory,
    without waiting, on CUDA)."""
    lengths = np.array([len(row.ids) for row in rows], dtype=np.int64)
    length = int(lengths.max())
    input_ids = _padded([row.ids for row in rows], lengths, pad_id)
    label_positions = _padded([row.label_positions for row in rows],
                              np.array([len(row.label_positions) for row in rows]), length)  # padding: masked
    pinned = device.type == "cuda"

    def tensor(array: np.ndarray) -> torch.Tensor:
        host = torch.from_numpy(array)
        return (host.pin_memory() if pinned else host).to(device, non_blocking=True)

    return Batch(
        input_ids=tensor(input_ids),
        lengths=tensor(lengths),
        label_positions=tensor(label_positions),
        label_mask=tensor(label_positions < length),
        sep_positions=tensor(np.array([row.sep_position for row in rows], dtype=np.int64)),
        has_examples=tensor(np.array([row.has_examples for row in rows], dtype=bool)),
    )


def _padded(arrays: list[np.ndarray], lengths: np.ndarray, fill: int) -> np.ndarray:
    """The arrays as the rows of one int64 matrix, each filled up to the longest with ``fill``."""
    matrix = np.full((len(arrays), int(lengths.max())), fill, dtype=np.int64)
    matrix[np.arange(matrix.shape[1]) < lengths[:, None]] = np.concatenate(arrays)
    return matrix


class Launched:
    """A batch whose logits are computed (or, on CUDA, queued) on the device and not yet read back.

    On CUDA the copy to the host is queued right behind the batch's forward pass, into pinned memory,
    and an event marks its end: reading the batch back then waits for this batch alone. A plain
    ``.cpu()`` at read time would be queued behind the batches launched since, and wait for them too,
    leaving the device idle until the next launch.
    """

    def __init__(self, rows: Sequence[EncodedRow], logits: torch.Tensor, device: torch.device) -> None:
        self.rows = rows
        self.logits = logits
        self._copied: torch.cuda.Event | None = None
        if device.type == "cuda":
            logits = _in_full_precision(logits)
            self.logits = torch.empty(logits.shape, dtype=logits.dtype, pin_memory=True)
            self.logits.copy_(logits, non_blocking=True)
            self._copied = torch.cuda.Event()
            self._copied.record(torch.cuda.current_stream(logits.device))  # the logits' GPU, not the current one

    def read(self) -> list[np.ndarray]:
        """Each row's logits on the host, in one transfer for the batch; on CUDA this waits until the device
        has finished this batch, while the batches launched after it stay queued."""
        if self._copied is not None:
            self._copied.synchronize()
        logits = _in_full_precision(self.logits)
        # On the host, no call into torch: each one gives up the GIL, and taking it back can mean waiting for
        # a thread that prepares inputs.
        host = logits.numpy() if logits.device.type == "cpu" else logits.cpu().numpy()
        return [host[slot, : len(row.label_positions)].copy() for slot, row in enumerate(self.rows)]


def _in_full_precision(logits: torch.Tensor) -> torch.Tensor:
    return logits if logits.dtype in (torch.float32, torch.float64) else logits.float()


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

    def collate(self, rows: Sequence[EncodedRow]) -> Batch:
        return collate(rows, self.pad_id, self.device)

    def launch(self, rows: Sequence[EncodedRow], batch: Batch | None = None) -> list[Launched]:
        """The batch sent to the network (split into parts if the device runs out of memory), not read back.
        ``batch``: the rows already collated."""
        tokens = padded_tokens(rows)
        if len(rows) > 1 and self.token_limit is not None and tokens > self.token_limit:
            return self._halves(rows)
        try:
            logits = self.network(batch if batch is not None else self.collate(rows))
            return [Launched(rows, logits, self.device)]
        except torch.cuda.OutOfMemoryError:  # the same class as torch.OutOfMemoryError (torch >= 2.5)
            if len(rows) == 1:
                raise
        # Retried outside the except block, so that the failed attempt's tensors can be freed.
        self._lower_limit(tokens, len(rows))
        return self._halves(rows)

    def _halves(self, rows: Sequence[EncodedRow]) -> list[Launched]:
        middle = len(rows) // 2
        return self.launch(rows[:middle]) + self.launch(rows[middle:])

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


def stream_batches(
    runner: BatchRunner,
    groups: Iterator[tuple[Tag, Sequence[EncodedRow]]],
    *,
    batch_size: int | None,
    max_batch_tokens: int,
    on_batch: Callable[[int], None] | None = None,
    groups_ready: Callable[[], bool] | None = None,
) -> Iterator[tuple[Tag, list[np.ndarray]]]:
    """Each group's logits (one array per row, in the group's order), group after group.

    Each group's rows are sorted by length into batches. One host thread collates the batches two ahead
    of the network, across groups: right after a batch has been launched, while the device works, the
    next group is taken from ``groups`` if ``groups_ready()`` says that it can be taken without waiting
    for its preparation (default: always); otherwise only once the device has nothing else to run.
    Each batch is read back only after the next one has been launched, so on CUDA the device always
    has queued work. On the CPU, where a launch returns only once the batch has run, the collating
    thread is also handed the batches already planned just before each launch, so that it collates
    them while the batch runs rather than when the launching thread needs the GIL again.

    An exception raised by ``groups`` is raised once every group before it has been yielded.
    """
    planned = _Planned(groups, groups_ready or (lambda: True), batch_size, max_batch_tokens)
    synchronous = runner.device.type == "cpu"

    def collated(item: tuple[_Group, list[int] | None]) -> tuple[_Group, list[int] | None, _Collated | None]:
        group, indices = item
        if indices is None:
            return group, None, None
        rows = [group.rows[i] for i in indices]
        return group, indices, _Collated(rows, runner.collate(rows))

    def read(launched: tuple[_Group, list[int], list[Launched]]) -> list[tuple[Tag, list[np.ndarray]]]:
        """Read a launched batch back: its group's logits when it was the group's last batch."""
        done = launched[0].read(*launched[1:], on_batch)
        return [] if done is None else [done]

    waiting: tuple[_Group, list[int], list[Launched]] | None = None
    batches = AheadOfTime(collated, planned, workers=1, ahead=2, name="gliclass-collate", fill_on_next=False)
    with torch.inference_mode(), batches:
        for group, indices, batch in batches:
            if isinstance(group, _Failed):
                if waiting is not None:
                    yield from read(waiting)
                raise group.error
            if synchronous:
                batches.fill(while_ready=planned.has_planned)
            launched = None if batch is None else (group, indices, runner.launch(batch.rows, batch.tensors))
            batches.fill(while_ready=planned.ready)
            if waiting is not None:
                yield from read(waiting)
            waiting = launched
            if launched is None:  # an empty group: after the groups before it
                yield group.tag, []
        if waiting is not None:
            yield from read(waiting)


class _Planned(Iterator[tuple["_Group", "list[int] | None"]]):
    """Batches group after group: ``(group, row indices)``, ``(group, None)`` for an empty group, and last
    ``(_Failed, None)`` in place of a group that raised an exception when it was taken."""

    def __init__(self, groups: Iterator, groups_ready: Callable[[], bool], batch_size: int | None,
                 max_batch_tokens: int) -> None:
        self._groups = groups
        self._groups_ready = groups_ready
        self._batch_size = batch_size
        self._max_batch_tokens = max_batch_tokens
        self._batches: deque[tuple[_Group, list[int] | None]] = deque()
        self._failed = False

    def __next__(self) -> tuple[_Group | _Failed, list[int] | None]:
        if not self._batches:
            if self._failed:
                raise StopIteration
            try:
                tag, rows = next(self._groups)
            except StopIteration:
                raise
            except Exception as error:  # raised in its turn, after the groups before it
                self._failed = True
                return _Failed(error), None
            group = _Group(tag, rows, self._batch_size, self._max_batch_tokens)
            self._batches.extend((group, indices) for indices in group.plan or [None])
        return self._batches.popleft()

    def ready(self) -> bool:
        """Whether the next batch can be taken without waiting for a group to be prepared."""
        return self.has_planned() or self._groups_ready()

    def has_planned(self) -> bool:
        """Whether the next batch can be taken without reading another group."""
        return bool(self._batches)


class _Group:
    """One group's rows, its batches, and the logits read back so far."""

    def __init__(self, tag, rows: Sequence[EncodedRow], batch_size: int | None, max_batch_tokens: int) -> None:
        self.tag = tag
        self.rows = rows
        self.plan = plan_batches([len(row.ids) for row in rows], batch_size=batch_size,
                                 max_batch_tokens=max_batch_tokens)
        self.results: list[np.ndarray | None] = [None] * len(rows)
        self.unread = len(self.plan)

    def read(self, indices: list[int], launched: list[Launched], on_batch) -> tuple | None:
        """Store one batch's logits; the group's tag and logits once its last batch is read."""
        logits = [row_logits for part in launched for row_logits in part.read()]
        for index, row_logits in zip(indices, logits):
            self.results[index] = row_logits
        if on_batch is not None:
            on_batch(len(indices))
        self.unread -= 1
        return (self.tag, self.results) if self.unread == 0 else None


class _Failed:
    """In place of a group: the exception raised while taking it from ``groups``."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class _Collated:
    def __init__(self, rows: list[EncodedRow], tensors: Batch) -> None:
        self.rows = rows
        self.tensors = tensors
