"""bench.common's machine record: hosts of the shared workstation report the same CPU name but
train to other figures, so a run records the SIMD flags and microcode that tell them apart."""

from bench.common import SIMD_FLAGS, cpu_fields, describe_machine, machine

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
microcode\t: 0x1000065
flags\t\t: fpu sse4_2 avx avx2 fma avx512f bmi2

processor\t: 1
model name\t: Another CPU
microcode\t: 0x2
"""


def test_cpu_fields_reads_the_first_processor_only():
    fields = cpu_fields(CPUINFO)
    assert fields["model name"] == "AMD EPYC"
    assert fields["microcode"] == "0x1000065"
    assert fields["flags"].split()[-2:] == ["avx512f", "bmi2"]
    assert fields["processor"] == "0"


def test_machine_lists_only_known_simd_flags_in_their_order():
    info = machine()
    assert set(info["simd"]) <= set(SIMD_FLAGS)
    assert info["simd"] == [flag for flag in SIMD_FLAGS if flag in info["simd"]]


def test_description_names_simd_flags_and_microcode_when_recorded():
    info = {
        "cpu": "AMD EPYC", "arch": "x86_64", "cores": 2, "python": "3.11.7", "numpy": "2.4.6",
        "date": "2026-12-05", "load_average_1min": 0.5,
    }  # fmt: skip
    assert describe_machine(info).startswith("AMD EPYC (x86_64), 2 cores")
    recorded = {**info, "simd": ["avx2", "fma"], "microcode": "0x1000065"}
    assert describe_machine(recorded).startswith(
        "AMD EPYC (x86_64; avx2 fma, microcode 0x1000065), 2 cores"
    )
