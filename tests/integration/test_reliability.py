"""Reliability under the shipped default config (metadata on): what the
daemon promises when shutdown, stalls and faults meet real load.

Each test states one promise and checks it end to end with real sockets:

- SIGTERM while 16 clients stream: exit 0, whole lines, a gap-free prefix
  per connection (SigtermUnderLoad).
- An output stalled for three idle timeouts: connections waiting for the
  output are not "idle"; nothing is lost (OutputStall).
- rename + SIGHUP while the disk is full: whole lines in each file, every
  record once, in order across the two files (RotateDuringEnospc).
- An output that stops taking bytes (a terminal nobody reads, a FIFO with
  no reader or a stalled one, a socket as under the journal): the event
  loop keeps serving /metrics, /healthz turns 503, SIGTERM still ends the
  process in time (StalledTerminal, StalledFifo, StdoutSocket).
- stdout and stderr sharing one open file description: the daemon never
  makes stderr non-blocking (SharedDescription).
- Connections reset while queued for a slab: no crash, no leaked slab
  (PoolQueue; the sanitizer build turns a use-after-free into an abort).
- A slowloris that is not the oldest connection is still closed at
  idle_timeout; a peer completing frames just inside it is not (Slowloris).
- No new peer is served once SIGTERM came (ShutdownStopsAccepting).
- A SIGTERM that meets a busy loop keeps everything the half-closed peers
  sent (DrainBusyLoop).
- max_connections is exact at its boundary (Limits).

The harness checks every clean exit for an idle pool (Daemon.assert_idle_exit).
"""
import contextlib
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import harness
from harness import Daemon, records, sensor24

O_NONBLOCK = 0o4000
METRICS = "[metrics]\nenabled = on\nport = 0\nunhealthy_after = %d\n"
UNHEALTHY_AFTER = 2
# Long enough that "shutdown_timeout + 3 s" tells an output stall noticed at
# once (exit 1 a second after the deadline) from waiting out a second
# shutdown_timeout (2 x 5 s).
SHUTDOWN_TIMEOUT = 5
STALL_EXTRA = (METRICS % UNHEALTHY_AFTER +
               "[limits]\nshutdown_timeout = %d\n" % SHUTDOWN_TIMEOUT)
SENSORS_ONLY = ("[listener sensors]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
                "schema = sensor24\n")


# ---------------------------------------------------------------- helpers

def metrics_addr(d):
    """ADDR:PORT from the "metrics on http://ADDR:PORT/metrics" line (logged
    before "ready: ", so Daemon.start has already read it)."""
    for l in d.stderr_lines:
        m = re.search(r"metrics on http://(\S+)/metrics", l)
        if m:
            return m.group(1)
    raise AssertionError("no \"metrics on http://...\" line:\n" + "\n".join(d.stderr_lines[-10:]))


def http_get(addr, path, timeout=2.0):
    """One HTTP/1.0 GET on a raw socket; returns (status, body).  Raises
    AssertionError when no complete answer came within timeout seconds of
    sending the request."""
    host, port = addr.rsplit(":", 1)
    host = host.strip("[]")
    s = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        deadline = time.monotonic() + timeout
        s.sendall(("GET %s HTTP/1.0\r\n\r\n" % path).encode())
        got = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            s.settimeout(left)
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            got += b
    except socket.timeout:
        raise AssertionError("GET %s: no answer within %.1f s" % (path, timeout)) from None
    finally:
        s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    first = head.split(b"\r\n", 1)[0].split()
    status = int(first[1]) if len(first) > 1 and first[0].startswith(b"HTTP/") else 0
    return status, body


def wait_unhealthy(addr, deadline):
    """Polls /healthz every 0.2 s (each answer within 2 s) until 503 or the
    deadline; returns the last status.  No event exists for "unhealthy"."""
    while True:
        status, _ = http_get(addr, "/healthz", 2.0)
        if status == 503 or time.monotonic() >= deadline:
            return status
        time.sleep(0.2)


def closed_by_peer(s, timeout=2.0):
    return harness.closed_by_peer(s, timeout)


def per_connection(recs):
    """{sensorId: [timestamps in output order]}."""
    per = {}
    for r in recs:
        per.setdefault(r["sensorId"], []).append(r["timestamp"])
    return per


