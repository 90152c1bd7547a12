"""DX7 SysEx: 32-voice banks and single-voice dumps, read and written byte-exactly.

Two messages carry DX7 voices:

- the 32-voice bulk dump, 4104 bytes: ``F0 43 0n 09 20 00``, 32 packed voices of 128 bytes,
  a checksum, ``F7`` (n is the MIDI channel 0..15);
- the single-voice dump, 163 bytes: ``F0 43 0n 00 01 1B``, one unpacked voice of 155 bytes,
  a checksum, ``F7``.

Both store the operators in reverse order, OP6 first; a Patch holds them OP1 first. The
checksum is the two's complement of the 7-bit sum of the data bytes. The reader is strict: any
byte it would not write back (a field out of range, a bit outside every field) is an error that
names the file, the byte and the field, so every bank it accepts writes back identically.
"""

from collections.abc import Sequence
from pathlib import Path

from firmware.dx7.patch import (
    N_OPERATORS,
    NAME_CHARS,
    OPERATOR_RANGES,
    PATCH_RANGES,
    Operator,
    Patch,
    PatchError,
)

N_BANK_VOICES = 32
UNPACKED_BYTES = 155
PACKED_BYTES = 128
BANK_BYTES = 6 + N_BANK_VOICES * PACKED_BYTES + 2
SINGLE_BYTES = 6 + UNPACKED_BYTES + 2
YAMAHA_ID = 0x43
BANK_FORMAT = (0x09, 0x20, 0x00)
"""Format number 9 (32 voices) and byte count 4096 in two 7-bit bytes."""
SINGLE_FORMAT = (0x00, 0x01, 0x1B)
"""Format number 0 (one voice) and byte count 155 in two 7-bit bytes."""

_OPERATOR_FIELDS: tuple[tuple[str, int], ...] = (
    ("rates", 4),
    ("levels", 4),
    ("break_point", 1),
    ("left_depth", 1),
    ("right_depth", 1),
    ("left_curve", 1),
    ("right_curve", 1),
    ("rate_scaling", 1),
    ("amp_mod_sensitivity", 1),
    ("velocity_sensitivity", 1),
    ("output_level", 1),
    ("fixed_frequency", 1),
    ("coarse", 1),
    ("fine", 1),
    ("detune", 1),
)
"""The 21 unpacked bytes of one operator, in order."""

_VOICE_FIELDS: tuple[tuple[str, int], ...] = (
    ("pitch_eg_rates", 4),
    ("pitch_eg_levels", 4),
    ("algorithm", 1),
    ("feedback", 1),
    ("osc_key_sync", 1),
    ("lfo_speed", 1),
    ("lfo_delay", 1),
    ("lfo_pitch_mod_depth", 1),
    ("lfo_amp_mod_depth", 1),
    ("lfo_key_sync", 1),
    ("lfo_waveform", 1),
    ("pitch_mod_sensitivity", 1),
    ("transpose", 1),
)
"""The 19 unpacked bytes after the operators, before the name."""

_BYTE_OFFSET = {"detune": 7, "algorithm": -1, "transpose": 24}
"""Stored byte = panel value + offset (detune 0..14 is -7..+7, algorithm 0..31 is 1..32)."""

_PACKED_OPERATOR_BITS: tuple[tuple[int, int, int], ...] = (
    *((byte, 0, 7) for byte in range(11)),  # rates, levels, break point, depths
    (11, 0, 2),  # left curve
    (11, 2, 2),  # right curve
    (12, 0, 3),  # rate scaling
    (13, 0, 2),  # amp mod sensitivity
    (13, 2, 3),  # key velocity sensitivity
    (14, 0, 7),  # output level
    (15, 0, 1),  # oscillator mode
    (15, 1, 5),  # coarse
    (16, 0, 7),  # fine
    (12, 3, 4),  # detune
)
"""For each of the 21 unpacked operator bytes: (packed byte, bit shift, bit width)."""

