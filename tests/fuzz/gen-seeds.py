#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ (run from anywhere).

The seeds are SPEC.md's golden packets and TLV messages in each target's
input layout (see the comment at the top of each fuzz_*.c), plus
config/ingestd.ini and a few variants of it, and declared schemas (issue
12): compact descriptions for fuzz_schema, [schema] text for fuzz_record,
streams with good, bad and garbage frames for fuzz_decode, and configs with
[schema] sections for fuzz_config.  Frames that should be good carry the
right checksum (computed here from the CRC catalogue's parameters).
Existing crash-* regression inputs are left alone.  Re-running rewrites the
same files.
"""
import os
import struct
import zlib

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")

SENSOR24 = bytes.fromhex("000001a4427856aa0c800000000105194248000042c86666")
LEGACY16 = bytes.fromhex("cafeadde000040a0000001b580510100")
HELLO = bytes.fromhex("010005") + b"hello"
GOODBYE = bytes.fromhex("020008") + b"goodbye!"


def crc8(data):  # CRC-8/SMBUS
    c = 0
    for b in data:
        c ^= b
        for _ in range(8):
            c = ((c << 1) ^ 0x07) & 0xFF if c & 0x80 else (c << 1) & 0xFF
    return c


def crc16_modbus(data):
    c = 0xFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
    return c


def crc16_ccitt(data):  # CRC-16/IBM-3740
    c = 0xFFFF
    for b in data:
        c ^= b << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def tlv(t, value):
    return bytes([t]) + struct.pack(">H", len(value)) + value


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def framer_seeds():
    # [0] framing (0 fixed24, 1 fixed16, 2 tlv), [1] max_value code,
    # [2] slab code, [3..6] chunk codes, then the stream.
    def hdr(kind, mv=255, slab=0, chunks=(3, 9, 0, 127)):
        return bytes([kind, mv, slab]) + bytes(chunks)

    write("fuzz_framer", "sensor24-x3.bin", hdr(0) + SENSOR24 * 3 + SENSOR24[:7])
    write("fuzz_framer", "legacy16-x4.bin", hdr(1, chunks=(15, 16, 0, 1)) + LEGACY16 * 4 + LEGACY16[:3])
    # SPEC.md's split: 4 bytes, then the rest of message 1 and 6 of message 2, then the rest.
    write("fuzz_framer", "tlv-golden-split.bin", hdr(2, chunks=(3, 9, 4, 127)) + HELLO + GOODBYE)
    # A value right at the carry limit (256 + 3 header bytes), and one past it.
    write("fuzz_framer", "tlv-carry-edge.bin",
          hdr(2, mv=140, slab=5) + tlv(7, bytes(range(253)) + b"abc") + tlv(9, b"x" * 257) + HELLO)
    # A large frame retained across reads in a small slab, then a partial one.
    write("fuzz_framer", "tlv-retained.bin",
          hdr(3, mv=165, slab=1, chunks=(200, 130, 0, 255)) + tlv(1, b"R" * 3000) + GOODBYE + tlv(2, b"p" * 900)[:500])
    # Errors: type 0 after a frame; a length over max_value (max 100).
    write("fuzz_framer", "tlv-bad-type.bin", hdr(2) + HELLO + b"\x00\x00\x01A")
    write("fuzz_framer", "tlv-oversize.bin", hdr(2, mv=50) + HELLO + tlv(3, b"y" * 101))
    write("fuzz_framer", "tlv-empty-values.bin", hdr(2, mv=0) + tlv(1, b"") * 5 + b"\x01\x00")


def schema_seeds():
    write("fuzz_schema", "sensor24.bin", SENSOR24)
    write("fuzz_schema", "legacy16.bin", LEGACY16)
    write("fuzz_schema", "legacy16-bad-magic.bin", b"\xca\xfd" + LEGACY16[2:])
    # NaN timestamp, -Inf humidity, a subnormal pressure.
    write("fuzz_schema", "sensor24-nonfinite.bin",
          SENSOR24[:4] + struct.pack(">d", float("nan")) + SENSOR24[12:16] +
          struct.pack(">f", float("-inf")) + struct.pack(">I", 1))
    # Integral doubles >= 2^63 and >= 1e21 (digits vs exponent), -0, 5e-7.
    write("fuzz_schema", "sensor24-big.bin",
          SENSOR24[:4] + struct.pack(">d", 2.0 ** 64) + SENSOR24[12:16] +
          struct.pack(">f", -0.0) + struct.pack(">f", 5e-7))
    write("fuzz_schema", "sensor24-1e21.bin",
          SENSOR24[:4] + struct.pack(">d", 1e21) + SENSOR24[12:])
    write("fuzz_schema", "sensor24-plus.bin", SENSOR24 + b"\x00")
    write("fuzz_schema", "empty.bin", b"")

    # Declared schemas, in fuzz_schema.c's compact layout: a 6-byte header
    # (fields, order, checksum; size; checksum offset, first, span, flags)
    # and 4 bytes per field (type+flags, offset, option+param, param).
    U8, I8, U16, I16, U24, I24, U32, I32, U64, I64, F32, F64, STR, HEX = range(14)
    ORDER, LE, OMIT, BITS = 0x10, 0x20, 0x40, 0x80
    NONE, MAGIC, SCALE, DIV, ADD, SCALE_ADD, DIV_ADD, JSON = range(8)
    ALGO = {None: 0, "xor8": 1, "sum8": 2, "crc8": 3, "crc16-modbus": 4, "crc16-ccitt": 5, "crc32": 6}

    def compact(fields, size=1, le=False, be_line=False, algo=None, ck=(0, 0, 0), ck_flags=0, frame=b""):
        hdr = bytes([(len(fields) - 1) | (8 if le else 0) | ALGO[algo] << 4,
                     ((size - 1) & 0x3f) | (0x80 if be_line else 0), ck[0], ck[1], ck[2], ck_flags])
        if hdr[0] == 0:  # 0 starts a text input; 0x70 is the same layout
            hdr = b"\x70" + hdr[1:]
        body = b"".join(bytes([t, o, opt | a5 << 3, b]) for t, o, opt, a5, b in fields)
        data = hdr + body + frame
        assert len(data) <= 64, len(data)
        return data

    # The env16, with a stored crc16-modbus (le) at the end; the
    # magic taken from the frame (B bit 0).
    write("fuzz_schema", "declared-env16.bin", compact([
        (U8 | OMIT, 0, MAGIC, 0, 1),          # proto: magic, omit
        (U24, 1, NONE, 0, 0),                 # devId
        (I16, 4, DIV, 4, 0),                  # temp_c: div=100
        (U8, 6, SCALE, 2, 0),                 # rh: scale=0.5
        (U8 | BITS, 7, NONE, 0, 0x80),        # lowBatt: bit=0
        (U8 | BITS, 7, NONE, 1, 0x44),        # mode: bits=4..7
        (U64 | ORDER, 8, NONE, 0, 0),         # count: be
    ], size=16, le=True, algo="crc16-modbus", ck_flags=1 | 8,
        frame=bytes.fromhex("02123456") + struct.pack("<h", -1234) + bytes([87, 0xa1]) +
        struct.pack(">Q", 2 ** 64 - 1)))
    # str (UTF-8, an invalid byte, escapes, a NUL), hex, floats scaled, 64-bit json=string.
    write("fuzz_schema", "declared-str-hex.bin", compact([
        (STR, 0, NONE, 11, 0),                # str len=12
        (HEX, 12, NONE, 3, 0),                # hex len=4
        (F32 | ORDER | LE, 16, SCALE, 0, 0),  # f32 le scale=0.1
        (F64, 20, ADD, 0, 3),                 # f64 add=273.15
        (I64, 20, JSON, 0, 0),                # i64 json=string
        (U64 | ORDER | LE, 20, JSON, 0, 0),   # u64 le json=string
    ], size=28, frame="h\u00e9\u20ac\"\\\n".encode() + b"\xff\x01\x00z" + b"\xde\xad\xbe\xef"))
    # UTF-8 edge cases: a surrogate, an overlong form, past U+10FFFF, a
    # 4-byte and a 2-byte sequence (the first three each one U+FFFD a byte).
    write("fuzz_schema", "declared-str-utf8.bin", compact([(STR, 0, NONE, 15, 0)], size=16,
          frame=b"\xed\xa0\x80\xe0\x80\xaf\xf4\x90\x80\x80\xf0\x9f\x98\x80\xc2\x80"))
    # A signed magic written in hex, i24 bits sign-extended, crc32 at the end.
    write("fuzz_schema", "declared-crc32-magic.bin", compact([
        (I16, 0, MAGIC, 1, 1),                # i16 magic=0x...
        (I24 | BITS, 2, NONE, 5, 3),          # i24 bits=3..13
        (I32 | ORDER | LE, 5, DIV_ADD, 26, 1),  # div=.5 add=-40
        (U32, 9, SCALE_ADD, 15, 6),           # scale=DBL_MAX add=-1e308
    ], size=17, algo="crc32", ck_flags=1 | 8, frame=b"\xff\xfe\x80\x00\x01" + b"\x7f" * 8))
    # crc8 / xor8 / sum8 / ccitt over part of the frame.
    for algo, flags in (("crc8", 1), ("xor8", 1), ("sum8", 1 | 8), ("crc16-ccitt", 1 | 2)):
        write("fuzz_schema", "declared-%s.bin" % algo, compact([
            (U16, 0, NONE, 0, 0), (I8, 2, NONE, 0, 0), (U32 | ORDER | LE, 3, MAGIC, 3, 0x0b)],
            size=12, algo=algo, ck=(9, 1, 6), ck_flags=flags, frame=b"\x10\x20\x30\x40\x50\x60\x70"))
    # As text: 0, a [schema f] body, NUL, the frame.
    write("fuzz_schema", "declared-text-i24.bin", b"\x00size=3\nfield.a=i24 @0 le\n\x00\x80\x00\xff")
    write("fuzz_schema", "declared-text-bits.bin",
          b"\x00size=2\nfield.a=u16 @0 bits=3..9\nfield.b=i8 @1 magic=-1\n\x00\x12\xff")
    # Refused: div=0, every field omitted, a checksum over its own bytes.
    write("fuzz_schema", "declared-div0.bin", compact([(U16, 0, DIV, 24, 0)], size=2))
    write("fuzz_schema", "declared-all-omit.bin", compact([(U16 | OMIT, 0, NONE, 0, 0)], size=2))
    write("fuzz_schema", "declared-ck-overlap.bin",
          compact([(U8, 0, NONE, 0, 0)], size=4, algo="crc16-modbus", ck=(1, 0, 3)))


def record_seeds():
    # [0] type, [1] name length, name, 8-byte rx time, value.
    def rec(t, name, rx, value):
        return bytes([t, len(name)]) + name + struct.pack(">q", rx) + value

    write("fuzz_record", "hello.bin", rec(1, b"mixed", 1672531200000, b"hello"))
    write("fuzz_record", "goodbye.bin", rec(2, b"mixed", 1672531200001, b"goodbye!"))
    write("fuzz_record", "empty-value.bin", rec(255, b"a", -1, b""))
    write("fuzz_record", "binary.bin", rec(77, b"sensors.eu-1", 0, bytes(range(256))))
    write("fuzz_record", "utf8-name.bin", rec(3, "caf\u00e9 \"q\" \\ \t".encode(), 2 ** 63 - 1, b"\x00\xff"))
    write("fuzz_record", "bad-utf8-name.bin", rec(4, b"\xc0\xaf\xed\xa0\x80", -(2 ** 63), b"ab"))
    write("fuzz_record", "big-value.bin", rec(9, b"x", 5, b"\x5a" * 4000))

    # Declared schemas: 0, a [schema f] body, NUL, the frame's bytes.
    def declared(body, frame):
        return b"\x00" + body.encode() + b"\x00" + frame

    env16 = ("size  = 16\norder = le\nfield.proto   = u8  @0 magic=0x02 omit\n"
             "field.devId   = u24 @1\nfield.temp_c  = i16 @4 div=100\nfield.rh      = u8  @6 scale=0.5\n"
             "field.lowBatt = u8  @7 bit=0\nfield.mode    = u8  @7 bits=4..7\n"
             "field.count   = u64 @8 be\nchecksum = crc16-modbus @14 over=0..13 le\n")
    # count (u64 @8) overlaps the checksum (@14), as in the issue.
    frame = (bytes.fromhex("02563412") + struct.pack("<h", 2150) + bytes([91, 0x51]) + struct.pack(">Q", 2 ** 63 + 5))[:14]
    write("fuzz_record", "declared-env16.bin", declared(env16, frame + struct.pack("<H", crc16_modbus(frame))))
    write("fuzz_record", "declared-env16-bad-crc.bin", declared(env16, frame + b"\x00\x00"))
    # sensor24 written out as a [schema] section.
    sensor24 = ("size = 24\nfield.sensorId = u32 @0\nfield.timestamp = f64 @4\nfield.sensorType = u16 @12\n"
                "field.statusFlags = u8 @14\nfield.temperature = i8 @15\nfield.humidity = f32 @16\n"
                "field.pressure = f32 @20\n")
    write("fuzz_record", "declared-sensor24.bin", declared(sensor24, SENSOR24))
    # str and hex: UTF-8 of 1..4 bytes, invalid and truncated sequences, escapes, a NUL.
    strs = ("size = 48\nfield.s = str @0 len=32\nfield.h = hex @32 len=8\n"
            "field.big = u64 @40 json=string\nfield.neg = i64 @40 le json=string\n"
            "field.f = f32 @40 le\nfield.d = f64 @40 div=3 add=0.1\n")
    text = "a\u00e9\u20ac\U0001f600\"\\/\b\f\n\r\t\x01\x7f".encode() + b"\xc3\xe2\x82\xed\xa0\x80\xf4\x90"
    write("fuzz_record", "declared-str.bin", declared(strs, text[:32].ljust(32, b"\x00") + bytes(range(0xf8, 0x100)) +
                                                      b"\xff" * 8))
    write("fuzz_record", "declared-str-nul.bin", declared(strs, b"ab\x00cd" + b"\x80" * 27 + b"\x00" * 16))
    # Two schemas in one text, crc32 and crc16-ccitt, bits of a signed type, a negative magic.
    two = ("size = 9\nfield.sig = i16 @0 magic=-2\nfield.t = i24 @2 bits=4..19\nfield.x = u8 @5 omit\n"
           "checksum = crc32 @5 over=0..4 be\n[schema g]\nsize = 6\norder = le\nfield.a = u16 @0 scale=0.01 add=-40\n"
           "field.b = i16 @2 bits=0..0\nchecksum = crc16-ccitt @4 over=0..3\n")
    head = b"\xff\xfe\xab\xcd\xef"
    write("fuzz_record", "declared-two.bin", declared(two, head + struct.pack(">I", crc32(head))))


def decode_seeds():
    # [0] listener (fuzz_decode.c: 0 resync1, 1 resync3, 2 skip3, 3 tlvskip,
    # 4 close1, 5 tlvclose, 6 legacy, 7 tiny), [1] chunk seed, the stream.
    def g1(i, v):
        body = b"\xa5" + struct.pack(">H", i) + struct.pack("<i", v)
        return body + bytes([crc8(body)])

    def gen_a(a, b):
        return b"\xca\xfe" + struct.pack(">I", a) + struct.pack("<I", b)

    def gen_b(x, s4):
        body = b"\xbe\xef" + struct.pack("<h", x) + s4
        return body + struct.pack("<H", crc16_modbus(body))

    def gen_c(lo, t):
        return bytes([0xd0 | lo]) + t

    def tiny(v):
        return struct.pack(">H", v) + bytes([((v >> 8) + v) & 0xff])

    def seed(listener, stream, chunk=7):
        return bytes([listener, chunk]) + stream

    good1 = g1(1, -12345) + g1(2, 7) + g1(65535, 2 ** 31 - 1)
    write("fuzz_decode", "resync1-garbage.bin", seed(0, good1 + b"\xa5\x00\x01junk" + g1(3, 0) + b"\xa5" * 5 + g1(4, -1)))
    write("fuzz_decode", "resync1-giveup.bin", seed(0, g1(1, 1) + bytes(range(100, 160)) + g1(2, 2)))
    write("fuzz_decode", "resync1-at-limit.bin", seed(0, g1(1, 1) + b"\x00" * 40 + g1(2, 2) + g1(3, 3)[:5]))
    fleet = gen_a(1, 2) + gen_b(-2500, b"ok\x00\x00") + gen_c(5, b"\x01" * 9) + gen_b(1, b"\xc3\xa9\xff!")
    write("fuzz_decode", "resync3-fleet.bin", seed(1, fleet + b"\xca\xfe\x00" + fleet + b"\xbe\xef" + b"\x00" * 8 + gen_a(3, 4)))
    write("fuzz_decode", "skip3-fleet.bin", seed(2, fleet + b"\xbe\xef" + b"\x00" * 8 + b"\x12" * 10 + fleet + b"\xca"))
    write("fuzz_decode", "tlvskip.bin", seed(3, tlv(1, g1(5, 5)) + tlv(2, gen_b(9, b"abcd")) + tlv(3, LEGACY16) +
                                                tlv(4, tiny(0x1234)) + tlv(9, b"raw!") + tlv(1, b"short") +
                                                tlv(2, gen_b(9, b"abcd")[:-1] + b"\x00") + tlv(4, b"\x00\x00\x01") +
                                                tlv(3, LEGACY16) + tlv(5, b"x" * 41)))
    write("fuzz_decode", "close1.bin", seed(4, good1 + g1(9, 9)[:-1] + b"\x00" + good1))
    write("fuzz_decode", "tlvclose.bin", seed(5, tlv(1, g1(1, 2)) + tlv(7, gen_a(5, 6)) + tlv(200, b"r" * 300) +
                                                 tlv(1, g1(1, 2)[:4]) + tlv(1, g1(3, 4))))
    write("fuzz_decode", "tlvclose-type0.bin", seed(5, tlv(7, gen_a(5, 6)) + b"\x00\x00\x00"))
    write("fuzz_decode", "legacy-resync.bin", seed(6, LEGACY16 * 2 + b"\xca" * 7 + LEGACY16 + b"\x00" * 30 + LEGACY16))
    write("fuzz_decode", "tiny.bin", seed(7, tiny(1) + tiny(2) + b"\x01\x02\x04" + tiny(0xfffe) + b"\xff" * 9 + tiny(7)))


def config_seeds():
    with open(os.path.join(ROOT, "config", "ingestd.ini"), "rb") as f:
        ini = f.read()
    write("fuzz_config", "ingestd.ini", ini)
    write("fuzz_config", "crlf-bom.ini", b"\xef\xbb\xbf" + ini.replace(b"\n", b"\r\n"))
    write("fuzz_config", "minimal-fixed.ini",
          b"[listener a]\naddress = 127.0.0.1\nport = 0\nframing = fixed\nschema = legacy16\n")
    write("fuzz_config", "minimal-tlv.ini",
          b"[pool]\nslab_size = 4096\nslabs = 2\nreserve = 1\nmax_waiters = 1\nwaiters_low = 0\n"
          b"max_retained = 1\n\n[listener t.1]\naddress = ::1\nport = 65535\nframing = tlv\n"
          b"type.1 = sensor24\ntype.255 = legacy16\nmax_frame = 4093\n")
    write("fuzz_config", "tlv-slab-too-small.ini",
          b"[pool]\nslab_size = 4096\n[listener t]\naddress = 0.0.0.0\nport = 1\nframing = tlv\n")
    write("fuzz_config", "dup-port.ini",
          b"[listener a]\naddress = ::1\nport = 9\nframing = fixed\nschema = sensor24\n"
          b"[listener b]\naddress = 0::1\nport = 9\nframing = fixed\nschema = sensor24\n")
    write("fuzz_config", "errors.ini",
          b"[output]\npath = /tmp/x ; comment\nmetadata = maybe\n")
    write("fuzz_config", "comments.ini",
          b"# c\n; c\n[log] ; c\nlevel = debug\nstats_interval = 2.5\n"
          b"[metrics]\nenabled = yes\naddress = ::\nport = 0\nunhealthy_after = 1\n"
          b"[limits]\nmax_connections = 1\nidle_timeout = 0\nshutdown_timeout = 3600\n"
          b"[listener L]\naddress=127.0.0.1\nport=7\nframing=tlv\ntype.01=sensor24\n")
    write("fuzz_config", "long-line.ini", b"[output]\npath = " + b"p" * 8200 + b"\n")

    # Declared schemas (issue 12).
    env16 = (b"[schema env16]\nsize  = 16                 ; bytes per frame\norder = le\n"
             b"field.proto   = u8  @0 magic=0x02 omit\nfield.devId   = u24 @1\n"
             b"field.temp_c  = i16 @4 div=100\nfield.rh      = u8  @6 scale=0.5\n"
             b"field.lowBatt = u8  @7 bit=0\nfield.mode    = u8  @7 bits=4..7\n"
             b"field.count   = u64 @8 be json=string\nchecksum = crc16-modbus @14 over=0..13 le\n")
    write("fuzz_config", "schema-env16.ini",
          b"[listener env]\naddress = 127.0.0.1\nport = 0\nframing = fixed\nschema = env16\n"
          b"on_bad_frame = resync\nmax_resync = 4096\n\n" + env16)
    fleet = (b"[schema genA]\nsize = 10\nfield.sig = u16 @0 magic=0xCAFE\nfield.a = u32 @2\nfield.b = f32 @6 le\n"
             b"[schema genB]\nsize = 10\norder = le\nfield.sig = u16 @0 be magic=51966\nfield.ver = u8 @2 magic=2\n"
             b"field.x = i16 @3 scale=0.01 add=-40\nfield.s = str @5 len=3\nchecksum = crc8 @8 over=0..7\n"
             b"field.pad = hex @9 len=1 omit\n"
             b"[schema genC]\nsize = 10\nfield.gen = u8 @0 bits=4..7 magic=0xD omit\nfield.lo = i8 @0 bits=0..3\n"
             b"field.t = hex @1 len=9\n")
    write("fuzz_config", "schema-fleet.ini",
          fleet + b"[listener fleet]\naddress = ::1\nport = 7000\nframing = fixed\nschema = genB genA genC\n"
          b"on_bad_frame = skip\n[listener fleet2]\naddress = ::1\nport = 7001\nframing = fixed\n"
          b"schema = genC genA\non_bad_frame = resync\nmax_resync = 1\n")
    write("fuzz_config", "schema-tlv.ini",
          b"[listener t]\naddress = 0.0.0.0\nport = 7002\nframing = tlv\nmax_frame = 64\ntype.1 = env16\n"
          b"type.2 = sensor24\ntype.255 = wide\non_bad_frame = skip\n" + env16 +
          b"[schema wide]\nsize = 64\nfield.a = i64 @0 json=string\nfield.b = u64 @8 le\nfield.c = f64 @16 le\n"
          b"field.d = i32 @24 bits=0..31 magic=-2147483648\nfield.e = u24 @28 le bits=23..23\n"
          b"field.f = str @31 len=29\nchecksum = crc32 @60 over=0..59\n"
          b"[schema ccitt]\nsize = 4\nfield.v = u16 @0 div=1e-3\nchecksum = crc16-ccitt @2 over=0..1 be\n"
          b"[schema sums]\nsize = 3\nfield.v = i8 @0 magic=-128\nfield.w = i8 @1\nchecksum = sum8 @2 over=0..1\n"
          b"[listener s]\naddress = 0.0.0.0\nport = 7003\nframing = fixed\nschema = sums\non_bad_frame = resync\n"
          b"[listener x]\naddress = 0.0.0.0\nport = 7004\nframing = fixed\nschema = ccitt\n[schema x8]\nsize = 2\n"
          b"field.a = u8 @0\nchecksum = xor8 @1 over=0..0\n")
    # Each a start-up error (issue 12's list).
    errors = {
        "unknown-type": b"field.a = u12 @0\n",
        "unknown-option": b"field.a = u8 @0 sclae=2\n",
        "option-twice": b"field.a = u16 @0 le be\n",
        "past-size": b"field.a = u32 @6\n",
        "bits-outside": b"field.a = u8 @0 bits=4..8\n",
        "magic-too-big": b"field.a = i8 @0 magic=128\n",
        "magic-negative-hex": b"field.a = i16 @0 magic=-0x10\n",
        "div-zero": b"field.a = u8 @0 div=0\n",
        "scale-inf": b"field.a = u8 @0 scale=1e999\n",
        "all-omit": b"field.a = u8 @0 omit\n",
        "ck-overlap": b"field.a = u8 @0\nchecksum = crc16-modbus @1 over=0..2\n",
        "ck-order-1byte": b"field.a = u8 @0\nchecksum = crc8 @7 over=0..6 le\n",
        "str-no-len": b"field.a = str @0\n",
        "json-u32": b"field.a = u32 @0 json=string\n",
        "bad-name": b"field._a = u8 @0\n",
    }
    for name, line in errors.items():
        write("fuzz_config", "schema-error-%s.ini" % name,
              b"[schema e]\nsize = 8\n" + line +
              b"[listener e]\naddress = 127.0.0.1\nport = 0\nframing = fixed\nschema = e\n")
    write("fuzz_config", "schema-error-builtin-name.ini",
          b"[schema sensor24]\nsize = 1\nfield.a = u8 @0\n[listener e]\naddress = ::1\nport = 0\n"
          b"framing = fixed\nschema = sensor24\n")
    write("fuzz_config", "schema-error-shadowed.ini",
          fleet + b"[schema genD]\nsize = 10\nfield.sig = u16 @0 magic=0xCAFE\nfield.z = u8 @2 magic=1\n"
          b"[listener e]\naddress = ::1\nport = 0\nframing = fixed\nschema = genA genD\n")
    write("fuzz_config", "schema-error-no-magic.ini",
          b"[schema a]\nsize = 2\nfield.v = u16 @0\n[schema b]\nsize = 2\nfield.v = u16 @0 magic=1\n"
          b"[listener e]\naddress = ::1\nport = 0\nframing = fixed\nschema = b a\n")
    write("fuzz_config", "schema-error-resync-tlv.ini",
          b"[listener e]\naddress = ::1\nport = 0\nframing = tlv\nmax_frame = 100\non_bad_frame = resync\n")
    write("fuzz_config", "schema-error-tlv-too-big.ini",
          env16 + b"[listener e]\naddress = ::1\nport = 0\nframing = tlv\nmax_frame = 15\ntype.9 = env16\n")
    write("fuzz_config", "schema-error-unknown.ini",
          b"[listener e]\naddress = ::1\nport = 0\nframing = fixed\nschema = env17\n" + env16)


if __name__ == "__main__":
    framer_seeds()
    schema_seeds()
    record_seeds()
    decode_seeds()
    config_seeds()
