#!/usr/bin/env bash
# One GPU session's measurements for docs/benchmarks.md, sized for about 8 minutes on an H100/H200.
#
# Run from the repository root on a machine with CUDA PyTorch, transformers' dependencies, and the
# wheels of gliclass 0.1.21 and transformers 5.24.0 in .whl/ (docs/benchmarks.md, "GPU"). Results go to
# $OUT (default: ./gpu-results) in five files at most, as a device call brings back no more than eight:
# session.md (versions, then every step's output in order, as printed), errors.log (the steps' standard
# error) and one JSON-lines file per throughput step. SMOKE=1 runs the same steps with tiny sizes (any machine).
# benchmarks/gpu_image_rehearsal.sh runs those SMOKE steps with the GPU machine's package versions.
set -u -o pipefail
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
# Nothing is downloaded: the checkpoints are built on the machine, and the GPU machine has no network.
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1

if [ "${SMOKE:-0}" = 1 ]; then
    big=tiny; n=6; tokens=1024; dtype=fp32; labels=1,4; repeat=1; parity_shapes=tiny; host_n=256; host_workers=1,2
else
    big=mini; n=512; tokens=16384; dtype=bf16; labels=1,16,256; repeat=2; parity_shapes=small,edge; host_n=2048; host_workers=1,2,4,8
fi

# The whole session's seconds: a step gets what is left if that is less than its own limit, and is skipped
# under 15 s, so that the script ends on its own inside one device call (at most 600 s) and names what it cut.
budget=${BUDGET:-570}
failed=""
step() {  # step NAME SECONDS COMMAND...: run with a time limit, keep its output, go on if it fails
    local name=$1 limit=$2 status left=$((budget - SECONDS))
    shift 2
    if [ "$left" -lt 15 ]; then
        say "== $name: skipped, $left s left of the session's $budget s"
        failed="$failed $name"
        return
    fi
    [ "$limit" -le "$left" ] || limit=$left
    say "== $name: $*"
    echo "== $name" >>"$OUT/errors.log"
    timeout "$limit" "$@" 2>>"$OUT/errors.log" | tee -a "$OUT/session.md"
    status=${PIPESTATUS[0]}
    say "== $name finished with status $status"
    [ "$status" = 0 ] || failed="$failed $name"
}
say() { echo "$*" | tee -a "$OUT/session.md"; }
: >"$OUT/errors.log"

python3 - <<'EOF' | tee "$OUT/session.md"
from importlib.metadata import version
import torch
name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA"
print(name, "torch", torch.__version__, "transformers", version("transformers"), "gliclass", version("gliclass"))
EOF

# 0. Scores first: float32 on the GPU against the CPU (1e-4), bfloat16 against CPU float32 (2e-2).
step parity 60 python3 benchmarks/gpu_parity.py --shapes "$parity_shapes" --n 32
# 0a. The CUDA tests (bf16/fp16 against float32, a real out-of-memory split, flash-attn choice), if pytest is here.
if python3 -c "import pytest" 2>/dev/null; then
    step gpu-tests 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/core/test_gpu.py
fi
# 1. Side by side with the reference, mixed lengths: mini with both attentions, then edge and ultra.
step throughput-mini 150 python3 benchmarks/throughput.py --shapes "$big" --dtype "$dtype" --lengths mixed \
    --labels "$labels" --n "$n" --repeat "$repeat" --variants fp32,eager --json "$OUT/throughput-mini.jsonl"
if [ "${SMOKE:-0}" != 1 ]; then
    step throughput-edge 100 python3 benchmarks/throughput.py --shapes edge --dtype bf16 --lengths mixed \
        --labels "$labels" --n "$n" --repeat "$repeat" --json "$OUT/throughput-edge.jsonl"
    step throughput-ultra 100 python3 benchmarks/throughput.py --shapes ultra --dtype bf16 --lengths mixed \
        --labels "$labels" --n 256 --repeat 1 --json "$OUT/throughput-ultra.jsonl"
fi
# 2. The DeBERTa attention alone, after the throughput table: transformers' eager against the fused default.
step attention 60 python3 benchmarks/attention.py --shapes "$big" --dtype "$dtype" --tokens "$tokens" --repeat 5
# 3. The host side alone, last (the GPU table comes first if the session runs short): preparation rates (also
# with the tokenizer's own thread pool on, which this script otherwise turns off), and overlap with a fixed-time
# stand-in network; then the same with tokenization and assembly in worker processes.
step host-pipeline 60 python3 benchmarks/host_pipeline.py --n "$host_n" --repeat "$repeat" --workers "$host_workers"
step host-processes 60 python3 benchmarks/host_pipeline.py --n "$host_n" --repeat "$repeat" --workers "$host_workers" \
    --worker-processes
if [ -n "$failed" ]; then
    say "== failed steps:$failed"
    exit 1
fi
say "== every step finished with status 0"
