"""Starts the real ingestd on ephemeral loopback ports and talks to it.

A Daemon runs the SHIPPED default config (config/ingestd.ini, read at run
time) with only the overrides a test asks for: the harness itself changes
just the listener ports (0: the kernel picks free ones), the output path
and the log level (debug).  It writes that config to a temporary
directory, starts build/san/ingestd (or $INGESTD), and waits for its own
readiness line ("ready: ...") on stderr, reading the "listening on ADDR
(listener NAME, ...)" lines to learn the ports the kernel chose.  No sleeps:
every wait is on an event the daemon reports (a log line, a record in the
output, process exit) with a deadline.

Every clean exit (code 0) is checked for an idle pool: the daemon's last
"stats (exit)" line must show no slab, read slab, waiter, retained byte or
refused release left over (assert_idle_exit).  A daemon still running when
its `with` block ends without an exception is stopped with SIGTERM, so
every test ends with that check.
"""
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("INGESTD", os.path.join(ROOT, "build", "san", "ingestd"))
# The ThreadSanitizer build: test_workers runs the multi-worker tests on it.
TSAN_BINARY = os.path.join(ROOT, "build", "tsan", "ingestd")
# Sections merged into every config last (test_workers: [daemon] workers).
FORCED = {}
# Memory figures are taken from the optimised build: the sanitizers' shadow
# memory and quarantine would swamp what is being measured.
RELEASE_BINARY = os.path.join(ROOT, "build", "ingestd")

SENSOR24_SAMPLE = bytes.fromhex("000001a4427856aa0c80000000010519424800 0042c86666".replace(" ", ""))
SENSOR24_RECORD = ('{"sensorId":420,"timestamp":1672531200000,"sensorType":1,"statusFlags":5,'
                   '"temperature":25,"humidity":50,"pressure":100.19999694824219}')
LEGACY16_SAMPLE = bytes.fromhex("cafeadde000040a0000001b580510100")
LEGACY16_RECORD = ('{"signature":51966,"deviceId":57005,"voltage":5,"status":1,'
                   '"checksum":181,"uptime":86400}')
TLV_HELLO = bytes([0x01, 0x00, 0x05]) + b"hello"
TLV_GOODBYE = bytes([0x02, 0x00, 0x08]) + b"goodbye!"


def tlv(t, value):
    return bytes([t]) + struct.pack(">H", len(value)) + value


def sensor24(sensor_id, ts, stype=1, flags=5, temp=25, hum=50.0, pres=100.2):
    return struct.pack(">IdHBbff", sensor_id, ts, stype, flags, temp, hum, pres)


SHIPPED_CONFIG = os.path.join(ROOT, "config", "ingestd.ini")
SECTION_RX = re.compile(r"^\[\s*([^\]]*?)\s*\]$")
META_KEYS = ("_listener", "_schema", "_peer", "_tls_cn", "_rx_ms")
META_TEXT_RX = re.compile(r',"_listener":"(?:[^"\\]|\\.)*","_schema":"[^"]*","_peer":"[^"]*",'
                          r'(?:"_tls_cn":"(?:[^"\\]|\\.)*",)?"_rx_ms":-?\d+\}$', re.M)
# Fields of the last "stats (exit)" line that must be zero after a clean exit.
IDLE_FIELDS = ("slabs_in_use", "read_slabs", "waiters", "retained_bytes", "refused_releases")


def parse_ini(text):
    """Parses ingestd's INI syntax into {section: {key: value}}, both in file
    order.  Comments (';' or '#' lines, and " ;..." after a value) are
    dropped.  Keys before any section header go to section ""."""
    sections = {}
    cur = sections.setdefault("", {})
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        m = SECTION_RX.match(line)
        if m:
            name = " ".join(m.group(1).split())
            cur = sections.setdefault(name, {})
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError("not a key = value line: %r" % raw)
        value = value.split(" ;", 1)[0].strip()
        cur[key.strip()] = value
    if not sections[""]:
        del sections[""]
    return sections


def merge_ini(base, override):
    """Applies override's keys onto base in place: a key given in override
    replaces base's, a section base lacks is appended.  Each section and
    each key stays once, as the daemon requires."""
    if "" in override:
        raise ValueError("override keys before any [section]: %r" % override[""])
    for name, keys in override.items():
        base.setdefault(name, {}).update(keys)
    return base