_PACKED_VOICE_BITS: tuple[tuple[int, int, int], ...] = (
    *((byte, 0, 7) for byte in range(102, 110)),  # pitch EG rates and levels
    (110, 0, 5),  # algorithm
    (111, 0, 3),  # feedback
    (111, 3, 1),  # oscillator key sync
    (112, 0, 7),  # LFO speed
    (113, 0, 7),  # LFO delay
    (114, 0, 7),  # LFO pitch mod depth
    (115, 0, 7),  # LFO amp mod depth
    (116, 0, 1),  # LFO key sync
    (116, 1, 3),  # LFO waveform
    (116, 4, 3),  # pitch mod sensitivity
    (117, 0, 7),  # transpose
    *((byte, 0, 7) for byte in range(118, 128)),  # name
)
"""For each of the 29 unpacked bytes after the operators: (packed byte, bit shift, width)."""


def _layout() -> tuple[tuple[tuple[str, int], ...], tuple[tuple[int, int, int], ...]]:
    """Per unpacked byte: (field label, highest byte value) and (packed byte, shift, width)."""
    labels: list[tuple[str, int]] = []
    bits: list[tuple[int, int, int]] = []
    for stored in range(N_OPERATORS):  # OP6 first
        prefix = f"OP{N_OPERATORS - stored} "
        for name, count in _OPERATOR_FIELDS:
            labels += _labels(prefix + name, count, OPERATOR_RANGES[name], name)
        bits += [(stored * 17 + b, shift, width) for b, shift, width in _PACKED_OPERATOR_BITS]
    for name, count in _VOICE_FIELDS:
        labels += _labels(name, count, PATCH_RANGES[name], name)
    labels += [(f"name[{i}]", 127) for i in range(NAME_CHARS)]
    bits += _PACKED_VOICE_BITS
    return tuple(labels), tuple(bits)


def _labels(
    label: str, count: int, value_range: tuple[int, int], name: str
) -> list[tuple[str, int]]:
    high = value_range[1] + _BYTE_OFFSET.get(name, 0)
    if count == 1:
        return [(label, high)]
    return [(f"{label}[{i}]", high) for i in range(count)]


_FIELDS, _PACKING = _layout()
_PACKED_USED_BITS = bytes(
    sum(((1 << width) - 1) << shift for byte, shift, width in _PACKING if byte == b)
    for b in range(PACKED_BYTES)
)


def checksum(payload: bytes) -> int:
    """The DX7 checksum byte: two's complement of the 7-bit sum of the payload."""
    return -sum(payload) & 0x7F


def encode_voice(patch: Patch) -> bytes:
    """The 155 unpacked bytes of a patch, OP6 first, as in a single-voice dump."""
    values: list[int] = []
    for op in reversed(patch.operators):
        values += _field_bytes(op, _OPERATOR_FIELDS)
    values += _field_bytes(patch, _VOICE_FIELDS)
    values += [ord(char) for char in patch.name]
    return bytes(values)


def decode_voice(unpacked: bytes, where: str = "voice", first_byte: int = 0) -> Patch:
    """A Patch from 155 unpacked bytes, every byte range-checked.

    Args:
        unpacked: the voice as in a single-voice dump, OP6 first.
        where: names the voice in errors (file name, voice number).
        first_byte: offset of unpacked[0] in the file, so that errors name the file's byte.
    """
    if len(unpacked) != UNPACKED_BYTES:
        raise PatchError(f"{where}: {len(unpacked)} voice bytes, expected {UNPACKED_BYTES}")
    for index, ((label, high), value) in enumerate(zip(_FIELDS, unpacked, strict=True)):
        if value > high:
            raise PatchError(
                f"{where} {label}: byte {first_byte + index} = {value}, expected 0..{high}"
            )
    return _to_patch(unpacked)


def pack_voice(patch: Patch) -> bytes:
    """The 128 packed bytes of a patch, as stored in a 32-voice bank."""
    packed = bytearray(PACKED_BYTES)
    for value, (byte, shift, _) in zip(encode_voice(patch), _PACKING, strict=True):
        packed[byte] |= value << shift
    return bytes(packed)


