"""The processor: its name, the flags that matter for training speed, and whether it has bf16 natively.

bf16 autocast on a CPU is fast only where the processor multiplies bf16 in hardware: AVX512-BF16
(Intel since Cooper Lake, AMD since Zen 4) or AMX (Intel since Sapphire Rapids). Elsewhere oneDNN
emulates it and a bf16 step is slower than fp32, so :func:`native_bf16` is asked before the
bf16 variant is even tried (``engine.candidates``), and the probe then measures it.

    >>> isinstance(native_bf16(), bool), isinstance(processor(), str)
    (True, True)
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

__all__ = ["BF16_FLAGS", "processor", "flags", "native_bf16", "label"]

BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo names of native bf16 arithmetic
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", *BF16_FLAGS, "amx_tile")  # what a bench records


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """The first processor's entry of ``/proc/cpuinfo`` (empty where there is none: macOS, Windows)."""
    info: dict[str, str] = {}
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return info
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def processor() -> str:
    """The processor's model name, e.g. ``"AMD EPYC 9454"`` (``platform.processor()`` without /proc)."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine() or "unknown CPU"


def flags() -> list[str]:
    """Which of the speed-relevant instruction-set flags this processor reports (Linux; empty elsewhere)."""
    have = set(_cpuinfo().get("flags", "").split())
    return [f for f in SPEED_FLAGS if f in have]


def native_bf16() -> bool:
    """Does this processor do bf16 arithmetic in hardware (AVX512-BF16 or AMX-BF16)?

    Apple silicon and other non-x86 CPUs answer False: the course then trains in fp32 there."""
    return any(f in flags() for f in BF16_FLAGS)


def label() -> str:
    """``"cpu (AMD EPYC 9454)"``: how results name a CPU as the device that trained them."""
    return f"cpu ({processor()})"
