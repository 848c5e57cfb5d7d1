#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ (run from anywhere).

The seeds are SPEC.md's golden packets and TLV messages in each target's
input layout (see the comment at the top of each fuzz_*.c), plus
config/ingestd.ini and a few variants of it.  Existing crash-* regression
inputs are left alone.  Re-running rewrites the same files.
"""
import os
import struct

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")

SENSOR24 = bytes.fromhex("000001a4427856aa0c800000000105194248000042c86666")
LEGACY16 = bytes.fromhex("cafeadde000040a0000001b580510100")
HELLO = bytes.fromhex("010005") + b"hello"
GOODBYE = bytes.fromhex("020008") + b"goodbye!"


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


if __name__ == "__main__":
    framer_seeds()
    schema_seeds()
    record_seeds()
    config_seeds()
