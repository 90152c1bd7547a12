"""DX7 SysEx reading and writing: byte-exact round trips on real banks, operator order, errors."""

import dataclasses
import random
from pathlib import Path

import dexed
import pytest

from firmware.dx7.patch import OPERATOR_RANGES, PATCH_RANGES, Operator, Patch, PatchError
from firmware.dx7.sysex import (
    BANK_BYTES,
    bank_message,
    checksum,
    decode_voice,
    encode_voice,
    format_bank,
    format_single,
    pack_voice,
    parse_syx,
    read_syx,
    unpack_voice,
)

HEXTER_DIR = Path("/usr/share/hexter")
"""Debian's hexter package ships the factory DX7/TX7 ROM voices and FB-01 conversions as raw
packed voices (4096 bytes per bank, no SysEx framing)."""
HEXTER_FILES = (
    "dx7_roms.dx7",
    "tx7_roms.dx7",
    "fb01_roms_converted_12.dx7",
    "fb01_roms_converted_34.dx7",
    "fb01_roms_converted_5.dx7",
)
needs_hexter = pytest.mark.skipif(
    not (HEXTER_DIR / "dx7_roms.dx7").exists(), reason="apt-get install hexter (DX7 ROM banks)"
)


def hexter_banks() -> list[bytes]:
    """Every 4096-byte bank of the hexter files, framed as standard 32-voice SysEx."""
    banks = []
    for name in HEXTER_FILES:
        data = (HEXTER_DIR / name).read_bytes()
        for start in range(0, len(data) - 4095, 4096):  # whole banks only
            banks.append(bank_message(data[start : start + 4096]))
    return banks


def _tail(payload: bytes) -> bytes:
    return bytes(((-sum(payload)) & 0x7F, 0xF7))


def random_patch(rng: random.Random) -> Patch:
    """A patch with every field drawn uniformly from its range."""

    def draw(ranges: dict[str, tuple[int, int]], name: str) -> object:
        low, high = ranges[name]
        if name in ("rates", "levels", "pitch_eg_rates", "pitch_eg_levels"):
            return tuple(rng.randint(low, high) for _ in range(4))
        if name in ("fixed_frequency", "osc_key_sync", "lfo_key_sync"):
            return bool(rng.randint(0, 1))
        return rng.randint(low, high)

    ops = tuple(
        Operator(**{name: draw(OPERATOR_RANGES, name) for name in OPERATOR_RANGES})
        for _ in range(6)
    )
    name = "".join(chr(rng.randint(32, 127)) for _ in range(10))
    return Patch(name=name, operators=ops, **{n: draw(PATCH_RANGES, n) for n in PATCH_RANGES})


@needs_hexter
def test_factory_rom_banks_round_trip_byte_for_byte() -> None:
    banks = hexter_banks()
    assert len(banks) == 13  # 416 voices
    for bank in banks:
        patches = parse_syx(bank, "rom")
        assert len(patches) == 32
        assert format_bank(patches) == bank


@needs_hexter
def test_factory_voices_read_as_published() -> None:
    """ROM1A as printed in the DX7 voice data list: names, algorithms and feedback."""
    rom1a = parse_syx(hexter_banks()[0], "rom1a")
    published = {0: ("BRASS   1", 22, 7), 10: ("E.PIANO 1", 5, 6), 25: ("TUB BELLS", 5, 7)}
    for slot, (name, algorithm, feedback) in published.items():
        assert (rom1a[slot].name, rom1a[slot].algorithm, rom1a[slot].feedback) == (
            name + " " * (10 - len(name)),
            algorithm,
            feedback,
        )