def check_order(lines):
    """Parses every line (each must be a whole JSON object ending in a
    newline) and asserts that each connection's timestamps run 0, 1, 2, ...
    in order; returns {sensorId: records}.  Streams: a million records never
    sit in memory as dicts."""
    nxt = {}
    for n, line in enumerate(lines):
        assert line.endswith(b"\n"), "line %d is not whole: %r" % (n, line[-60:])
        r = json.loads(line)
        cid, k = r["sensorId"], nxt.get(r["sensorId"], 0)
        assert r["timestamp"] == float(k), ("sensor %d: record %d has timestamp %r: a gap, "
                                            "a duplicate or out of order" % (cid, k, r["timestamp"]))
        nxt[cid] = k + 1
    return nxt


def file_lines(path):
    with open(path, "rb") as f:
        yield from f


def payload(cid, n, start=0):
    return b"".join(sensor24(cid, float(k)) for k in range(start, start + n))


def stream_forever(sock, cid, stop, batch=1000, limit=None):
    """sendall()s 1000-packet batches (timestamps 0, 1, 2, ...) until stop
    is set, limit packets are sent, or the socket fails."""
    k = 0
    try:
        while not stop.is_set() and (limit is None or k < limit):
            sock.sendall(payload(cid, batch, k))
            k += batch
    except OSError:
        pass


def send_and_half_close(sock, data):
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def daemon_thread(target, *args):
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


def stop_within(test, d, limit, allowed=(0,)):
    """SIGTERM; the process must end within limit seconds with an exit code
    in allowed (wait_exit checks the idle pool when it is 0)."""
    start = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    try:
        rc = d.wait_exit(limit)
    except subprocess.TimeoutExpired:
        d.kill()
        test.fail("still running %.1f s after SIGTERM:\n%s"
                  % (limit, "\n".join(d.stderr_lines[-20:])))
    test.assertIn(rc, allowed, "exit code %s after SIGTERM:\n%s"
                  % (rc, "\n".join(d.stderr_lines[-20:])))
    d.assert_no_sanitizer_report()
    return rc, time.monotonic() - start


@contextlib.contextmanager
def started(d, timeout=10):
    """Like `with d:` but with a shorter start timeout."""
    try:
        d.start(timeout)
        yield d
    finally:
        d.__exit__(*sys.exc_info())


def wait_size(path, nbytes, timeout, proc):
    """Waits until the file the daemon appends to holds nbytes (a stat, not
    a read: the test must react while the load is still running)."""
    deadline = time.monotonic() + timeout
    while not (os.path.exists(path) and os.path.getsize(path) >= nbytes):
        if proc.poll() is not None:
            raise AssertionError("daemon exited with %s" % proc.returncode)
        if time.monotonic() > deadline:
            raise AssertionError("output under %d bytes after %s s" % (nbytes, timeout))
        time.sleep(0.002)  # polling a file the daemon appends to; no event exists


class PipeReader(threading.Thread):
    """Reads a pipe to EOF in the background, keeping every byte."""

    def __init__(self, f):
        super().__init__(daemon=True)
        self.fd = f.fileno()
        self.chunks = []
        self.lines = 0
        self.eof = False
        self.cv = threading.Condition()
        self.start()

    def run(self):
        while True:
            try:
                b = os.read(self.fd, 1 << 20)
            except OSError:
                b = b""
            with self.cv:
                if not b:
                    self.eof = True
                    self.cv.notify_all()
                    return
                self.chunks.append(b)
                self.lines += b.count(b"\n")
                self.cv.notify_all()

    def wait_lines(self, n, timeout, quiet=10.0):
        """Waits for n lines; gives up at the deadline, at EOF, or after
        quiet seconds without a byte.  Returns the count."""
        deadline = time.monotonic() + timeout
        with self.cv:
            last, last_at = self.lines, time.monotonic()
            while self.lines < n and not self.eof:
                now = time.monotonic()
                if self.lines != last:
                    last, last_at = self.lines, now
                if now >= deadline or now - last_at >= quiet:
                    break
                self.cv.wait(min(deadline - now, 0.5))
            return self.lines

    def data(self):
        with self.cv:
            return b"".join(self.chunks)


