"""Declared schemas ([schema NAME] in the config): ingestd --decode against
JavaScript.

Each case is one schema, generated from a fixed seed, and a few hundred
frames for it (random bytes, biased toward the values that break decoders:
sign bits, all ones, NaN and infinity patterns, NUL and bad UTF-8 in
strings).  The frames go to `ingestd --decode LISTENER -c CONF INPUT` and to
schema_ref.js, an independent decoder in Node built on DataView, BigInt and
JSON.stringify, which reads the same schema as JSON.  The two outputs must
be the same bytes, line for line.  A mismatch is reported with the schema's
config lines, the frame in hex, both lines, and for each field that differs
on its own, the one-field schema that reproduces it.

A few fixed cases add what random schemas leave out: the example from the
config documentation (magic, checksum), every checksum algorithm (frames
carry a checksum computed here, so all must pass), 32 fields, the longest
names.  The checksum implementations here are checked against the
catalogue's check values for "123456789", and schema_ref.js against hand
worked vectors, before either is trusted as an oracle.
"""
import concurrent.futures
import json
import os
import random
import struct
import subprocess
import tempfile
import unittest

from harness import BINARY, CHECK_VALUES, CHECKSUMS

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "schema_ref.js")
NODE = os.environ.get("NODE", "node")

SEEDS = list(range(1, 41))         # one random schema per seed
FRAMES = 250                       # frames per schema
MAX_REPORTED = 8                   # mismatching lines described per case

WIDTH = {"u8": 1, "i8": 1, "u16": 2, "i16": 2, "u24": 3, "i24": 3, "u32": 4, "i32": 4,
         "u64": 8, "i64": 8, "f32": 4, "f64": 8}
INTS = [t for t in WIDTH if t[0] in "ui"]
FLOATS = ["f32", "f64"]
SCALES = ["0.1", "0.5", "3", "1e-3", "-2.5", "1e10", "0.01", "2", "1.5",
          # decimal text that must round correctly to the nearest double
          "1.00000000000000011102230246251565404236316680908203125", "9007199254740993",
          "2.2250738585072014e-308", "0.30000000000000004", "1E+2"]
DIVS = ["10", "100", "3", "7", "0.1", "1000", "-4"]
ADDS = ["-40", "0.5", "273.15", "0", "1e3", "-0.1", "-0", "123456789012345678901234567890"]
NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

# Pieces strings are built from: ASCII that JSON escapes, controls, valid
# UTF-8 of every length (with the edges: U+D7FF, U+E000, U+FFFF, U+10FFFF,
# U+2028), and every kind of bad sequence (overlong, surrogate, above
# U+10FFFF, bytes that never start one, lone continuations, truncations).
STR_PIECES = [
    b"A", b"z", b"0", b" ", b"~", b'"', b"\\", b"/", b"\n", b"\r", b"\t", b"\b", b"\f",
    b"\x01", b"\x1f", b"\x7f", b"\x00",
    b"\xc2\x80", b"\xc3\xa9", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xe2\x82\xac", b"\xe2\x80\xa8",
    b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbf", b"\xef\xbb\xbf", b"\xf0\x90\x80\x80",
    b"\xf0\x9f\x98\x80", b"\xf4\x8f\xbf\xbf",
    b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
    b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80\x80", b"\xff", b"\xfe", b"\x80", b"\xbf", b"\xe2\x82", b"\xe2\x82A",
    b"\xf0\x9f\x98", b"\xf0\x9f", b"\xc3", b"\xe2",
]
F32_PATTERNS = [0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff, 0x7f800000, 0xff800000,
                0x80000000, 0x00000000, 0x00000001, 0x007fffff, 0x00800000, 0x7f7fffff,
                0x3dcccccd, 0x3f800000, 0xbf800000, 0x4b800001, 0x42c86666, 0x3eaaaaab]