@needs_hexter
def test_operators_match_dexed_reader_on_factory_voices() -> None:
    """dexed-py's own reader (an independent implementation) sees the same operators in the
    same order, OP1 first, for every factory voice."""
    for bank in hexter_banks()[:2]:
        for patch in parse_syx(bank, "rom"):
            theirs = dexed.Patch.from_sysex(encode_voice(patch))
            for number, op in enumerate(patch.operators):
                other = theirs.op[number]
                assert (op.rates, op.levels) == (
                    tuple(other.envelope.rates),
                    tuple(other.envelope.levels),
                )
                assert (op.output_level, op.coarse, op.fine, op.detune + 7) == (
                    other.output_level,
                    other.frequency_coarse,
                    other.frequency_fine,
                    other.detune,
                )
            assert patch.algorithm - 1 == theirs.algorithm


def test_random_valid_voices_round_trip_through_bank_and_single_dumps() -> None:
    rng = random.Random(7)
    patches = [random_patch(rng) for _ in range(64)]
    for start in (0, 32):
        bank = format_bank(patches[start : start + 32], channel=5)
        assert len(bank) == BANK_BYTES and bank[2] == 5
        assert list(parse_syx(bank)) == patches[start : start + 32]
        assert format_bank(parse_syx(bank), channel=5) == bank
    for patch in patches:
        single = format_single(patch)
        assert parse_syx(single) == (patch,)
        assert unpack_voice(pack_voice(patch)) == patch
        assert decode_voice(encode_voice(patch)) == patch


def test_init_voice_single_dump_has_the_published_bytes() -> None:
    """The DX7 INIT VOICE: every EG 99/99/99/99 99/99/99/0, break point C3 (39), detune 0
    (stored 7), coarse 1, OP1 level 99, others 0; algorithm 1 (stored 0), pitch EG levels 50,
    LFO speed 35, key sync on, pitch mod sensitivity 3, transpose C3 (stored 24)."""
    dump = format_single(Patch())
    assert dump[:6] == bytes((0xF0, 0x43, 0x00, 0x00, 0x01, 0x1B))
    voice = dump[6:161]
    for stored in range(6):  # OP6 first
        block = voice[21 * stored : 21 * stored + 21]
        level = 99 if stored == 5 else 0
        assert list(block) == [99] * 7 + [0, 39, 0, 0, 0, 0, 0, 0, 0, level, 0, 1, 0, 7]
    assert list(voice[126:145]) == [99] * 4 + [50] * 4 + [0, 0, 1, 35, 0, 0, 0, 1, 0, 3, 24]
    assert voice[145:155] == b"INIT VOICE"
    assert (sum(voice) + dump[161]) % 128 == 0 and dump[162] == 0xF7


def test_operators_are_stored_op6_first() -> None:
    voice = bytearray(encode_voice(Patch()))
    voice[16] = 77  # output level of the first stored operator block
    voice[18] = 5  # its coarse frequency
    patch = decode_voice(bytes(voice))
    assert patch.operators[5].output_level == 77 and patch.operators[5].coarse == 5
    assert patch.operators[0].output_level == 99  # OP1 (stored last) keeps INIT's level
    assert encode_voice(patch.replace_operator(6, detune=-7))[20] == 0


def test_dexed_renders_the_operator_we_call_op6() -> None:
    """Independent check of the order: dexed plays OP6 only when our OP6 is the sole sound."""
    patch = dataclasses.replace(Patch(algorithm=32), operators=(Operator(),) * 6)
    patch = patch.replace_operator(6, output_level=99)
    synth = dexed.DexedSynth(48000)
    synth.load_patch(dexed.Patch.from_sysex(encode_voice(patch)))
    ops = synth.render_all_ops(69, 100, 0.1, 0.1)
    assert [float(abs(ops[i]).max()) > 0.5 for i in range(6)] == [False] * 5 + [True]


def test_checksum_makes_the_payload_sum_to_zero() -> None:
    payload = bytes(range(128)) * 3
    assert (sum(payload) + checksum(payload)) % 128 == 0