def format_ini(sections):
    out = []
    for name, keys in sections.items():
        if name:
            out.append("[%s]" % name)
        out.extend("%s = %s" % kv for kv in keys.items())
        out.append("")
    return "\n".join(out)


def is_listener(name):
    return name.split(" ", 1)[0] == "listener"


def strip_meta(record):
    """A record without the metadata keys (_listener, _schema, _peer,
    _rx_ms): a dict from records() loses those keys; bytes or str (one or
    more output lines) lose the metadata text at the end of each line, so
    the decoded fields can still be compared byte for byte."""
    if isinstance(record, dict):
        return {k: v for k, v in record.items() if k not in META_KEYS}
    if isinstance(record, bytes):
        return strip_meta(record.decode("utf-8")).encode("utf-8")
    return META_TEXT_RX.sub("}", record)


class Daemon:
    """One ingestd process.  Use as a context manager.

    The config is config/ingestd.ini as shipped, plus, in this order:
    listener ports 0 (or `listeners`, which replaces every shipped
    [listener] section), [output] path, [log] level = debug, `metadata`
    (None: as shipped, True/False: on/off), `output_extra` ([output] keys),
    `pool` ([pool] keys) and `extra` (any sections).  A later key replaces
    an earlier one."""

    def __init__(self, listeners=None, output="file", metadata=None,
                 extra="", pool="", stdout=None, env=None, args=None, binary=None, prefix=None, output_path=None,
                 output_extra=""):
        self.tmp = tempfile.TemporaryDirectory(prefix="ingestd-test-")
        self.dir = self.tmp.name
        self.out_path = os.path.join(self.dir, "out.jsonl") if output == "file" else None
        if output_path:
            self.out_path = output_path
        self.config_path = os.path.join(self.dir, "ingestd.ini")
        with open(self.config_path, "w") as f:
            f.write(self.config_text(listeners, metadata, extra, pool, output_extra))
        self.ports = {}
        self.stderr_lines = []
        self._stderr_cv = threading.Condition()
        self.proc = None
        self.stdout = stdout
        self.env = env
        self.args = args or []
        self.binary = binary or BINARY
        self.prefix = prefix or []  # e.g. ["prlimit", "--nofile=64"]

    def config_text(self, listeners, metadata, extra, pool, output_extra):
        with open(SHIPPED_CONFIG) as f:
            conf = parse_ini(f.read())
        shipped_pool = dict(conf.get("pool", {}))
        if listeners is None:
            for name, keys in conf.items():
                if is_listener(name):
                    keys["port"] = "0"          # ephemeral: tests run side by side
        else:
            conf = {n: k for n, k in conf.items() if not is_listener(n)}
        merge_ini(conf, {"output": {"path": self.out_path or "-"}})
        # The one harness-wide departure from the shipped config: tests wait
        # on debug diagnostics (closed connections, truncated frames, ...).
        merge_ini(conf, {"log": {"level": "debug"}})
        if metadata is not None:
            merge_ini(conf, {"output": {"metadata": "on" if metadata else "off"}})
        if output_extra:
            merge_ini(conf, {"output": parse_ini("[output]\n" + output_extra)["output"]})
        if pool:
            pool_keys = parse_ini("[pool]\n" + pool)["pool"]
            self._derive_max_retained(conf["pool"], shipped_pool, pool_keys)
            merge_ini(conf, {"pool": pool_keys})
        if extra:
            merge_ini(conf, parse_ini(extra))
        if listeners is not None:
            merge_ini(conf, parse_ini(listeners))
        merge_ini(conf, {k: dict(v) for k, v in FORCED.items()})
        return format_ini(conf)

    @staticmethod
    def _derive_max_retained(conf_pool, shipped, given):
        """The shipped max_retained (127) is the derived default, (slabs -
        reserve) / 2, written out.  A test that resizes the pool without
        naming max_retained gets the default derived for its pool, as an
        unset key would (127 is out of range for a small pool)."""
        if "max_retained" in given or not ({"slabs", "reserve"} & set(given)):
            return
        try:
            derived = (int(shipped["slabs"]) - int(shipped["reserve"])) // 2
            if int(shipped["max_retained"]) == derived:
                conf_pool.pop("max_retained", None)
        except (KeyError, ValueError):
            pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None and self.proc and self.proc.poll() is None:
                self._stop_at_exit()
        finally:
            self.kill()
            self.tmp.cleanup()

    def _stop_at_exit(self):
        """SIGTERM, not SIGKILL, so the test also ends with a clean exit and
        the idle check.  A stdout pipe the test left is drained meanwhile,
        so pending output can leave."""
        if self.stdout == subprocess.PIPE and self.proc.stdout and not self.proc.stdout.closed:
            threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.wait_exit(30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("daemon still running 30 s after SIGTERM at the end of the "
                                 "test:\n" + "\n".join(self.stderr_lines[-30:]))
        self.assert_no_sanitizer_report()
        assert rc >= 0, "daemon died of signal %d after SIGTERM at the end of the test:\n%s" % (
            -rc, "\n".join(self.stderr_lines[-30:]))

    @staticmethod
    def _drain(f):
        try:
            while f.read(1 << 16):
                pass
        except (OSError, ValueError):
            pass

    def spawn(self):
        """Starts the process; a subclass may wire its streams otherwise."""
        return subprocess.Popen(
            self.prefix + [self.binary, "-c", self.config_path] + self.args,
            stdout=self.stdout if self.stdout is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=self.env)

    def start(self, timeout=20):
        self.proc = self.spawn()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        line = self.wait_log(r"ready: |error", timeout)
        if "ready: " not in line:
            raise AssertionError("daemon did not start: " + "\n".join(self.stderr_lines))
        for l in self.stderr_lines:
            m = re.search(r"listening on (\S+) \(listener (\S+),", l)
            if m:
                addr = m.group(1)
                self.ports[m.group(2).rstrip(",")] = int(addr.rsplit(":", 1)[1])

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._stderr_cv:
                self.stderr_lines.append(line)
                self._stderr_cv.notify_all()
        with self._stderr_cv:
            self.stderr_lines.append("<eof>")
            self._stderr_cv.notify_all()

    def wait_log(self, pattern, timeout=20, start=0):
        """Returns the first stderr line (from index start) matching pattern."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._stderr_cv:
            while True:
                for l in self.stderr_lines[start:]:
                    if rx.search(l):
                        return l
                if "<eof>" in self.stderr_lines:
                    raise AssertionError("daemon exited before logging %r:\n%s" %
                                         (pattern, "\n".join(self.stderr_lines[-30:])))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for log %r:\n%s" %
                                         (pattern, "\n".join(self.stderr_lines[-30:])))
                self._stderr_cv.wait(left)

    def connect(self, listener="sensors", family=socket.AF_INET, host="127.0.0.1", sndbuf=0):
        s = socket.socket(family, socket.SOCK_STREAM)
        if sndbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        s.settimeout(30)
        s.connect((host, self.ports[listener]))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def send(self, data, listener="sensors", chunks=None):
        """Sends data on a new connection, closes it, returns nothing."""
        s = self.connect(listener)
        if chunks is None:
            s.sendall(data)
        else:
            pos = 0
            for n in chunks:
                s.sendall(data[pos:pos + n])
                pos += n
            s.sendall(data[pos:])
        s.shutdown(socket.SHUT_WR)
        # The daemon closes after reading EOF: wait for that, not a clock.
        s.recv(1)
        s.close()

    def read_output(self):
        with open(self.out_path, "rb") as f:
            return f.read()

    def wait_records(self, n, timeout=30):
        """Waits until the output file holds at least n complete lines."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.read_output() if os.path.exists(self.out_path) else b""
            if data.count(b"\n") >= n:
                return data
            if time.monotonic() > deadline:
                raise AssertionError("only %d of %d records after %ss" %
                                     (data.count(b"\n"), n, timeout))
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited with %s" % self.proc.returncode)
            time.sleep(0.005)  # polling a file the daemon appends to; no event exists

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stats(self):
        """Asks for a stats line (SIGUSR1) and returns its fields as a dict."""
        start = len(self.stderr_lines)
        self.proc.send_signal(signal.SIGUSR1)
        line = self.wait_log(r"stats \(SIGUSR1\)", start=start)
        # The last counter of stats.h: a line cut short loses counters.
        assert re.search(r" log_dropped=\d+$", line), "stats line cut short: " + line[-80:]
        return {k: v for k, v in re.findall(r"(\w+)=([\d./]+)", line)}

    def wait_conns(self, n, timeout=30):
        """Waits until the daemon has accepted n connections: the kernel
        completes a handshake before ingestd accepts it, and one still in
        the listen queue at SIGTERM is never served."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats()
            if st["conns"] == str(n):
                return st
            if time.monotonic() > deadline:
                raise AssertionError("%s of %d connections accepted after %ss" %
                                     (st["conns"], n, timeout))

    def stop(self, sig=signal.SIGTERM, timeout=30):
        self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout=30):
        """Waits for the exit; on code 0 also asserts the idle pool."""
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        if rc == 0:
            self.assert_idle_exit()
        return rc

    def exit_stats(self):
        """The fields of the daemon's last "stats (exit)" line."""
        with self._stderr_cv:
            lines = [l for l in self.stderr_lines if "stats (exit)" in l]
        if not lines:
            raise AssertionError("exit code 0 but no \"stats (exit)\" line:\n" +
                                 "\n".join(self.stderr_lines[-30:]))
        return lines[-1], {k: v for k, v in re.findall(r"(?<!\w)(\w+)=([\d./]+)", lines[-1])}

    def assert_idle_exit(self):
        """After a clean exit nothing may be left in the pool: no slab in
        use, no read slab, no waiter, no retained byte, no refused release."""
        line, st = self.exit_stats()
        bad = []
        for field in IDLE_FIELDS:
            value = st.get(field)
            if field == "slabs_in_use":
                ok = value is not None and value.split("/")[0] == "0"
            else:
                ok = value == "0"
            if not ok:
                bad.append("%s=%s" % (field, "(absent)" if value is None else value))
        if bad:
            raise AssertionError("not idle at exit: %s in\n%s" % (", ".join(bad), line))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def assert_clean_exit(self, rc):
        log = "\n".join(self.stderr_lines[-40:])
        assert rc == 0, "exit code %s; stderr:\n%s" % (rc, log)
        self.assert_no_sanitizer_report()

    def assert_no_sanitizer_report(self):
        for l in self.stderr_lines:
            assert ("ERROR: AddressSanitizer" not in l and "runtime error" not in l and
                    "WARNING: ThreadSanitizer" not in l), "\n".join(self.stderr_lines[-60:])


# Frame checksums by the CRC catalogue's definitions (name: (width, function)),
# independent of daemon/checksum.c; test_schema_diff checks them against the
# catalogue's check values.

def crc_reflected(data, width, poly, init, xorout):
    c = init
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
    return c ^ xorout


def crc_normal(data, width, poly, init):
    top, mask = 1 << (width - 1), (1 << width) - 1
    c = init
    for b in data:
        c ^= b << (width - 8)
        for _ in range(8):
            c = ((c << 1) ^ poly) & mask if c & top else (c << 1) & mask
    return c


def xor8(data):
    c = 0
    for b in data:
        c ^= b
    return c


CHECKSUMS = {
    "xor8": (1, xor8),
    "sum8": (1, lambda d: sum(d) & 0xff),
    "crc8": (1, lambda d: crc_normal(d, 8, 0x07, 0)),                         # CRC-8/SMBUS
    "crc16-modbus": (2, lambda d: crc_reflected(d, 16, 0xa001, 0xffff, 0)),  # CRC-16/MODBUS
    "crc16-ccitt": (2, lambda d: crc_normal(d, 16, 0x1021, 0xffff)),          # CRC-16/IBM-3740
    "crc32": (4, lambda d: zlib.crc32(bytes(d)) & 0xffffffff),               # CRC-32/ISO-HDLC
}
CHECK_VALUES = {"xor8": 0x31, "sum8": 0xdd, "crc8": 0xf4, "crc16-modbus": 0x4b37,
                "crc16-ccitt": 0x29b1, "crc32": 0xcbf43926}


def closed_by_peer(s, timeout=None):
    """True when the daemon has closed s (EOF or reset) within timeout
    seconds (None: the socket's own timeout); False when s is still open."""
    if timeout is not None:
        s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def records(data):
    """Parses JSON Lines; every line must be complete and an object."""
    assert data == b"" or data.endswith(b"\n"), "output ends with a partial line"
    return [json.loads(l) for l in data.decode("utf-8").splitlines()]


def connect_from(port, source, host="127.0.0.1"):
    """A TCP connection to host:port from the local address source (all of
    127/8 is local, so tests can be many sensors); 10 s socket timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.connect((host, port))
    s.settimeout(10)
    return s


def run_ingestd(args, timeout=30):
    p = subprocess.run([BINARY] + args, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()
