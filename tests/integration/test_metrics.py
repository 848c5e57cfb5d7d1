"""The metrics endpoint ([metrics]): /metrics in the Prometheus text format
and /healthz, scraped with curl (a real HTTP client) and poked with raw
sockets for what curl will not send.

Counters equal the traffic sent; the exposition text parses line by line;
HEAD has no body; 404, 405, 400, 505 and 431; one answer per connection
even with pipelined bytes; a client that sends half a request is closed
after the read timeout without holding up other scrapes; clients over the
limit are closed at once; /healthz turns 503 while reads stay paused; a
SIGTERM with a metrics client connected exits cleanly.

Needs curl (scripts/install-deps --test).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import ROOT, closed_by_peer, Daemon, sensor24, LEGACY16_SAMPLE

METRICS = "[metrics]\nenabled = on\naddress = 127.0.0.1\nport = 0\n"
READ_TIMEOUT = 5.0   # METRICS_READ_TIMEOUT in daemon/metrics.h
MAX_CLIENTS = 16     # METRICS_MAX_CLIENTS
REQUEST_MAX = 4096   # METRICS_REQUEST_MAX

SAMPLE_RX = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RX = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_exposition(text):
    """Parses exposition text 0.0.4 strictly; returns {(name, labels): value}
    with labels a sorted tuple of pairs.  Raises on any line that is not a
    # HELP / # TYPE comment or a sample of the family last typed."""
    out, typed, family = {}, set(), None
    assert text.endswith("\n"), "text does not end with a newline"
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            family = line.split(" ", 3)[2]
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == family, "TYPE %s after HELP %s" % (name, family)
            assert kind in ("counter", "gauge"), line
            assert name not in typed, "%s typed twice" % name
            typed.add(name)
            continue
        m = SAMPLE_RX.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.groups()
        assert name == family, "sample %s outside its family %s" % (name, family)
        pairs = []
        if labels is not None:
            rest = labels
            while rest:
                lm = LABEL_RX.match(rest)
                assert lm, "bad labels in %r" % line
                pairs.append((lm.group(1), lm.group(2)))
                rest = rest[lm.end():]
        key = (name, tuple(sorted(pairs)))
        assert key not in out, "duplicate sample %r" % (key,)
        out[key] = float(value)
    return out


class Response:
    def __init__(self, rc, raw):
        self.rc = rc
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/") else 0
        self.headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            self.headers[k.strip().lower()] = v.strip()


def curl(url, *args, timeout=10):
    """One request with curl; returns a Response (status 0 when none came)."""
    if shutil.which("curl") is None:
        raise AssertionError("curl is missing: run scripts/install-deps --test")
    p = subprocess.run(["curl", "-sS", "-i", "--max-time", str(timeout)] + list(args) + [url],
                       capture_output=True, timeout=timeout + 10)
    return Response(p.returncode, p.stdout)


