"""Fast CPU modes: what the CPU can do is detected and reported, bfloat16 warns where it is slow, and its
scores stay close to float32's on every encoder family."""

from __future__ import annotations

import platform
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from checkpoints import ENCODERS, PROBE_LABELS, PROBE_TEXTS
from tolerances import BFLOAT16

from gliclass_integrations import GLiClass
from gliclass_integrations.core import CpuCapabilities, _cpu, cpu_capabilities
from gliclass_integrations.errors import SlowCpuModeWarning

WITHOUT_BF16 = CpuCapabilities(isa="AVX2", native_bf16=False, amx=False, vnni=False)
WITH_BF16 = CpuCapabilities(isa="AVX512", native_bf16=True, amx=True, vnni=True)
NOT_X86 = CpuCapabilities(isa="DEFAULT", native_bf16=None, amx=False, vnni=False)


def cpuinfo_flags() -> set[str]:
    path = Path("/proc/cpuinfo")
    if platform.machine().lower() not in _cpu.X86 or not path.exists():
        pytest.skip("the CPU flags are read from /proc/cpuinfo on x86 Linux")
    for line in path.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    pytest.skip("no flags line in /proc/cpuinfo")


def test_capabilities_agree_with_the_kernel_s_cpu_flags():
    flags = cpuinfo_flags()
    found = cpu_capabilities()
    assert found.native_bf16 == bool(flags & {"avx512_bf16", "amx_bf16"})
    assert found.amx == ("amx_tile" in flags)
    assert found.vnni == ("avx512_vnni" in flags)
    assert found.isa == torch.backends.cpu.get_cpu_capability()


def test_capabilities_read_as_the_instruction_set_and_its_fast_paths():
    assert str(WITH_BF16) == "AVX512 with BF16, AMX, VNNI"
    assert str(WITHOUT_BF16) == "AVX2"


def test_a_cpu_model_names_the_cpu_s_capabilities(tiny_model):
    assert f"cpu={str(cpu_capabilities())!r}" in repr(tiny_model)


@pytest.mark.parametrize("dtype", ["bfloat16", "bf16", torch.bfloat16])
def test_bfloat16_on_a_cpu_without_native_bf16_warns_with_the_measured_slowdown(dtype, tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(_cpu, "cpu_capabilities", lambda: WITHOUT_BF16)
    with pytest.warns(SlowCpuModeWarning, match=r"\(AVX2\) has no native bf16.*5x slower.*Use dtype='float32'"):
        GLiClass.from_pretrained(tiny_checkpoint, device="cpu", dtype=dtype)


@pytest.mark.parametrize(
    ("capabilities", "dtype"), [(WITH_BF16, "bfloat16"), (NOT_X86, "bfloat16"), (WITHOUT_BF16, "float32"),
                                (WITHOUT_BF16, "auto"), (WITHOUT_BF16, "float64")],
)
def test_no_warning_where_the_mode_is_fast_unknown_or_not_reduced(capabilities, dtype, tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(_cpu, "cpu_capabilities", lambda: capabilities)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowCpuModeWarning)
        GLiClass.from_pretrained(tiny_checkpoint, device="cpu", dtype=dtype)


def test_the_warning_points_at_the_caller(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(_cpu, "cpu_capabilities", lambda: WITHOUT_BF16)
    with pytest.warns(SlowCpuModeWarning) as caught:
        GLiClass.from_pretrained(tiny_checkpoint, dtype="bf16")
    assert caught[0].filename == __file__


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_bfloat16_scores_stay_close_to_float32(encoder, load_model):
    exact = load_model(encoder).predict_proba(PROBE_TEXTS, PROBE_LABELS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowCpuModeWarning)  # slow on some CPUs, but correct on all
        fast = load_model(encoder, dtype="bfloat16")
    assert {parameter.dtype for parameter in fast.network.parameters()} == {torch.bfloat16}
    scores = fast.predict_proba(PROBE_TEXTS, PROBE_LABELS)
    assert scores.dtype == np.float32 and scores.shape == exact.shape
    drift = np.abs(scores - exact).max()
    assert 0 < drift <= BFLOAT16  # 0 would mean the float32 model ran