F64_PATTERNS = [0x7ff8000000000000, 0xfff8000000000000, 0x7ff0000000000001,
                0x7ff0000000000000, 0xfff0000000000000, 0x8000000000000000, 0, 1,
                0x000fffffffffffff, 0x0010000000000000, 0x7fefffffffffffff,
                struct.unpack(">Q", struct.pack(">d", 0.1))[0],
                struct.unpack(">Q", struct.pack(">d", 1e21))[0],
                struct.unpack(">Q", struct.pack(">d", 1e-7))[0],
                struct.unpack(">Q", struct.pack(">d", 123456789012345680000.0))[0],
                struct.unpack(">Q", struct.pack(">d", 2.0 ** 53 + 2))[0],
                struct.unpack(">Q", struct.pack(">d", -1.5e-300))[0]]


# ---- schemas ----

class Field:
    def __init__(self, name, type_, offset, order=None, length=None, bits=None, bit_form=False,
                 scale=None, div=None, add=None, omit=False, json_string=False, magic=None):
        self.name, self.type, self.offset = name, type_, offset
        self.order, self.len, self.bits, self.bit_form = order, length, bits, bit_form
        self.scale, self.div, self.add = scale, div, add          # config text or None
        self.omit, self.json_string, self.magic = omit, json_string, magic

    def width(self):
        return self.len if self.type in ("str", "hex") else WIDTH[self.type]

    def line(self, rng=None):
        opts = []
        if self.type in ("str", "hex"):
            opts.append("len=%d" % self.len)
        if self.order:
            opts.append(self.order)
        if self.bits:
            lo, hi = self.bits
            opts.append("bit=%d" % lo if self.bit_form else "bits=%d..%d" % (lo, hi))
        if self.scale is not None:
            opts.append("scale=" + self.scale)
        if self.div is not None:
            opts.append("div=" + self.div)
        if self.add is not None:
            opts.append("add=" + self.add)
        if self.json_string:
            opts.append("json=string")
        if self.magic is not None:
            opts.append("magic=" + self.magic)
        if self.omit:
            opts.append("omit")
        if rng is not None:
            rng.shuffle(opts)   # options may come in any order
        return "field.%s = %s @%d%s" % (self.name, self.type, self.offset,
                                         "".join(" " + o for o in opts))

    def spec(self):
        num = lambda t: None if t is None else float(t)
        return {"name": self.name, "type": self.type, "offset": self.offset,
                "order": self.order, "len": self.len,
                "bits": list(self.bits) if self.bits else None,
                "scale": num(self.scale), "div": num(self.div), "add": num(self.add),
                "omit": self.omit, "json_string": self.json_string}


class Schema:
    def __init__(self, name, size, order, fields, checksum=None, order_line=True):
        self.name, self.size, self.order, self.fields = name, size, order, fields
        self.checksum = checksum      # (alg, offset, lo, hi, order or None)
        self.order_line = order_line  # False: no "order =" line (default be)
        self.field_lines = None

    def config(self, rng=None):
        lines = ["[schema %s]" % self.name, "size = %d" % self.size]
        if self.order_line:
            lines.append("order = %s" % self.order)
        if self.field_lines is None:
            self.field_lines = [f.line(rng) for f in self.fields]
        lines += self.field_lines
        if self.checksum:
            alg, off, lo, hi, order = self.checksum
            lines.append("checksum = %s @%d over=%d..%d%s" % (alg, off, lo, hi,
                                                             " " + order if order else ""))
        return lines

    def spec(self):
        cs = None
        if self.checksum:
            alg, off, lo, hi, order = self.checksum
            cs = {"alg": alg, "offset": off, "over": [lo, hi], "order": order}
        return {"size": self.size, "order": self.order, "checksum": cs,
                "fields": [f.spec() for f in self.fields]}


def config_text(schema, rng=None):
    return "\n".join(
        ["[output]", "metadata = off", ""] + schema.config(rng) +
        ["", "[listener l%s]" % schema.name, "address = 127.0.0.1", "port = 0",
         "framing = fixed", "schema = %s" % schema.name, ""])