# ---------------------------------------------------------------- tests

class SigtermUnderLoad(unittest.TestCase):
    def test_sigterm_while_16_clients_stream(self):
        timeout = 3
        with Daemon(extra="[limits]\nshutdown_timeout = %d\n" % timeout) as d:
            stop = threading.Event()
            socks = [d.connect("sensors") for _ in range(16)]
            # Each keeps streaming after the signal; the cap (800k records
            # at most) only bounds the output the test has to read back.
            for cid, s in enumerate(socks):
                daemon_thread(stream_forever, s, cid, stop, 1000, 50000)
            try:
                # 50,000 records: sensor24 lines with metadata are under 260 bytes.
                wait_size(d.out_path, 50000 * 260, 60, d.proc)
                d.proc.send_signal(signal.SIGTERM)
                try:
                    rc = d.wait_exit(timeout + 5)
                except subprocess.TimeoutExpired:
                    d.kill()
                    self.fail("still running %d s after SIGTERM (shutdown_timeout %d)"
                              % (timeout + 5, timeout))
            finally:
                stop.set()
            self.assertEqual(rc, 0, "\n".join(d.stderr_lines[-20:]))
            d.assert_no_sanitizer_report()
            # Whole lines only; per connection a gap-free prefix of what was sent.
            got = check_order(file_lines(d.out_path))
            self.assertGreaterEqual(sum(got.values()), 50000)
            for s in socks:
                s.close()


class OutputStall(unittest.TestCase):
    def test_stall_three_times_idle_timeout_loses_nothing(self):
        idle, n_conn, per = 2, 4, 100000
        pool = ("slab_size = 131072\nslabs = 16\nmax_waiters = 2\nwaiters_low = 0\n"
                "max_retained = 7\n")
        data = [payload(cid, per) for cid in range(n_conn)]
        with Daemon(output="-", stdout=subprocess.PIPE, pool=pool,
                    extra="[limits]\nidle_timeout = %d\n" % idle) as d:
            socks = [d.connect("sensors") for _ in range(n_conn)]
            for s in socks:
                s.settimeout(120)
            senders = [daemon_thread(send_and_half_close, s, p) for s, p in zip(socks, data)]
            # The stall itself: nobody reads stdout for three idle timeouts.
            time.sleep(3 * idle)
            reader = PipeReader(d.proc.stdout)
            got = reader.wait_lines(n_conn * per, timeout=120)
            self.assertEqual(got, n_conn * per, "records lost while the output was stalled:\n"
                             + "\n".join(d.stderr_lines[-10:]))
            for t in senders:
                t.join(30)
            got = check_order(reader.data().splitlines(keepends=True))
            self.assertEqual(got, {cid: per for cid in range(n_conn)})
            self.assertEqual(d.stats()["idle_closed"], "0")
            for s in socks:
                s.close()
            self.assertEqual(d.stop(), 0)