def _bank() -> bytes:
    return format_bank([Patch(name="ONE"), Patch(name="TWO", algorithm=5, feedback=3)])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_bank()[:4000], "32-voice bank of 4000 bytes, expected 4104 (truncated)"),
        (b"", "0 bytes, expected a DX7 32-voice bank"),
        (b"\xf0\x41" + _bank()[2:], "byte 1 = 0x41, expected 0x43"),
        (_bank()[:3] + b"\x02" + _bank()[4:], "byte 3 = 0x02, expected 0x09"),
        (_bank()[:2] + b"\x12" + _bank()[3:], "byte 2 = 0x12, expected 0x00..0x0F"),
        (_bank()[:-2] + bytes(((_bank()[-2] + 1) & 0x7F, 0xF7)), "checksum byte 4102"),
        (_bank()[:-1] + b"\x00", "last byte = 0x00, expected 0xF7"),
    ],
)
def test_malformed_bank_is_a_one_line_error_naming_file_and_byte(data: bytes, message: str) -> None:
    with pytest.raises(PatchError, match=r"^my\.syx: ") as error:
        parse_syx(data, "my.syx")
    assert message in str(error.value) and "\n" not in str(error.value)


def _bank_with_byte(index: int, value: int) -> bytes:
    payload = bytearray(_bank()[6:-2])
    payload[index - 6] = value
    return _bank()[:6] + bytes(payload) + _tail(bytes(payload))


def test_out_of_range_field_names_voice_operator_field_and_byte() -> None:
    detune_15 = _bank_with_byte(6 + 128 + 12, 15 << 3)  # voice 2, first block (OP6): detune 15
    with pytest.raises(PatchError) as error:
        parse_syx(detune_15, "my.syx")
    assert str(error.value) == (
        "my.syx voice 2 ('TWO') OP6 detune: byte 146 holds 15, expected 0..14"
    )
    rate_120 = _bank_with_byte(6 + 17 * 5 + 2, 120)  # voice 1, OP1 R3
    with pytest.raises(PatchError, match=r"OP1 rates\[2\]: byte 93 holds 120, expected 0..99"):
        parse_syx(rate_120, "my.syx")
    single = bytearray(format_single(Patch()))
    single[6 + 134] = 32  # algorithm byte: 0..31
    single[-2] = checksum(bytes(single[6:-2]))
    with pytest.raises(PatchError, match=r"algorithm: byte 140 = 32, expected 0..31"):
        parse_syx(bytes(single), "one.syx")


def test_unused_bits_and_8_bit_data_are_errors() -> None:
    with pytest.raises(PatchError, match=r"byte 17 = 0x50 sets bits outside every field"):
        parse_syx(_bank_with_byte(6 + 11, 0x50), "my.syx")  # curves byte, bit 6 set
    with pytest.raises(PatchError, match=r"byte 6 = 0x80, data bytes are 7-bit"):
        parse_syx(_bank_with_byte(6, 0x80), "my.syx")


def test_read_syx_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PatchError, match=r"nope\.syx: no such file"):
        read_syx(tmp_path / "nope.syx")
    path = tmp_path / "bank.syx"
    path.write_bytes(_bank())
    assert read_syx(path)[1].display_name == "TWO"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Operator(coarse=32), "operator coarse: 32 is out of range 0..31"),
        (lambda: Operator(detune=8), "operator detune: 8 is out of range -7..7"),
        (lambda: Operator(rates=(99, 99, 99)), "operator rates: (99, 99, 99), expected 4"),
        (lambda: Patch(algorithm=0), "algorithm: 0 is out of range 1..32"),
        (lambda: Patch(name="ELEVEN CHRS"), "name: 'ELEVEN CHRS' is not a string of at most"),
        (lambda: Patch(operators=(Operator(),) * 5), "operators: expected 6 Operator values"),
        (lambda: format_bank([Patch()] * 33), "bank: 33 patches, a bank holds 32"),
    ],
)
def test_invalid_patch_values_are_errors_naming_the_field(make, message: str) -> None:
    with pytest.raises(PatchError) as error:
        make()
    assert message in str(error.value)
