#!/usr/bin/env bash
# Rehearse benchmarks/gpu_session.sh on the CPU with the GPU machine's package versions, before a GPU is lent.
#
# The device notes record what the GPU machine's image holds; the session carries gliclass and a newer
# transformers as wheels in .whl/ and installs them over it (docs/benchmarks.md, "GPU"). This builds that
# environment in a Python 3.12 virtual environment (torch's CUDA build from PyPI, about 5 GB, runs on a
# CPU) and runs the session's SMOKE=1 steps with it, so that an import or API mismatch shows up here, not
# in the few minutes a GPU is lent for.
#
# Usage, from the repository root, with the wheels in .whl/:
#   PYTHON=/path/to/python3.12 bash benchmarks/gpu_image_rehearsal.sh
# IMAGE_PACKAGES overrides the versions (update them when the device notes record new ones); VENV where the
# environment goes (kept, and reused by the next run); OUT where the session's tables go.
set -eu -o pipefail
PYTHON=${PYTHON:-python3.12}
VENV=${VENV:-/tmp/gpu-image-venv}
IMAGE_PACKAGES=${IMAGE_PACKAGES:-torch==2.11.0 transformers==5.17.0 tokenizers==0.23.2 huggingface_hub==1.33.0 \
safetensors==0.8.0 numpy==2.5.2 pytest scikit-learn tqdm}
OUT=${OUT:-/tmp/gpu-rehearsal}

if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "no wheels in .whl/: download them first (docs/benchmarks.md, GPU)" >&2
    exit 1
fi
[ -x "$VENV/bin/python3" ] || "$PYTHON" -m venv "$VENV"
# shellcheck disable=SC2086  # one word per requirement
"$VENV/bin/python3" -m pip install -q $IMAGE_PACKAGES
echo "== the image's versions: $IMAGE_PACKAGES"
PATH=$VENV/bin:$PATH SMOKE=1 OUT=$OUT bash benchmarks/gpu_session.sh