@unittest.skipUnless(os.geteuid() == 0, "mounting a tmpfs needs root")
class RotateDuringEnospc(unittest.TestCase):
    N = 20000

    @staticmethod
    def fill(path):
        """Writes zeros until the file system is full; returns the size."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for chunk in (b"\0" * 65536, b"\0" * 4096):
                while True:
                    try:
                        if os.write(fd, chunk) == 0:
                            break
                    except OSError:
                        break
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    def test_rename_and_hup_while_disk_full(self):
        mnt = tempfile.mkdtemp(prefix="ingestd-full-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], check=True)
        try:
            filler = os.path.join(mnt, "filler")
            size = self.fill(filler)
            # Three pages free: the daemon's first write is short and ends
            # in the middle of a line.
            os.truncate(filler, size - 3 * 4096)
            out = os.path.join(mnt, "out.jsonl")
            rotated = out + ".1"
            pool = ("slab_size = 131072\nslabs = 8\nmax_waiters = 1\nwaiters_low = 0\n"
                    "max_retained = 5\n")
            with Daemon(pool=pool, output_path=out) as d:
                s = d.connect("sensors")
                s.settimeout(120)
                sender = daemon_thread(send_and_half_close, s, payload(3, self.N))
                d.wait_log("write failed, keeping")
                with open(out, "rb") as f:
                    live = f.read()
                self.assertTrue(live == b"" or live.endswith(b"\n"),
                                "a partial line in the file while the disk is full: ...%r"
                                % live[-60:])
                os.rename(out, rotated)
                start = len(d.stderr_lines)
                d.proc.send_signal(signal.SIGHUP)
                d.wait_log(r"SIGHUP: output reopened|SIGHUP.*reopen", timeout=10, start=start)
                os.unlink(filler)   # space comes back
                deadline = time.monotonic() + 60
                while True:
                    total = 0
                    for name in (rotated, out):
                        if os.path.exists(name):
                            with open(name, "rb") as f:
                                total += f.read().count(b"\n")
                    if total >= self.N or time.monotonic() > deadline:
                        break
                    if d.proc.poll() is not None:
                        self.fail("daemon exited with %s" % d.proc.returncode)
                    time.sleep(0.01)  # polling files the daemon appends to; no event exists
                self.assertEqual(total, self.N, "records in the two files; log:\n" +
                                 "\n".join(d.stderr_lines[-15:]))
                sender.join(30)
                self.assertEqual(d.stop(), 0)
                ts = []
                for name in (rotated, out):
                    data = b""
                    if os.path.exists(name):
                        with open(name, "rb") as f:
                            data = f.read()
                    self.assertTrue(data == b"" or data.endswith(b"\n"), name)
                    ts += [r["timestamp"] for r in records(data)]
                self.assertEqual(len(ts), self.N)
                self.assertEqual(ts, [float(k) for k in range(self.N)])
                s.close()
        finally:
            subprocess.run(["umount", "-l", mnt])
            os.rmdir(mnt)


class StalledOutput:
    """The checks shared by outputs that stop taking bytes."""

    def check_loop_still_serves(self, d, n_packets):
        """Streams n_packets on one connection; the loop must keep serving
        /metrics, /healthz must turn 503, SIGTERM must end the process."""
        addr = metrics_addr(d)
        s = d.connect("sensors")
        s.settimeout(60)
        t0 = time.monotonic()
        daemon_thread(send_and_half_close, s, payload(1, n_packets))
        status = wait_unhealthy(addr, t0 + UNHEALTHY_AFTER + 2 + 2)
        self.assertEqual(status, 503, "/healthz did not turn 503 while the output is stalled")
        status, body = http_get(addr, "/metrics", 2.0)
        self.assertEqual(status, 200)
        self.assertIn(b"ingestd_", body)
        # Exit 1 is fine: the output could not take what was pending.
        stop_within(self, d, SHUTDOWN_TIMEOUT + 3, allowed=(0, 1))
        s.close()


class StalledTerminal(StalledOutput, unittest.TestCase):
    def test_pty_reader_stops(self):
        master, slave = os.openpty()
        try:
            with Daemon(output="-", stdout=slave, extra=STALL_EXTRA) as d:
                os.close(slave)
                slave = -1
                status, _ = http_get(metrics_addr(d), "/metrics", 2.0)
                self.assertEqual(status, 200)
                self.check_loop_still_serves(d, 200000)
        finally:
            if slave >= 0:
                os.close(slave)
            os.close(master)


class TerminalDaemon(Daemon):
    """stdout and stderr both one terminal, as under `make run`: the log is
    read from the terminal until stop_reading is set, then nobody reads."""

    def spawn(self):
        self.master, slave = os.openpty()
        self.stop_reading = threading.Event()
        try:
            return subprocess.Popen([self.binary, "-c", self.config_path] + self.args,
                                    stdout=slave, stderr=slave, env=self.env)
        finally:
            os.close(slave)

    def _read_stderr(self):
        buf = b""
        while not self.stop_reading.is_set():
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            with self._stderr_cv:
                self.stderr_lines.extend(l.decode("utf-8", "replace").rstrip("\r")
                                         for l in lines if not l.startswith(b"{"))
                self._stderr_cv.notify_all()


class StalledSharedTerminal(unittest.TestCase):
    def test_log_and_records_on_one_stalled_terminal(self):
        """The log writes to the same stalled terminal, blocking: its lines
        are dropped (counted), never waited for."""
        d = TerminalDaemon(output="-", extra=STALL_EXTRA + "[log]\nstats_interval = 0.5\n")
        with d:
            addr = metrics_addr(d)
            d.stop_reading.set()          # from here on nobody reads the terminal
            s = d.connect("sensors")
            s.settimeout(60)
            daemon_thread(send_and_half_close, s, payload(1, 200000))
            # The stats line comes twice a second: for 5 s the loop must go on
            # answering although the terminal takes nothing.
            end = time.monotonic() + 5
            while time.monotonic() < end:
                status, body = http_get(addr, "/metrics", 2.0)
                self.assertEqual(status, 200)
                time.sleep(0.5)           # pacing the probes, not synchronising
            dropped = re.search(rb"^ingestd_log_dropped_total (\d+)$", body, re.M)
            self.assertIsNotNone(dropped, body[-2000:])
            self.assertGreater(int(dropped.group(1)), 0)
            stop_within(self, d, SHUTDOWN_TIMEOUT + 3, allowed=(0, 1))
            s.close()
        os.close(d.master)


class StalledFifo(StalledOutput, unittest.TestCase):
    def run_fifo(self, with_reader):
        tmp = tempfile.TemporaryDirectory(prefix="ingestd-fifo-")
        fifo = os.path.join(tmp.name, "out.fifo")
        os.mkfifo(fifo)
        held = []
        if with_reader:
            # Opens (blocking until the daemon opens for writing) and never reads.
            daemon_thread(lambda: held.append(os.open(fifo, os.O_RDONLY)))
        try:
            with started(Daemon(output_path=fifo, extra=STALL_EXTRA), timeout=10) as d:
                status, _ = http_get(metrics_addr(d), "/metrics", 2.0)
                self.assertEqual(status, 200)
                self.check_loop_still_serves(d, 1000)
        finally:
            for fd in held:
                os.close(fd)
            if with_reader and not held:
                # Release a reader still blocked in open().
                with contextlib.suppress(OSError):
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            tmp.cleanup()

    def test_fifo_path_nobody_reads(self):
        self.run_fifo(with_reader=False)

    def test_fifo_reader_that_stops_reading(self):
        self.run_fifo(with_reader=True)


class StdoutSocket(StalledOutput, unittest.TestCase):
    def test_socket_stdout_that_stops_reading_does_not_block_the_loop(self):
        ours, theirs = socket.socketpair()
        try:
            with Daemon(output="-", stdout=theirs.fileno(), extra=STALL_EXTRA) as d:
                status, _ = http_get(metrics_addr(d), "/metrics", 2.0)
                self.assertEqual(status, 200)
                self.check_loop_still_serves(d, 200000)
        finally:
            theirs.close()
            ours.close()


class CombinedOutputDaemon(Daemon):
    """stdout and stderr are one pipe (one open file description), as with
    `ingestd 2>&1 | ...`; the log lines and the records are read together."""

    def spawn(self):
        return subprocess.Popen([self.binary, "-c", self.config_path] + self.args,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env)

    def _read_stderr(self):
        self.proc.stderr = self.proc.stdout   # the combined stream
        super()._read_stderr()


def fd_flags(pid, fd):
    with open("/proc/%d/fdinfo/%d" % (pid, fd)) as f:
        for line in f:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    raise AssertionError("no flags in fdinfo")


class SharedDescription(unittest.TestCase):
    def test_stderr_stays_blocking_when_it_shares_stdouts_description(self):
        with CombinedOutputDaemon(output="-") as d:
            d.send(payload(5, 100))
            d.wait_log(r'"sensorId":5,"timestamp":99,')
            self.assertFalse(fd_flags(d.proc.pid, 2) & O_NONBLOCK,
                             "stderr (sharing stdout's description) was made non-blocking")
            self.assertFalse(fd_flags(d.proc.pid, 1) & O_NONBLOCK,
                             "stdout's own description was made non-blocking")
            rc = d.stop()
            self.assertEqual(rc, 0)
            got = [l for l in d.stderr_lines if l.startswith('{"sensorId":5,')]
            self.assertEqual(len(records(("\n".join(got) + "\n").encode())), 100)


class PoolQueue(unittest.TestCase):
    def test_connection_waiting_for_a_slab_closes(self):
        pool = ("slab_size = 4096\nslabs = 4\nreserve = 2\nmax_waiters = 64\nwaiters_low = 16\n"
                "max_retained = 1\n")
        n_conn, per = 10, 2000
        with Daemon(output="-", stdout=subprocess.PIPE, pool=pool, listeners=SENSORS_ONLY) as d:
            socks = [d.connect("sensors") for _ in range(n_conn)]
            doomed = socks[0::2]                      # cids 0, 2, 4, 6, 8
            survivors = {cid: s for cid, s in enumerate(socks) if cid % 2}
            for cid, s in survivors.items():
                s.settimeout(60)
                daemon_thread(send_and_half_close, s, payload(cid, per))
            for s in doomed:
                # As much as the kernel takes without blocking (all of it,
                # normally), so that the reset is not held up by a send.
                data = memoryview(payload(socks.index(s), per))
                s.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    while data:
                        data = data[s.send(data):]
            # Nobody reads stdout yet: the output fills the pool and the
            # connections queue for slabs.
            deadline = time.monotonic() + 20
            while int(d.stats()["waiters"]) < 5:
                self.assertLess(time.monotonic(), deadline, "connections never queued for a slab")
                time.sleep(0.05)  # no event for "queued"; the stats line is the signal
            for s in doomed:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            reader = PipeReader(d.proc.stdout)
            deadline = time.monotonic() + 60
            while True:
                data = reader.data()
                ts = per_connection(records(data[:data.rfind(b"\n") + 1]))
                if all(len(ts.get(cid, [])) >= per for cid in survivors):
                    break
                self.assertIsNone(d.proc.poll(), "daemon died:\n" + "\n".join(d.stderr_lines[-30:]))
                self.assertLess(time.monotonic(), deadline, {c: len(ts.get(c, [])) for c in survivors})
                reader.wait_lines(reader.lines + 1, 1.0)
            for cid, s in survivors.items():
                self.assertEqual(ts[cid], [float(k) for k in range(per)], cid)
                self.assertTrue(closed_by_peer(s, 30))
                s.close()
            for _ in range(200):      # until the resets have all been seen
                if d.stats()["conns"] == "0":
                    break
            d.assert_clean_exit(d.stop())   # and wait_exit's idle check: no leaked slab


class Slowloris(unittest.TestCase):
    def test_slowloris_not_the_oldest_is_closed_at_idle_timeout(self):
        idle = 2.0
        with Daemon(extra="[limits]\nidle_timeout = 2\n") as d:
            a = d.connect("sensors")            # the oldest: one whole packet every 0.5 s
            c = d.connect("sensors")            # completes a frame every 1.5 s
            t0 = time.monotonic()
            b = b_connected = b_closed_at = None
            a_sent, c_frames, b_bytes, tick = 0, 0, 0, 0
            c_frame = sensor24(2, 0.0)
            while time.monotonic() - t0 < 7.0:
                if tick == 2:                   # the slowloris comes later
                    b = d.connect("sensors")
                    b_connected = time.monotonic()
                a.sendall(sensor24(1, float(a_sent)))
                a_sent += 1
                piece = tick % 3                # 8 bytes a tick: one frame per 1.5 s
                c.sendall(c_frame[piece * 8:piece * 8 + 8])
                if piece == 2:
                    c_frames += 1
                    c_frame = sensor24(2, float(c_frames))
                if b is not None and b_closed_at is None and b_bytes < 20:
                    try:
                        b.send(b"\x00")
                        b_bytes += 1
                    except (BrokenPipeError, ConnectionResetError):
                        b_closed_at = time.monotonic()
                # Pace the clients (0.5 s a tick) while watching for closes.
                tick += 1
                until = t0 + 0.5 * tick
                while True:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    watch = [a, c] + ([b] if b is not None and b_closed_at is None else [])
                    ready, _, _ = select.select(watch, [], [], left)
                    self.assertNotIn(a, ready, "the active peer was closed")
                    self.assertNotIn(c, ready, "the peer completing a frame every 1.5 s "
                                     "(idle_timeout 2) was closed at %.1f s"
                                     % (time.monotonic() - t0))
                    if b in ready:
                        self.assertTrue(closed_by_peer(b, 1))
                        b_closed_at = time.monotonic()
            self.assertIsNotNone(b_closed_at, "the slowloris was never closed")
            after = b_closed_at - b_connected
            self.assertGreaterEqual(after, idle - 0.1, "closed too early")
            self.assertLessEqual(after, idle + 1.5, "closed %.2f s after its connect" % after)
            for s in (a, c):
                s.shutdown(socket.SHUT_WR)
                self.assertTrue(closed_by_peer(s, 10))
                s.close()
            b.close()
            got = per_connection(records(d.wait_records(a_sent + c_frames)))
            self.assertEqual(got[1], [float(k) for k in range(a_sent)])
            self.assertEqual(got[2], [float(k) for k in range(c_frames)])
            self.assertEqual(d.stats()["idle_closed"], "1")
            self.assertEqual(d.stop(), 0)


class ShutdownStopsAccepting(unittest.TestCase):
    def test_no_new_peers_after_sigterm(self):
        with Daemon(extra="[limits]\nshutdown_timeout = 3\n") as d:
            silent = d.connect("sensors")
            slow = d.connect("sensors")
            stop = threading.Event()

            def trickle():
                # A packet every 20 ms: the drain does not see it go quiet,
                # so it lasts up to shutdown_timeout.
                k = 0
                try:
                    while not stop.is_set():
                        slow.sendall(sensor24(1, float(k)))
                        k += 1
                        stop.wait(0.02)
                except OSError:
                    pass

            daemon_thread(trickle)
            try:
                d.wait_records(10)
                start = len(d.stderr_lines)
                d.proc.send_signal(signal.SIGTERM)
                d.wait_log("no longer accepting", start=start)
                late = socket.socket()
                late.settimeout(5)
                try:
                    late.connect(("127.0.0.1", d.ports["sensors"]))
                except ConnectionRefusedError:
                    late.close()
                    late = None
                if late is not None:
                    try:
                        late.sendall(sensor24(999, 1.0) * 10)
                    except OSError:
                        pass
                    self.assertTrue(closed_by_peer(late, 1.0),
                                    "a connect() after SIGTERM was neither refused nor closed")
                    late.close()
                try:
                    # The drain may take shutdown_timeout, the output as long again.
                    rc = d.wait_exit(2 * 3 + 3)
                except subprocess.TimeoutExpired:
                    d.kill()
                    self.fail("still running 9 s after SIGTERM")
            finally:
                stop.set()
            self.assertIn(rc, (0, 1), "\n".join(d.stderr_lines[-20:]))
            d.assert_no_sanitizer_report()
            got = records(d.read_output())
            self.assertFalse([r for r in got if r["sensorId"] == 999],
                             "records from a peer that connected after SIGTERM")
            ts = per_connection(got).get(1, [])
            self.assertEqual(ts, [float(k) for k in range(len(ts))])
            silent.close()
            slow.close()


class DrainBusyLoop(unittest.TestCase):
    def test_sigterm_meets_a_busy_loop_keeps_everything_read(self):
        n_conn, per = 4, 250000
        data = [payload(cid, per) for cid in range(n_conn)]
        with Daemon() as d:
            socks = [d.connect("sensors") for _ in range(n_conn)]
            for s in socks:
                s.settimeout(120)
            senders = [daemon_thread(send_and_half_close, s, p) for s, p in zip(socks, data)]
            deadline = time.monotonic() + 30
            while not (os.path.exists(d.out_path) and os.path.getsize(d.out_path) > 0):
                self.assertLess(time.monotonic(), deadline, "no records")
                time.sleep(0.001)  # polling the file for its first bytes; no event exists
            d.proc.send_signal(signal.SIGTERM)
            try:
                rc = d.wait_exit(60)
            except subprocess.TimeoutExpired:
                d.kill()
                self.fail("still running 60 s after SIGTERM")
            self.assertEqual(rc, 0, "\n".join(d.stderr_lines[-20:]))
            for t in senders:
                t.join(30)
            got = check_order(file_lines(d.out_path))
            self.assertEqual(got, {cid: per for cid in range(n_conn)})
            for s in socks:
                s.close()


def kernel_queued(port):
    """Bytes received by the kernel and not yet read, summed over the
    TCP connections whose local port is port, established or half-closed
    by their peer (/proc/net/tcp states 01 and 08)."""
    total = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if state in ("01", "08") and int(local.split(":")[1], 16) == port:
                total += int(queues.split(":")[1], 16)
    return total


class DrainHeldBytes(unittest.TestCase):
    # test_tls runs this test over TLS with these two replaced.
    def listener_extra(self):
        return ""

    def open_conn(self, d):
        return d.connect("sensors")

    def test_sigterm_reads_every_byte_the_kernel_held(self):
        """SIGTERM with up to 32 MB already in the kernel's receive buffers
        (as much as net.core.rmem_max lets each connection hold, at least
        two reads' worth): one round of reads over 64 connections (350k
        records) takes longer than the drain's quiet spell, so only the
        count of bytes held at the signal (FIONREAD) keeps a connection
        from being closed between two of its reads.  What the kernel could
        not hold waits in the senders' queues and follows as reads open
        the window."""
        n_conn, per = 192, 21845         # 512 KiB (less 8 bytes) per connection
        listeners = ("[listener sensors]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
                     "schema = sensor24\nrecv_buffer = 4194304\n" + self.listener_extra())
        with Daemon(listeners=listeners, extra="[limits]\nshutdown_timeout = 30\n") as d:
            socks = [self.open_conn(d) for _ in range(n_conn)]
            d.wait_conns(n_conn)
            d.proc.send_signal(signal.SIGSTOP)
            try:
                for cid, s in enumerate(socks):
                    s.sendall(payload(cid, per))
                    s.shutdown(socket.SHUT_WR)
                want = n_conn * per * 24
                deadline = time.monotonic() + 30
                held, steady_since = -1, time.monotonic()
                while True:
                    now_held = kernel_queued(d.ports["sensors"])
                    if now_held != held:
                        held, steady_since = now_held, time.monotonic()
                    if held >= want or time.monotonic() - steady_since >= 1.0:
                        break          # all of it, or all the kernel will take
                    self.assertLess(time.monotonic(), deadline, "the kernel's queues never settled")
                    time.sleep(0.01)   # /proc/net/tcp has no change notification
                read_size = 131072     # the shipped slab_size: one read at most
                if held <= 2 * read_size * n_conn:
                    with open("/proc/sys/net/core/rmem_max") as f:
                        self.fail("the kernel held only %d bytes for %d connections "
                                  "(net.core.rmem_max %s)" % (held, n_conn, f.read().strip()))
                d.proc.send_signal(signal.SIGTERM)
            finally:
                d.proc.send_signal(signal.SIGCONT)
            rc = d.wait_exit(60)
            self.assertEqual(rc, 0, "\n".join(d.stderr_lines[-20:]))
            got = check_order(file_lines(d.out_path))
            self.assertEqual(got, {cid: per for cid in range(n_conn)})
            for s in socks:
                s.close()


class Limits(unittest.TestCase):
    def test_max_connections_boundary(self):
        cap = 4
        with Daemon(extra="[limits]\nmax_connections = %d\n" % cap) as d:
            served = [d.connect("sensors") for _ in range(cap)]
            for i, s in enumerate(served):
                s.sendall(sensor24(i, 0.0))
            d.wait_records(cap)                 # all four accepted and served
            extra = d.connect("sensors")
            self.assertTrue(closed_by_peer(extra, 2.0), "connection over the cap not closed")
            extra.close()
            for i, s in enumerate(served):
                s.sendall(sensor24(i, 1.0))
                s.shutdown(socket.SHUT_WR)
                self.assertTrue(closed_by_peer(s, 10))
                s.close()
            got = per_connection(records(d.wait_records(2 * cap)))
            self.assertEqual(got, {i: [0.0, 1.0] for i in range(cap)})
            st = d.stats()
            self.assertEqual(st["conn_refused"], "1")
            self.assertEqual(st["conns"], "0")
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
