"""The processor as the course sees it: its name, the flags that matter for speed, native bf16."""

import pytest

from course_utils import cpu

INTEL_SPR = {"model name": "Intel(R) Xeon(R) Platinum 8480+", "flags": "fpu avx2 avx512f avx512_vnni amx_bf16 amx_tile"}
AMD_ZEN4 = {"model name": "AMD EPYC 9454 48-Core Processor", "flags": "fpu avx2 avx512f avx512_bf16 avx512_vnni"}
AMD_ZEN3 = {"model name": "AMD EPYC 7763 64-Core Processor", "flags": "fpu sse4_2 avx2 fma"}


@pytest.mark.parametrize(
    "info,flags,native",
    [
        (INTEL_SPR, ["avx2", "avx512f", "avx512_vnni", "amx_bf16", "amx_tile"], True),  # AMX: native bf16
        (AMD_ZEN4, ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"], True),  # AVX512-BF16: native
        (AMD_ZEN3, ["avx2"], False),  # bf16 emulated, slower than fp32: never tried
        ({}, [], False),  # no /proc/cpuinfo (macOS, Windows): fp32
    ],
)
def test_native_bf16_only_with_the_hardware_flags(monkeypatch, info, flags, native):
    monkeypatch.setattr(cpu, "_cpuinfo", lambda: info)
    assert cpu.flags() == flags and cpu.native_bf16() is native


def test_the_label_names_the_processor(monkeypatch):
    monkeypatch.setattr(cpu, "_cpuinfo", lambda: AMD_ZEN4)
    assert cpu.processor() == "AMD EPYC 9454 48-Core Processor"
    assert cpu.label() == "cpu (AMD EPYC 9454 48-Core Processor)"
    monkeypatch.setattr(cpu, "_cpuinfo", lambda: {})
    assert cpu.processor()  # platform's name for it, never empty


def test_this_machine_is_read_from_its_own_cpuinfo():
    cpu._cpuinfo.cache_clear()
    info = cpu._cpuinfo()
    if info:  # Linux
        assert cpu.processor() == info["model name"] and set(cpu.flags()) <= set(info["flags"].split())