def random_name(rng, used):
    while True:
        n = rng.choice([1, 2, 3, 5, 8, 12, 63]) if rng.random() < 0.3 else rng.randint(1, 10)
        name = rng.choice(NAME_CHARS[:-1]) + "".join(rng.choice(NAME_CHARS) for _ in range(n - 1))
        if name not in used:
            used.add(name)
            return name


def random_field(rng, size, used):
    types = [t for t in WIDTH if WIDTH[t] <= size] + ["str", "hex"]
    weights = [3 if t in INTS else 2 for t in types[:-2]] + [2, 1]
    t = rng.choices(types, weights)[0]
    name = random_name(rng, used)
    if t in ("str", "hex"):
        off = rng.randrange(size)
        f = Field(name, t, off, length=rng.randint(1, min(24, size - off)))
    else:
        w = WIDTH[t]
        f = Field(name, t, rng.randint(0, size - w))
        if w > 1 and rng.random() < 0.5:
            f.order = rng.choice(["be", "le"])
        if t in INTS and rng.random() < 0.35:
            nbits = 8 * w
            if rng.random() < 0.3:
                b = rng.randrange(nbits)
                f.bits, f.bit_form = (b, b), True
            else:
                lo = rng.randrange(nbits)
                hi = rng.choice([lo, nbits - 1, rng.randint(lo, nbits - 1)])
                f.bits = (lo, hi)
        r = rng.random()
        if r < 0.4:
            if rng.random() < 0.5:
                f.scale = rng.choice(SCALES)
            else:
                f.div = rng.choice(DIVS)
            if rng.random() < 0.4:
                f.add = rng.choice(ADDS)
        elif r < 0.5:
            f.add = rng.choice(ADDS)
        elif w == 8 and t in INTS and r < 0.75:
            f.json_string = True
    f.omit = rng.random() < 0.12
    return f


def random_schema(seed):
    rng = random.Random(seed)
    size = rng.choice([1, 2, 3, 4, 8, 16, 64]) if rng.random() < 0.3 else rng.randint(1, 64)
    used = set()
    fields = [random_field(rng, size, used) for _ in range(rng.randint(1, 12))]
    if all(f.omit for f in fields):
        rng.choice(fields).omit = False
    s = Schema("r%d" % seed, size, rng.choice(["be", "le"]), fields,
               order_line=rng.random() < 0.8)
    if not s.order_line:
        s.order = "be"
    s.config(rng)   # fix the option order of each line now, from this seed
    return s


def fixed_schemas():
    out = []
    # The example from the issue / config documentation.
    env = Schema("env16", 16, "le", [
        Field("proto", "u8", 0, magic="0x02", omit=True),
        Field("devId", "u24", 1),
        Field("temp_c", "i16", 4, div="100"),
        Field("rh", "u8", 6, scale="0.5"),
        Field("lowBatt", "u8", 7, bits=(0, 0), bit_form=True),
        Field("mode", "u8", 7, bits=(4, 7)),
        Field("count", "u64", 8, order="be"),
    ], checksum=("crc16-modbus", 14, 0, 13, "le"))
    out.append((env, {0: b"\x02"}))
    # Every checksum algorithm, in both byte orders where it has one, and
    # once taking the schema's default order.
    rng = random.Random(0xc5)
    n = 0
    for alg, (w, _) in sorted(CHECKSUMS.items()):
        orders = [None] if w == 1 else ["le", "be", None]
        for order in orders:
            n += 1
            size = rng.randint(w + 2, 48)
            used = set()
            cs_off = rng.randint(0, size - w)
            # the covered range avoids the checksum's own bytes
            if cs_off >= 2 and (cs_off + w == size or rng.random() < 0.5):
                lo, hi = rng.randint(0, cs_off - 2), cs_off - 1
            else:
                lo, hi = cs_off + w, rng.randint(cs_off + w, size - 1)
            fields = [random_field(rng, size, used) for _ in range(rng.randint(1, 8))]
            for f in fields:
                f.omit = False
            s = Schema("c%d" % n, size, rng.choice(["be", "le"]), fields,
                       checksum=(alg, cs_off, lo, hi, order))
            s.config(rng)
            out.append((s, {}))
    # 32 fields, the most a schema may have; names of 63 characters.
    rng = random.Random(32)
    used = set()
    fields = [random_field(rng, 64, used) for _ in range(32)]
    for i, f in enumerate(fields):
        f.omit = i % 7 == 3
        if i % 5 == 0:
            used.discard(f.name)
            f.name = ("N%02d" % i) + "x" * 60
    s = Schema("max32", 64, "le", fields)
    s.config(rng)
    out.append((s, {}))
    return out