def raw(port, data, timeout=10):
    """Sends data on a new connection, returns all it gets until the close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass  # answered and closed before taking it all; read what came
    got = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        got += b
    s.close()
    return got




def metrics_addr(d):
    """The "ADDR:PORT" of the daemon's "metrics on http://ADDR/metrics" line,
    logged before "ready: " (so already read by Daemon.start)."""
    for l in d.stderr_lines:
        m = re.search(r"metrics on http://(\S+)/metrics", l)
        if m:
            return m.group(1)
    raise AssertionError("no \"metrics on http://...\" line before \"ready:\" (is metrics "
                         "wired into main.c?):\n" + "\n".join(d.stderr_lines[-10:]))


class MetricsDaemon(Daemon):
    def __init__(self, extra="", **kw):
        super().__init__(extra=METRICS + extra, **kw)

    def start(self, timeout=20):
        super().start(timeout)
        self.metrics_addr = metrics_addr(self)
        self.metrics_port = int(self.metrics_addr.rsplit(":", 1)[1])

    def url(self, path):
        return "http://%s%s" % (self.metrics_addr, path)

    def scrape(self):
        r = curl(self.url("/metrics"))
        assert r.rc == 0 and r.status == 200, "scrape: curl rc %d, status %d" % (r.rc, r.status)
        return parse_exposition(r.body.decode("utf-8"))


def value(m, name, **labels):
    return m[(name, tuple(sorted(labels.items())))]


class Scrape(unittest.TestCase):
    def test_counters_equal_traffic(self):
        n_sensor, n_legacy = 300, 40
        with MetricsDaemon() as d:
            for part in range(3):
                d.send(b"".join(sensor24(part, float(i)) for i in range(100)))
            d.send(LEGACY16_SAMPLE * n_legacy, listener="legacy")
            d.wait_records(n_sensor + n_legacy)
            m = d.scrape()
            out_bytes = len(d.read_output())

            n = n_sensor + n_legacy
            in_bytes = n_sensor * 24 + n_legacy * 16
            self.assertEqual(value(m, "ingestd_records_out_total"), n)
            self.assertEqual(value(m, "ingestd_frames_in_total"), n)
            self.assertEqual(value(m, "ingestd_bytes_in_total"), in_bytes)
            self.assertEqual(value(m, "ingestd_bytes_out_total"), out_bytes)
            self.assertEqual(value(m, "ingestd_conn_accepted_total"), 4)
            self.assertEqual(value(m, "ingestd_conn_closed_total"), 4)
            self.assertEqual(value(m, "ingestd_connections"), 0)
            self.assertEqual(value(m, "ingestd_listener_records_total", listener="sensors"),
                             n_sensor)
            self.assertEqual(value(m, "ingestd_listener_bytes_in_total", listener="sensors"),
                             n_sensor * 24)
            self.assertEqual(value(m, "ingestd_listener_records_total", listener="legacy"),
                             n_legacy)
            self.assertEqual(value(m, "ingestd_listener_bytes_in_total", listener="legacy"),
                             n_legacy * 16)
            self.assertEqual(value(m, "ingestd_listener_records_total", listener="mixed"), 0)
            for reason in ("bad_magic", "bad_size", "bad_type", "oversize", "truncated"):
                self.assertEqual(value(m, "ingestd_frames_rejected_total", reason=reason), 0)
            self.assertEqual(value(m, "ingestd_paused"), 0)
            self.assertEqual(value(m, "ingestd_output_pending_bytes"), 0)
            self.assertGreaterEqual(value(m, "ingestd_pool_slabs_peak"), 1)
            self.assertGreater(value(m, "ingestd_resident_memory_bytes"), 1 << 20)
            self.assertEqual(value(m, "ingestd_metrics_clients"), 1)  # this scrape
            # Every stats.h counter is there (the same names as the stats line).
            st = d.stats()
            for k in ("conn_accepted", "bytes_in", "records_out", "slab_waits", "read_errors"):
                self.assertIn(k, st)
                self.assertIn(("ingestd_%s_total" % k, ()), m)
            d.assert_clean_exit(d.stop())

    def test_headers_head_and_healthz(self):
        with MetricsDaemon() as d:
            r = curl(d.url("/metrics"))
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["content-type"],
                             "text/plain; version=0.0.4; charset=utf-8")
            self.assertEqual(int(r.headers["content-length"]), len(r.body))
            self.assertEqual(r.headers["connection"], "close")

            r = curl(d.url("/healthz"))
            self.assertEqual((r.status, r.body), (200, b"ok\n"))
            r = curl(d.url("/healthz?x=1"), "--http1.0")
            self.assertEqual((r.status, r.body), (200, b"ok\n"))

            # HEAD: the GET's Content-Length, no body (raw: curl -I would hide extra bytes).
            for path, min_len in (("/healthz", 3), ("/metrics", 1000)):
                got = raw(d.metrics_port, b"HEAD %s HTTP/1.0\r\n\r\n" % path.encode())
                head, sep, body = got.partition(b"\r\n\r\n")
                self.assertEqual(sep, b"\r\n\r\n")
                self.assertEqual(body, b"")
                self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
                self.assertGreaterEqual(length, min_len)
            r = curl(d.url("/healthz"), "-I")
            self.assertEqual(r.status, 200)
            d.assert_clean_exit(d.stop())

    def test_errors(self):
        with MetricsDaemon() as d:
            self.assertEqual(curl(d.url("/favicon.ico")).status, 404)
            self.assertEqual(curl(d.url("/metrics/x")).status, 404)
            self.assertEqual(curl(d.url("/nope"), "-X", "POST").status, 404)
            r = curl(d.url("/metrics"), "-X", "POST", "-d", "x=1")
            self.assertEqual(r.status, 405)
            self.assertEqual(r.headers["allow"], "GET, HEAD")
            self.assertEqual(curl(d.url("/healthz"), "-X", "DELETE").status, 405)

            port = d.metrics_port
            for data, status in (
                (b"GARBAGE\r\n\r\n", 400),
                (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400),  # TLS
                (b"GET /metrics HTTP/1.1\r\n\r\n", 400),                   # no Host
                (b"GET /metrics HTTP/1.1\nHost: x\n\n", 400),              # bare LF
                (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
                (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 8000 + b"\r\n\r\n", 431),
                (b"GET /" + b"m" * 5000 + b" HTTP/1.1\r\n\r\n", 431),
            ):
                got = raw(port, data)
                self.assertTrue(got.startswith(b"HTTP/1.1 %d " % status),
                                "%r... -> %r" % (data[:30], got[:60]))
                self.assertIn(b"\r\nConnection: close\r\n", got)
                head, _, body = got.partition(b"\r\n\r\n")
                self.assertEqual(int(re.search(rb"Content-Length: (\d+)", head).group(1)),
                                 len(body))

            # Pipelined: one answer (to the first request), then the close.
            got = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n\x00garbage")
            self.assertEqual(got.count(b"HTTP/1.1 "), 1)
            self.assertTrue(got.endswith(b"\r\n\r\nok\n"), got)

            # A request dribbled in byte by byte still works.
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for b in b"GET /healthz HTTP/1.0\r\n\r\n":
                s.sendall(bytes([b]))
            got = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
            s.close()
            self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"))
            d.assert_clean_exit(d.stop())


class Limits(unittest.TestCase):
    def test_slowloris_is_closed_and_blocks_nobody(self):
        with MetricsDaemon() as d:
            slow = socket.create_connection(("127.0.0.1", d.metrics_port), timeout=30)
            t0 = time.monotonic()
            slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never the blank line
            # Other scrapes go on meanwhile.
            for _ in range(3):
                t = time.monotonic()
                r = curl(d.url("/metrics"))
                self.assertEqual(r.status, 200)
                self.assertLess(time.monotonic() - t, 2.0)
            self.assertTrue(closed_by_peer(slow))
            waited = time.monotonic() - t0
            self.assertGreater(waited, READ_TIMEOUT - 1.0)
            self.assertLess(waited, READ_TIMEOUT + 4.0)
            slow.close()
            m = d.scrape()
            self.assertEqual(value(m, "ingestd_metrics_timeouts_total"), 1)
            d.assert_clean_exit(d.stop())

    def test_clients_over_the_limit_are_closed_at_once(self):
        with MetricsDaemon() as d:
            port = d.metrics_port
            held = [socket.create_connection(("127.0.0.1", port), timeout=30)
                    for _ in range(MAX_CLIENTS)]
            t0 = time.monotonic()
            extra = socket.create_connection(("127.0.0.1", port), timeout=30)
            self.assertTrue(closed_by_peer(extra))
            self.assertLess(time.monotonic() - t0, READ_TIMEOUT - 2.0, "closed by the timeout")
            extra.close()
            r = curl(d.url("/metrics"))
            self.assertNotEqual(r.rc, 0)
            self.assertEqual(r.status, 0)
            # The held ones still work, and the limit frees up once they go.
            held[0].sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            self.assertTrue(held[0].recv(4096).startswith(b"HTTP/1.1 200 OK"))
            for s in held:
                s.close()
            deadline = time.monotonic() + READ_TIMEOUT
            while True:
                r = curl(d.url("/metrics"))
                if r.status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)  # the daemon sees the closes asynchronously; no event to wait on
            self.assertEqual(r.status, 200)
            m = parse_exposition(r.body.decode())
            self.assertGreaterEqual(value(m, "ingestd_metrics_refused_total"), 2)
            self.assertEqual(value(m, "ingestd_metrics_timeouts_total"), 0)
            d.assert_clean_exit(d.stop())

    def test_sigterm_with_a_metrics_client_connected(self):
        with MetricsDaemon() as d:
            idle = socket.create_connection(("127.0.0.1", d.metrics_port), timeout=30)
            idle.sendall(b"GET /metr")
            self.assertEqual(curl(d.url("/healthz")).status, 200)
            d.assert_clean_exit(d.stop(signal.SIGTERM))
            self.assertTrue(closed_by_peer(idle))


class Health(unittest.TestCase):
    def test_503_while_reads_stay_paused(self):
        # A tiny pool and a stdout nobody reads: the output backs up, reads
        # pause, and after unhealthy_after seconds /healthz says so.
        pool = "slab_size = 4096\nslabs = 8\nreserve = 1\nmax_waiters = 1\nwaiters_low = 0\n"
        listeners = ("[listener sensors]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
                     "schema = sensor24\n")
        with MetricsDaemon(extra="unhealthy_after = 1\n", output="-", stdout=subprocess.PIPE,
                           pool=pool, listeners=listeners) as d:
            def blast(cid):
                try:
                    s = d.connect("sensors")
                    s.sendall(b"".join(sensor24(cid, float(i)) for i in range(50000)))
                except OSError:
                    pass  # the daemon is killed at the end with this still blocked
            for cid in range(3):
                threading.Thread(target=blast, args=(cid,), daemon=True).start()
            d.wait_log("pausing reads on every connection", timeout=30)
            deadline = time.monotonic() + 10
            while True:
                r = curl(d.url("/healthz"))
                # The output stalls a moment before reads pause, so a first
                # 503 may give the stall as its reason; the pause, once it
                # is over unhealthy_after, is named first.
                if (r.status == 503 and b"reads paused for" in r.body) or \
                        time.monotonic() > deadline:
                    break
                time.sleep(0.1)  # waiting for unhealthy_after to pass; no event for it
            self.assertEqual(r.status, 503)
            self.assertIn(b"reads paused for", r.body)
            self.assertTrue(r.body.endswith(b"\n"))
            m = d.scrape()  # scrapes still work while every sensor read is paused
            self.assertEqual(value(m, "ingestd_paused"), 1)
            self.assertGreater(value(m, "ingestd_paused_seconds_total"), 1.0)
            self.assertGreaterEqual(value(m, "ingestd_pause_events_total"), 1)
            self.assertGreater(value(m, "ingestd_output_pending_bytes"), 0)


class Ipv6(unittest.TestCase):
    def test_ipv6_address(self):
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.bind(("::1", 0))
            s.close()
        except OSError:
            self.skipTest("no IPv6 loopback")
        with Daemon(extra="[metrics]\nenabled = on\naddress = ::1\nport = 0\n") as d:
            addr = metrics_addr(d)
            self.assertRegex(addr, r"^\[::1\]:\d+$")
            r = curl("http://%s/metrics" % addr)
            self.assertEqual(r.status, 200)
            parse_exposition(r.body.decode())
            d.assert_clean_exit(d.stop())


RULES = os.path.join(ROOT, "config", "prometheus", "ingestd.rules.yml")
RULE_TESTS = os.path.join(ROOT, "tests", "prometheus", "ingestd.rules.test.yml")


def promtool(*args, stdin=None):
    return subprocess.run(["promtool"] + list(args), input=stdin, capture_output=True,
                          timeout=60)


@unittest.skipUnless(shutil.which("promtool"), "promtool missing (scripts/install-deps --test "
                     "installs Debian's prometheus)")
class Prometheus(unittest.TestCase):
    def test_promtool_accepts_live_metrics_under_traffic(self):
        """Prometheus's own parser and linter (promtool check metrics) on
        /metrics scraped while sensors stream, with TLS counters, worker
        and listener labels, and ingestd_build_info."""
        with MetricsDaemon() as d:
            stop = threading.Event()

            def traffic():
                s = d.connect("sensors")
                k = 0
                while not stop.is_set():
                    s.sendall(b"".join(sensor24(7, float(k + i)) for i in range(500)))
                    k += 500
                s.close()
            t = threading.Thread(target=traffic, daemon=True)
            t.start()
            d.wait_records(2000)
            r = curl(d.url("/metrics"))
            stop.set()
            t.join(10)
            self.assertEqual((r.rc, r.status), (0, 200))
            p = promtool("check", "metrics", stdin=r.body)
            self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode())
            m = parse_exposition(r.body.decode("utf-8"))
            with open(os.path.join(ROOT, "daemon", "version.h")) as f:
                version = re.search(r'#define INGESTD_VERSION "([^"]+)"', f.read()).group(1)
            info = [k for k in m if k[0] == "ingestd_build_info"]
            self.assertEqual(len(info), 1, info)
            self.assertIn(("version", version), info[0][1])
            self.assertEqual(m[info[0]], 1)

    def test_alert_rules_check_and_unit_tests(self):
        """config/prometheus/ingestd.rules.yml: promtool check rules, then
        promtool test rules on synthetic series (each alert fires when it
        should and stays quiet when it should not)."""
        p = promtool("check", "rules", RULES)
        self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode())
        self.assertIn(b"SUCCESS: 5 rules found", p.stdout)
        p = subprocess.run(["promtool", "test", "rules", os.path.basename(RULE_TESTS)],
                           cwd=os.path.dirname(RULE_TESTS), capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode())


if __name__ == "__main__":
    unittest.main()
