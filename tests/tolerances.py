"""How close two computations of the same scores must be in a test, and why.

The numbers come from ``benchmarks/rounding.py``, run on several instruction sets and thread counts;
docs/parity.md ("Tolerances") lists the CPUs they were checked on.

Exact properties (scores do not depend on batch size, order, chunking, caching or out-of-memory
splits; ours equal the reference's) are proven in float64, at ``FLOAT64``. Its rounding, 1.1e-16 per
operation, grows to at most a few 1e-14 on the test checkpoints (2.4e-14 measured against the
reference), so anything above 1e-12 is a difference in what is computed, not in how it is rounded.

float32 checks compare two computations that may run different CPU kernels: another batch shape
(the kernels block and sum differently for different row counts), another thread count, another
implementation (ours or the reference's, fused or eager attention), or another CPU (AVX2, AVX-512,
AMX; MKL picks its paths by CPU vendor too). Each is within its own float32 rounding error of the
exact scores, so two of them differ by at most twice that error, whatever the kernels. On the test
checkpoints, whose rescaled last layer amplifies rounding on purpose (``checkpoints._spread_logits``),
the largest float32 error measured is 1.9e-5 on a score (``t5``/``hopfield-max``; the median
checkpoint: 2e-6). ``FLOAT32`` is 1e-4, which leaves 2.5× above twice that.

What float32 checks must still catch are mix-ups: a score in the wrong row or column, a label, prompt
or example not passed on, padding that leaks into a text's score. These move scores by 1e-3 or far
more. A lost bit of precision (a float32 or 16-bit step where there should be none) is the float64
checks' job: it shows there as 1e-7 or more against 1e-12 (the reference's float32 cast before its
sigmoid showed as 1.4e-7 that way). For scale, one float16 rounding of the encoder's output moves the
float32 scores of the test checkpoints by 9e-5 to 2.2e-3 (3e-4 on the default one), one bfloat16
rounding by about eight times that.
"""

FLOAT64 = 1e-12
"""Absolute, on scores or logits of float64 models: exact properties (see above)."""

FLOAT32 = 1e-4
"""Absolute, on scores in [0, 1] of float32 models: any two computations on any x86-64 CPU."""

FLOAT32_LOGITS = 4 * FLOAT32
"""Absolute, on logits of float32 models: a sigmoid's slope is at most 1/4, so a logit moved by
``FLOAT32_LOGITS`` moves its score by at most ``FLOAT32`` (largest logit error measured: 7e-5)."""

BFLOAT16 = 5e-2
"""Absolute, on scores of a bfloat16 model against its float32 model, for the released head layout
("multilang") on every test encoder. bfloat16 keeps 8 bits of mantissa (3e-3 relative per rounding)
and the tiny random test checkpoints amplify rounding on purpose (see above): their largest bfloat16
drift measured is 3.5e-2 (``bert``; 1.9e-2 to 2.7e-2 on the others), and up to 0.34 on heads that
amplify more (``t5``/``hopfield-max``). On a benchmark-shaped model the drift is about 1e-3
(docs/benchmarks.md). A score in the wrong place or a lost input moves scores far more than this."""
