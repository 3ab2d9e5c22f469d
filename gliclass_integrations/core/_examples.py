"""Few-shot examples drawn from labelled texts: seeded and stratified, the same in every adapter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._options import check_positive_int


def select_examples(
    texts: Sequence[str],
    row_labels: Sequence[Sequence[str]],
    n: int,
    labels: Sequence[str],
    *,
    random_state: Any = None,
    where: str = "n_examples",
) -> list[dict[str, Any]]:
    """``n`` few-shot examples ``{"text": ..., "labels": [...]}`` drawn from labelled texts.

    Every label is shown before any is shown twice: the draw goes round the labels (in a random
    order) and takes for each one a random text that carries it and has not been taken yet, round
    after round. Only texts with at least one label and some non-blank text can be examples (an
    example shows the model which labels apply). Each example lists its labels in the order of
    ``labels``. Asking for more examples than there are such texts is an error, not fewer examples.

    Parameters
    ----------
    texts : sequence of str
    row_labels : sequence of sequences of str
        The labels of each text (one for a single-label task).
    n : int
        How many examples to draw.
    labels : sequence of str
        The labels the model reads, in order; every label of ``row_labels`` must be among them.
    random_state : int, numpy RandomState or Generator, or None
        Seed of the draw; None draws differently each time.
    where : str
        How the caller names ``n`` in error messages.

    Returns
    -------
    list of dict
    """
    check_positive_int(n, where)
    if len(texts) != len(row_labels):
        raise ValueError(f"{len(texts)} texts but {len(row_labels)} label lists.")
    order = {label: position for position, label in enumerate(labels)}
    eligible = [index for index, text in enumerate(texts) if text.strip() and len(row_labels[index])]
    if n > len(eligible):
        raise ValueError(f"{where}={n} but only {len(eligible)} texts (not blank) carry one of the labels.")
    for index in eligible:
        for label in row_labels[index]:
            if label not in order:
                raise ValueError(f"the labels of text {index} include {label!r}, which is not among the labels.")
    rng = random_state if hasattr(random_state, "permutation") else np.random.RandomState(random_state)
    chosen = _round_robin(eligible, row_labels, n, rng)
    return [
        {"text": texts[i], "labels": sorted(row_labels[i], key=order.__getitem__)} for i in chosen
    ]


def _round_robin(eligible: list[int], row_labels: Sequence[Sequence[str]], n: int, rng) -> list[int]:
    by_label: dict[str, list[int]] = {}
    for index in eligible:
        for label in row_labels[index]:
            by_label.setdefault(label, []).append(index)
    queues = [list(rng.permutation(indices)) for _, indices in sorted(by_label.items())]
    queues = [queues[i] for i in rng.permutation(len(queues))]
    chosen: list[int] = []
    taken: set[int] = set()
    while len(chosen) < n and any(queues):
        for queue in queues:
            while queue and queue[0] in taken:
                queue.pop(0)
            if queue and len(chosen) < n:
                taken.add(int(queue[0]))
                chosen.append(int(queue.pop(0)))
    return chosen  # every eligible text is in some queue, so n of them are found
