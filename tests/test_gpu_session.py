"""benchmarks/gpu_session.sh, the one GPU run, passes its SMOKE=1 run on the CPU: every step runs, parity
first, and each writes its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_session(out: Path, **settings: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SMOKE="1", OUT=str(out), HF_HUB_OFFLINE="1", **settings)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # python3 is this one
    return subprocess.run(["bash", "benchmarks/gpu_session.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


def step_output(session: str, name: str) -> str:
    """What step ``name`` printed, between its start and end lines in session.md."""
    return session.split(f"== {name}: ", 1)[1].split(f"== {name} finished with status", 1)[0]


def test_the_gpu_session_script_passes_its_smoke_run_on_the_cpu(tmp_path):
    out = tmp_path / "results"
    result = run_session(out)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "== every step finished with status 0" in result.stdout
    steps = [line.split(":")[0][3:] for line in result.stdout.splitlines() if line.startswith("== ") and ": " in line]
    assert steps[:2] == ["parity", "gpu-tests"] and {"host-pipeline", "host-processes", "throughput-mini"} <= set(steps)
    # A device call brings back at most eight files, named in letters, digits, '.', '_' and '-'.
    files = sorted(path.name for path in out.iterdir())
    assert files == ["errors.log", "session.md", "throughput-mini.jsonl"]
    session = (out / "session.md").read_text()
    assert session.splitlines()[0].startswith("no CUDA torch ") and session == result.stdout
    parity = step_output(session, "parity")
    assert parity.count("| ok |") == 4 and "OVER" not in parity  # float32 and bfloat16, at 1 and 16 labels
    host = step_output(session, "host-pipeline")
    assert "Overlap" in host and "GIL's share" in host
    processes = step_output(session, "host-processes")
    assert "worker processes" in processes and "Overlap" in processes
    assert step_output(session, "throughput-mini").count("| tiny | fp32 | mixed |") == 2
    assert len((out / "throughput-mini.jsonl").read_text().splitlines()) == 4  # 2 label counts, 2 variants
    assert "== parity\n" in (out / "errors.log").read_text()


def test_a_session_out_of_time_skips_its_steps_and_names_them(tmp_path):
    result = run_session(tmp_path, BUDGET="0")
    assert result.returncode == 1
    skipped = [line.split(":")[0][3:] for line in result.stdout.splitlines() if ": skipped, " in line]
    assert skipped[:2] == ["parity", "gpu-tests"] and skipped[-1] == "host-processes"
    assert result.stdout.rstrip().endswith("== failed steps: " + " ".join(skipped))
    assert (tmp_path / "session.md").read_text() == result.stdout
    assert not (tmp_path / "throughput-mini.jsonl").exists()