def unpack_voice(packed: bytes, where: str = "voice", first_byte: int = 0) -> Patch:
    """A Patch from 128 packed bytes; unused bits and out-of-range fields are errors."""
    if len(packed) != PACKED_BYTES:
        raise PatchError(f"{where}: {len(packed)} packed bytes, expected {PACKED_BYTES}")
    for index, (value, used) in enumerate(zip(packed, _PACKED_USED_BITS, strict=True)):
        if value & ~used:
            raise PatchError(
                f"{where}: byte {first_byte + index} = 0x{value:02X} sets bits outside every "
                f"field (mask 0x{used:02X})"
            )
    unpacked = bytearray(UNPACKED_BYTES)
    for index, ((label, high), (byte, shift, width)) in enumerate(
        zip(_FIELDS, _PACKING, strict=True)
    ):
        value = (packed[byte] >> shift) & ((1 << width) - 1)
        if value > high:
            raise PatchError(
                f"{where} {label}: byte {first_byte + byte} holds {value}, expected 0..{high}"
            )
        unpacked[index] = value
    return _to_patch(bytes(unpacked))


def format_bank(patches: Sequence[Patch], channel: int = 0) -> bytes:
    """A 4104-byte 32-voice bank; slots after the given patches hold INIT VOICE."""
    if len(patches) > N_BANK_VOICES:
        raise PatchError(f"bank: {len(patches)} patches, a bank holds {N_BANK_VOICES}")
    voices = list(patches) + [Patch()] * (N_BANK_VOICES - len(patches))
    return bank_message(b"".join(pack_voice(patch) for patch in voices), channel)


def bank_message(packed_voices: bytes, channel: int = 0) -> bytes:
    """Frame 32 packed voices (4096 bytes, as headerless .dx7 files such as hexter's store
    them) as a 32-voice bank message: header, checksum and end byte."""
    if len(packed_voices) != N_BANK_VOICES * PACKED_BYTES:
        raise PatchError(
            f"bank: {len(packed_voices)} packed bytes, expected {N_BANK_VOICES * PACKED_BYTES}"
        )
    return _message(channel, BANK_FORMAT, packed_voices)


def format_single(patch: Patch, channel: int = 0) -> bytes:
    """A 163-byte single-voice dump."""
    return _message(channel, SINGLE_FORMAT, encode_voice(patch))


def parse_syx(data: bytes, source: str = "<bytes>") -> tuple[Patch, ...]:
    """The patches of a 32-voice bank (32 of them) or of a single-voice dump (one).

    Args:
        data: the whole file.
        source: names the file in errors.

    Raises:
        PatchError: wrong length, header, checksum or end byte, or a voice out of range.
    """
    if len(data) not in (BANK_BYTES, SINGLE_BYTES):
        formats = {
            BANK_FORMAT[0]: ("32-voice bank", BANK_BYTES),
            SINGLE_FORMAT[0]: ("single voice", SINGLE_BYTES),
        }
        if len(data) > 3 and data[:2] == bytes((0xF0, YAMAHA_ID)) and data[3] in formats:
            kind, size = formats[data[3]]
            problem = "truncated" if len(data) < size else "bytes after the end"
            raise PatchError(f"{source}: {kind} of {len(data)} bytes, expected {size} ({problem})")
        raise PatchError(
            f"{source}: {len(data)} bytes, expected a DX7 32-voice bank ({BANK_BYTES} bytes) "
            f"or single voice ({SINGLE_BYTES} bytes)"
        )
    is_bank = len(data) == BANK_BYTES
    _check_frame(data, source, BANK_FORMAT if is_bank else SINGLE_FORMAT)
    if not is_bank:
        return (decode_voice(data[6:-2], f"{source} voice 1", first_byte=6),)
    voices = []
    for number in range(N_BANK_VOICES):
        start = 6 + number * PACKED_BYTES
        name = data[start + 118 : start + 128].decode("ascii", "replace").rstrip()
        where = f"{source} voice {number + 1} ({name!r})"
        voices.append(unpack_voice(data[start : start + PACKED_BYTES], where, start))
    return tuple(voices)


