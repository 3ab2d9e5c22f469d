"""What this CPU can do fast: the instruction sets that decide whether bfloat16 and int8 pay off.

PyTorch's CPU kernels run bfloat16 matrix products at full speed only with native bf16 instructions
(AVX-512 BF16, or AMX on Intel Sapphire Rapids and later); elsewhere they convert to float32 and back,
which was measured about 5× slower than plain float32 on an AVX2-only AMD Zen 3 (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import platform
import warnings
from dataclasses import dataclass

from ..errors import SlowCpuModeWarning

X86 = {"x86_64", "amd64", "i386", "i686", "x86"}
BF16_SLOWDOWN_NOTE = "measured about 5x slower than float32 on an AVX2-only AMD Zen 3"


@dataclass(frozen=True)
class CpuCapabilities:
    """The CPU features that decide the fast CPU modes.

    Attributes
    ----------
    isa : str
        The vector instruction set PyTorch dispatches to (``torch.backends.cpu.get_cpu_capability()``):
        "AVX512", "AVX2", "DEFAULT", ...
    native_bf16 : bool or None
        AVX-512 BF16 or AMX tiles are present; None on CPUs other than x86, where it is not detected.
    amx : bool
        Intel AMX tiles (bf16 and int8 matrix units).
    vnni : bool
        AVX-512 VNNI, the int8 dot-product instructions of AVX-512 CPUs.
    """

    isa: str
    native_bf16: bool | None
    amx: bool
    vnni: bool

    def __str__(self) -> str:
        features = [name for name, present in (("BF16", self.native_bf16), ("AMX", self.amx), ("VNNI", self.vnni))
                    if present]
        return f"{self.isa} with {', '.join(features)}" if features else self.isa


@functools.lru_cache(maxsize=1)
def cpu_capabilities() -> CpuCapabilities:
    """The features of the CPU this process runs on (detected once, through PyTorch's cpuinfo)."""
    import torch

    def has(feature: str) -> bool:
        probe = getattr(torch.cpu, f"_is_{feature}_supported", None)  # private, so checked before use
        try:
            return bool(probe()) if probe is not None else False
        except RuntimeError:
            return False

    amx = has("amx_tile")
    x86 = platform.machine().lower() in X86
    return CpuCapabilities(
        isa=torch.backends.cpu.get_cpu_capability(),
        native_bf16=(has("avx512_bf16") or amx) if x86 else None,
        amx=amx,
        vnni=has("vnni"),
    )


def warn_if_slow_on_cpu(dtype, device, stacklevel: int) -> None:
    """Warn when bfloat16 is asked for on a CPU without native bf16 instructions."""
    import torch

    if device.type != "cpu" or dtype != torch.bfloat16:
        return
    capabilities = cpu_capabilities()
    if capabilities.native_bf16 is False:
        warnings.warn(
            f"dtype='bfloat16' on this CPU ({capabilities}) has no native bf16 instructions (AVX-512 BF16 or "
            f"AMX), so PyTorch emulates them: {BF16_SLOWDOWN_NOTE}. Use dtype='float32' (the default on the "
            "CPU), which is faster here and exact.",
            SlowCpuModeWarning,
            stacklevel=stacklevel + 1,
        )
