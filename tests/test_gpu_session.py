"""benchmarks/gpu_session.sh, the one GPU run, passes its SMOKE=1 run on the CPU: every step runs, parity
first, and each writes its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_session_script_passes_its_smoke_run_on_the_cpu(tmp_path):
    out = tmp_path / "results"
    env = dict(os.environ, SMOKE="1", OUT=str(out), HF_HUB_OFFLINE="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # python3 is this one
    result = subprocess.run(["bash", "benchmarks/gpu_session.sh"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "== every step finished with status 0" in result.stdout
    steps = [line.split(":")[0][3:] for line in result.stdout.splitlines() if line.startswith("== ") and ": " in line]
    assert steps[:2] == ["parity", "gpu-tests"] and {"host-pipeline", "host-processes", "throughput-mini"} <= set(steps)
    parity = (out / "parity.md").read_text()
    assert parity.count("| ok |") == 4 and "OVER" not in parity  # float32 and bfloat16, at 1 and 16 labels
    host = (out / "host-pipeline.md").read_text()
    assert "Overlap" in host and "GIL's share" in host
    processes = (out / "host-processes.md").read_text()
    assert "worker processes" in processes and "Overlap" in processes
    assert (out / "throughput-mini.md").read_text().count("| tiny | fp32 | mixed |") == 2


def test_a_session_out_of_time_skips_its_steps_and_names_them(tmp_path):
    env = dict(os.environ, SMOKE="1", OUT=str(tmp_path), HF_HUB_OFFLINE="1", BUDGET="0")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(["bash", "benchmarks/gpu_session.sh"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    skipped = [line.split(":")[0][3:] for line in result.stdout.splitlines() if ": skipped, " in line]
    assert skipped[:2] == ["parity", "gpu-tests"] and skipped[-1] == "host-processes"
    assert result.stdout.rstrip().endswith("== failed steps: " + " ".join(skipped))
    assert not any((tmp_path / f"{name}.md").exists() for name in skipped)
