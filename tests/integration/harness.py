"""Starts the real ingestd on ephemeral loopback ports and talks to it.

A Daemon writes a temporary config, starts build/san/ingestd (or $INGESTD),
and waits for its own readiness line ("ready: ...") on stderr, reading the
"listening on ADDR (listener NAME, ...)" lines to learn the ports the
kernel chose.  No sleeps: every wait is on an event the daemon reports
(a log line, a record in the output, process exit) with a deadline.
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

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("INGESTD", os.path.join(ROOT, "build", "san", "ingestd"))
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


DEFAULT_LISTENERS = """
[listener sensors]
address = 127.0.0.1
port = 0
framing = fixed
schema = sensor24

[listener mixed]
address = 127.0.0.1
port = 0
framing = tlv
type.1 = sensor24
type.2 = legacy16

[listener legacy]
address = 127.0.0.1
port = 0
framing = fixed
schema = legacy16
"""


class Daemon:
    """One ingestd process.  Use as a context manager."""

    def __init__(self, listeners=DEFAULT_LISTENERS, output="file", metadata=False,
                 extra="", pool="", stdout=None, env=None, args=None, binary=None, prefix=None, output_path=None,
                 output_extra=""):
        self.tmp = tempfile.TemporaryDirectory(prefix="ingestd-test-")
        self.dir = self.tmp.name
        self.out_path = os.path.join(self.dir, "out.jsonl") if output == "file" else None
        if output_path:
            self.out_path = output_path
        self.config_path = os.path.join(self.dir, "ingestd.ini")
        text = "[output]\npath = %s\nmetadata = %s\n" % (
            self.out_path or "-", "on" if metadata else "off")
        text += output_extra
        text += "[log]\nlevel = debug\nstats_interval = 0\n"
        if pool:
            text += "[pool]\n" + pool + "\n"
        text += extra + "\n" + listeners
        with open(self.config_path, "w") as f:
            f.write(text)
        self.ports = {}
        self.stderr_lines = []
        self._stderr_cv = threading.Condition()
        self.proc = None
        self.stdout = stdout
        self.env = env
        self.args = args or []
        self.binary = binary or BINARY
        self.prefix = prefix or []  # e.g. ["prlimit", "--nofile=64"]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.kill()
        self.tmp.cleanup()

    def start(self, timeout=20):
        self.proc = subprocess.Popen(
            self.prefix + [self.binary, "-c", self.config_path] + self.args,
            stdout=self.stdout if self.stdout is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=self.env)
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
        return {k: v for k, v in re.findall(r"(\w+)=([\d./]+)", line)}

    def stop(self, sig=signal.SIGTERM, timeout=30):
        self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout=30):
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def assert_clean_exit(self, rc):
        log = "\n".join(self.stderr_lines[-40:])
        assert rc == 0, "exit code %s; stderr:\n%s" % (rc, log)
        for l in self.stderr_lines:
            assert "ERROR: AddressSanitizer" not in l and "runtime error" not in l, log


def records(data):
    """Parses JSON Lines; every line must be complete and an object."""
    assert data == b"" or data.endswith(b"\n"), "output ends with a partial line"
    return [json.loads(l) for l in data.decode("utf-8").splitlines()]


def run_ingestd(args, timeout=30):
    p = subprocess.run([BINARY] + args, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()