# ---- frames ----

def effective_order(schema, f):
    return f.order or schema.order


def int_patterns(f, rng):
    w = WIDTH[f.type]
    top = 1 << (8 * w)
    vals = [0, 1, top - 1, top >> 1, (top >> 1) - 1, (top >> 1) + 1, top - 2]
    if w == 8:
        vals += [2 ** 53, 2 ** 53 + 1, 2 ** 53 - 1, 2 ** 63 - 1, 2 ** 64 - 1025, 2 ** 64 - 1024,
                 2 ** 54 + 2, 2 ** 63 + 1024, 10 ** 19, 9007199254740993 * 3]
    if f.bits:
        lo, hi = f.bits
        span = hi - lo + 1
        for v in (0, 1, (1 << span) - 1, 1 << (span - 1), (1 << (span - 1)) - 1):
            vals.append((v << lo) | (rng.getrandbits(8 * w) & ~(((1 << span) - 1) << lo)))
    return rng.choice(vals) % top


def put(frame, off, data):
    frame[off:off + len(data)] = data


def random_frame(schema, rng, fixed_bytes):
    size = schema.size
    r = rng.random()
    if r < 0.04:
        frame = bytearray(rng.choice([b"\xff", b"\x00", b"\x80", b"\x7f"]) * size)
    elif r < 0.06:
        frame = bytearray(b"\x80" + b"\x00" * (size - 1))
    elif r < 0.08:
        frame = bytearray(b"\x7f" + b"\xff" * (size - 1))
    else:
        frame = bytearray(rng.getrandbits(8) for _ in range(size))
    for f in rng.sample(schema.fields, len(schema.fields)):
        if rng.random() < 0.45:
            continue
        if f.type in INTS:
            w = WIDTH[f.type]
            put(frame, f.offset, int_patterns(f, rng).to_bytes(
                w, "little" if effective_order(schema, f) == "le" else "big"))
        elif f.type in FLOATS:
            w = WIDTH[f.type]
            if rng.random() < 0.6:
                v = rng.choice(F32_PATTERNS if w == 4 else F64_PATTERNS)
            else:  # a "nice" value, so the shortest-digits printing is exercised
                x = round(rng.uniform(-1000, 1000), rng.randint(0, 4))
                v = struct.unpack(">I" if w == 4 else ">Q",
                                  struct.pack(">f" if w == 4 else ">d", x))[0]
            put(frame, f.offset, v.to_bytes(
                w, "little" if effective_order(schema, f) == "le" else "big"))
        elif f.type == "str":
            s = b""
            while len(s) < f.len:
                s += rng.choice(STR_PIECES)
            put(frame, f.offset, s[:f.len])
    for off, data in fixed_bytes.items():
        put(frame, off, data)
    if schema.checksum:
        alg, off, lo, hi, order = schema.checksum
        w, fn = CHECKSUMS[alg]
        order = order or schema.order
        put(frame, off, fn(frame[lo:hi + 1]).to_bytes(w, "little" if order == "le" else "big"))
    return bytes(frame)


# ---- running both sides ----