def read_syx(path: Path) -> tuple[Patch, ...]:
    """The patches of a .syx file (bank or single voice); errors name the file."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise PatchError(f"{path}: no such file") from None
    except OSError as error:
        raise PatchError(f"{path}: cannot read ({error.strerror})") from None
    return parse_syx(data, str(path))


def _message(channel: int, header: tuple[int, int, int], payload: bytes) -> bytes:
    if not 0 <= channel <= 15:
        raise PatchError(f"channel: {channel}, expected 0..15")
    return bytes((0xF0, YAMAHA_ID, channel, *header)) + payload + bytes((checksum(payload), 0xF7))


def _check_frame(data: bytes, source: str, header: tuple[int, int, int]) -> None:
    """Check start byte, manufacturer, sub-status, format, byte count, checksum and end byte."""
    kind = "32-voice bank" if header == BANK_FORMAT else "single voice"
    expected = {0: 0xF0, 1: YAMAHA_ID, 3: header[0], 4: header[1], 5: header[2]}
    for index, value in expected.items():
        if data[index] != value:
            raise PatchError(
                f"{source}: byte {index} = 0x{data[index]:02X}, expected 0x{value:02X} "
                f"(DX7 {kind} header F0 43 0n {header[0]:02X} {header[1]:02X} {header[2]:02X})"
            )
    if data[2] > 0x0F:
        raise PatchError(
            f"{source}: byte 2 = 0x{data[2]:02X}, expected 0x00..0x0F (voice data, channel 1..16)"
        )
    payload = data[6:-2]
    if any(value > 0x7F for value in payload):
        index = 6 + next(i for i, value in enumerate(payload) if value > 0x7F)
        raise PatchError(f"{source}: byte {index} = 0x{data[index]:02X}, data bytes are 7-bit")
    if data[-2] != checksum(payload):
        raise PatchError(
            f"{source}: checksum byte {len(data) - 2} = 0x{data[-2]:02X}, the data needs "
            f"0x{checksum(payload):02X} (corrupt file)"
        )
    if data[-1] != 0xF7:
        raise PatchError(f"{source}: last byte = 0x{data[-1]:02X}, expected 0xF7 (SysEx end)")


def _field_bytes(obj: object, layout: tuple[tuple[str, int], ...]) -> list[int]:
    values: list[int] = []
    for name, count in layout:
        value = getattr(obj, name)
        items = value if count > 1 else (value,)
        values += [int(item) + _BYTE_OFFSET.get(name, 0) for item in items]
    return values


def _fields_from(
    data: bytes, start: int, layout: tuple[tuple[str, int], ...]
) -> tuple[dict[str, object], int]:
    values: dict[str, object] = {}
    for name, count in layout:
        items = tuple(byte - _BYTE_OFFSET.get(name, 0) for byte in data[start : start + count])
        start += count
        if name in ("fixed_frequency", "osc_key_sync", "lfo_key_sync"):
            values[name] = bool(items[0])
        else:
            values[name] = items if count > 1 else items[0]
    return values, start


def _to_patch(unpacked: bytes) -> Patch:
    """A Patch from 155 range-checked unpacked bytes (OP6 first)."""
    operators: list[Operator] = []
    position = 0
    for _ in range(N_OPERATORS):
        values, position = _fields_from(unpacked, position, _OPERATOR_FIELDS)
        operators.insert(0, Operator(**values))  # type: ignore[arg-type]
    values, position = _fields_from(unpacked, position, _VOICE_FIELDS)
    name = "".join(chr(byte) for byte in unpacked[position : position + NAME_CHARS])
    return Patch(name=name, operators=tuple(operators), **values)  # type: ignore[arg-type]