def run_ingestd(workdir, schema, conf_text, data):
    conf = os.path.join(workdir, "%s.ini" % schema.name)
    inp = os.path.join(workdir, "%s.bin" % schema.name)
    with open(conf, "w") as f:
        f.write(conf_text)
    with open(inp, "wb") as f:
        f.write(data)
    p = subprocess.run([BINARY, "--decode", "l" + schema.name, "-c", conf, inp],
                       capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def run_ref(workdir, schema, data):
    spec = os.path.join(workdir, "%s.json" % schema.name)
    inp = os.path.join(workdir, "%s.ref.bin" % schema.name)
    with open(spec, "w") as f:
        json.dump(schema.spec(), f)
    with open(inp, "wb") as f:
        f.write(data)
    p = subprocess.run([NODE, REF, spec, inp], capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def one_field(schema, f, tag):
    """The schema cut down to field f alone (printed), for a minimal repro."""
    g = Field(f.name, f.type, f.offset, f.order, f.len, f.bits, f.bit_form, f.scale, f.div,
              f.add, False, f.json_string, None)
    s = Schema("%s_%s" % (schema.name, tag), schema.size, schema.order, [g],
               order_line=schema.order_line)
    return s


def compare(workdir, schema, frames):
    """Runs both decoders on the frames; returns a list of problem reports."""
    data = b"".join(frames)
    conf_text = config_text(schema)
    (rc, out, err), (rrc, rout, rerr) = (run_ingestd(workdir, schema, conf_text, data),
                                         run_ref(workdir, schema, data))
    head = "schema %s:\n  %s\n" % (schema.name, "\n  ".join(schema.config()))
    if rrc != 0:
        return [head + "schema_ref.js failed (%d): %s" % (rrc, rerr.decode(errors="replace"))]
    if rc != 0:
        return [head + "ingestd --decode exited %d, stderr:\n%s" % (rc, err.decode(errors="replace"))]
    got, want = out.split(b"\n"), rout.split(b"\n")
    problems = []
    if len(got) != len(want):
        problems.append(head + "ingestd printed %d lines, the reference %d"
                        % (len(got) - 1, len(want) - 1))
    for i, (g, w) in enumerate(zip(got, want)):
        if g == w:
            continue
        if len(problems) >= MAX_REPORTED:
            problems.append(head + "... more mismatching lines not shown")
            break
        frame = frames[i] if i < len(frames) else b""
        msg = [head + "frame %d: %s" % (i, frame.hex()), "  ingestd:   %s" % g.decode(errors="replace"),
               "  reference: %s" % w.decode(errors="replace")]
        # Each printed field on its own: which lines reproduce the mismatch.
        if frame:
            for k, f in enumerate(schema.fields):
                if f.omit:
                    continue
                s1 = one_field(schema, f, "f%d_%d" % (i, k))
                (a, ao, ae), (b, bo, be) = (run_ingestd(workdir, s1, config_text(s1), frame),
                                            run_ref(workdir, s1, frame))
                if (a, ao) != (b, bo):
                    msg.append("  minimal: %s (size = %d, order = %s):\n    ingestd:   %s%s\n"
                               "    reference: %s" % (
                                   f.line(), schema.size, schema.order,
                                   ao.decode(errors="replace").rstrip("\n"),
                                   " (exit %d: %s)" % (a, ae.decode(errors="replace").strip()) if a else "",
                                   bo.decode(errors="replace").rstrip("\n")))
        problems.append("\n".join(msg))
    return problems


def cases():
    out = []
    for seed in SEEDS:
        s = random_schema(seed)
        rng = random.Random(seed * 7919 + 1)
        out.append((s, [random_frame(s, rng, {}) for _ in range(FRAMES)]))
    for s, fixed_bytes in fixed_schemas():
        rng = random.Random("frames " + s.name)
        out.append((s, [random_frame(s, rng, fixed_bytes) for _ in range(FRAMES)]))
    return out


@unittest.skipUnless(os.access(BINARY, os.X_OK), "no " + BINARY)
class SchemaDiff(unittest.TestCase):
    def test_checksum_catalogue(self):
        for alg, (_, fn) in CHECKSUMS.items():
            self.assertEqual(fn(b"123456789"), CHECK_VALUES[alg], alg)

    def test_reference_vectors(self):
        """schema_ref.js itself, on values worked out by hand."""
        F = Field
        s = Schema("v", 16, "be", [
            F("a", "u24", 0, order="le"), F("b", "i24", 3), F("c", "u8", 6, scale="0.1"),
            F("d", "u8", 6, div="10"), F("e", "i8", 7, bits=(4, 7)), F("f", "u64", 8),
            F("g", "u64", 8, json_string=True), F("h", "i64", 8), F("k", "hex", 0, length=4),
            F("m", "i16", 3, add="273.15"), F("n", "i8", 7, bits=(0, 0), bit_form=True),
            F("j", "str", 8, length=8)])
        frames = [bytes.fromhex("010203fffffe03f0ffffffffffffffff"),
                  bytes.fromhex("000000000000000fe28241225c0a01c3"),
                  bytes.fromhex("0000000000000000f09f9880eda08000")]
        with tempfile.TemporaryDirectory(prefix="schema-diff-") as d:
            rc, out, err = run_ref(d, s, b"".join(frames))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode().split("\n"), [
            '{"a":197121,"b":-2,"c":0.30000000000000004,"d":0.3,"e":-1,'
            '"f":18446744073709551615,"g":"18446744073709551615","h":-1,"k":"010203ff",'
            '"m":272.15,"n":0,"j":"' + "\ufffd" * 8 + '"}',
            '{"a":0,"b":0,"c":0,"d":0,"e":0,"f":16321679615372952003,"g":"16321679615372952003",'
            '"h":-2125064458336599613,"k":"00000000","m":273.15,"n":-1,'
            '"j":"\ufffd\ufffdA\\"\\\\\\n\\u0001\ufffd"}',
            '{"a":0,"b":0,"c":0,"d":0,"e":0,"f":17338744769909653504,"g":"17338744769909653504",'
            '"h":-1107999303799898112,"k":"00000000","m":273.15,"n":0,'
            '"j":"\U0001F600\ufffd\ufffd\ufffd"}',
            ""])

    def test_rejected_options(self):
        """The option rules the generator relies on are enforced: each of
        these lines is a config error (78) reported at its line."""
        bad = ["u8 @0 le", "i8 @0 be", "str @0 len=2 be", "hex @0 len=2 le", "f32 @0 bits=0..3",
               "f64 @0 bit=1", "u32 @0 json=string", "u64 @0 json=string scale=2",
               "i64 @0 json=string add=1", "u16 @0 bits=3..16", "u8 @0 bit=8", "u8 @0 bits=5..3",
               "u8 @0 div=0", "u8 @0 scale=2 div=3", "u8 @0 omit omit", "u64 @1", "str @0",
               "hex @0 len=9", "str @0 len=0", "u8 @0 scale=inf", "u128 @0"]
        with tempfile.TemporaryDirectory(prefix="schema-diff-") as d:
            for i, line in enumerate(bad):
                s = Schema("n%d" % i, 8, "be", [Field("a", "u8", 0)])
                s.field_lines = ["field.a = " + line]
                path = os.path.join(d, "n%d.ini" % i)
                with open(path, "w") as f:
                    f.write(config_text(s))
                p = subprocess.run([BINARY, "--check-config", "-c", path], capture_output=True,
                                   timeout=30)
                self.assertEqual(p.returncode, 78, (line, p.stdout, p.stderr))
                self.assertIn("%s:7: field.a: " % path, p.stderr.decode(), line)

    def test_decode_matches_javascript(self):
        all_cases = cases()
        problems = []
        with tempfile.TemporaryDirectory(prefix="schema-diff-") as d:
            with concurrent.futures.ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as ex:
                for p in ex.map(lambda c: compare(d, *c), all_cases):
                    problems += p
        self.assertFalse(problems, "\n\n%d problem(s) in %d schemas:\n\n%s"
                         % (len(problems), len(all_cases), "\n\n".join(problems)))


if __name__ == "__main__":
    unittest.main()
