"""Behind a load balancer: the PROXY protocol (v1 and v2) on a listener.

Connections from proxy_from must begin with a header; their records carry
the sensor's address from it (_peer), and the listener's allow/deny lists
judge that address.  Hand-made headers test the rules (byte by byte, bad,
LOCAL, silent peers, untrusted peers); then the real thing: HAProxy
(Debian's) in mode tcp with send-proxy-v2 (with crc32c) and send-proxy,
clients bound to 127.0.0.2 ... 127.0.0.9, and its health checks.
"""
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import closed_by_peer, connect_from, Daemon, records, sensor24

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def listener(extra=""):
    return ("[listener sensors]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
            "schema = sensor24\nproxy_protocol = any\nproxy_from = 127.0.0.1\n"
            "proxy_timeout = 1\n" + extra)


def v2_header(src, sport, dst="127.0.0.1", dport=7001, local=False):
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport)
    return SIG + bytes([0x20 if local else 0x21, 0x11]) + struct.pack(">H", len(addrs)) + addrs


class Headers(unittest.TestCase):
    def test_v2_and_v1_give_the_sensors_address(self):
        with Daemon(listeners=listener()) as d:
            a = d.connect("sensors")
            a.sendall(v2_header("192.0.2.7", 4242) + sensor24(1, 0.0) + sensor24(1, 1.0))
            b = d.connect("sensors")
            line = b"PROXY TCP4 198.51.100.9 127.0.0.1 5151 7001\r\n" + sensor24(2, 0.0)
            for i in range(len(line)):          # a byte at a time
                b.send(line[i:i + 1])
            recs = records(d.wait_records(3))
            peers = sorted({(r["sensorId"], r["_peer"]) for r in recs})
            self.assertEqual(peers, [(1, "192.0.2.7:4242"), (2, "198.51.100.9:5151")])
            st = d.stats()
            self.assertEqual(st["proxy_headers"], "2", st)
            a.close()
            b.close()
            d.assert_clean_exit(d.stop())

    def test_bad_header_closes(self):
        with Daemon(listeners=listener()) as d:
            for junk in (sensor24(5, 0.0),                                # no header at all
                         b"PROXY TCP4 192.0.2.7 127.0.0.1 04242 7001\r\n",  # leading zero
                         SIG + b"\x21\x12\x00\x0c" + bytes(12)):            # a datagram
                s = d.connect("sensors")
                s.sendall(junk + sensor24(5, 1.0))
                self.assertTrue(closed_by_peer(s))
                s.close()
            st = d.stats()
            self.assertEqual(st["proxy_bad"], "3", st)
            self.assertEqual(st["records_out"], "0", st)
            d.wait_log(r"no PROXY header \(or one of a version not allowed\); closing")
            d.assert_clean_exit(d.stop())

    def test_local_is_a_health_check(self):
        with Daemon(listeners=listener()) as d:
            s = d.connect("sensors")
            s.sendall(v2_header("0.0.0.0", 0, local=True))
            s.shutdown(socket.SHUT_WR)
            self.assertTrue(closed_by_peer(s))
            st = d.stats()
            self.assertEqual(st["proxy_local"], "1", st)
            self.assertEqual((st["proxy_bad"], st["records_out"], st["truncated"]),
                             ("0", "0", "0"), st)
            d.assert_clean_exit(d.stop())

    def test_silent_peer_is_closed_at_the_timeout(self):
        with Daemon(listeners=listener()) as d:
            silent = d.connect("sensors")
            silent.sendall(SIG[:5])             # a header begun, never finished
            busy = d.connect("sensors")
            busy.sendall(v2_header("192.0.2.8", 1000))
            t0 = time.monotonic()
            k = 0
            while not closed_by_peer(silent, timeout=0.05):
                busy.sendall(b"".join(sensor24(8, float(k + j)) for j in range(100)))
                k += 100
                self.assertLess(time.monotonic() - t0, 10, "silent peer never closed")
            self.assertGreaterEqual(time.monotonic() - t0, 0.9)
            busy.shutdown(socket.SHUT_WR)
            self.assertEqual(len(records(d.wait_records(k))), k)   # the other lost nothing
            st = d.stats()
            self.assertEqual(st["proxy_timeouts"], "1", st)
            d.wait_log(r"no whole PROXY header within 1\.0 s; closing")
            silent.close()
            busy.close()
            d.assert_clean_exit(d.stop())

    def test_a_pause_does_not_count_against_the_header(self):
        """A header begun before reads pause (a stalled output) may be
        finished after they resume, however long the pause: only the
        peer's own slowness counts."""
        from test_reliability import PipeReader
        pool = "slab_size = 131072\nslabs = 8\nmax_waiters = 2\nwaiters_low = 0\nmax_retained = 3\n"
        with Daemon(listeners=listener(), output="-", stdout=subprocess.PIPE, pool=pool,
                    extra="[daemon]\nworkers = 1\n") as d:
            half = d.connect("sensors")
            header = v2_header("192.0.2.44", 4444)
            half.sendall(header[:9])
            floods = [d.connect("sensors") for _ in range(4)]
            for i, f in enumerate(floods):
                f.settimeout(120)
                f.sendall(v2_header("192.0.2.%d" % (50 + i), 5000))
                threading.Thread(target=f.sendall, daemon=True, args=(
                    b"".join(sensor24(50 + i, float(k)) for k in range(100000)),)).start()
            d.wait_log("pausing reads on every connection", timeout=60)
            time.sleep(2.5)      # the time under test: past proxy_timeout (1 s), paused
            reader = PipeReader(d.proc.stdout)
            half.sendall(header[9:] + sensor24(44, 0.0))
            for f in floods:
                f.shutdown(socket.SHUT_WR)
            self.assertEqual(reader.wait_lines(400001, timeout=120), 400001)
            self.assertIn(b'"sensorId":44,', reader.data())
            st = d.stats()
            self.assertEqual(st["proxy_timeouts"], "0", st)
            for f in floods + [half]:
                f.close()
            d.assert_clean_exit(d.stop())

    def test_untrusted_peers(self):
        # Not in proxy_from: closed at accept (a forged header is never read) ...
        with Daemon(listeners=listener()) as d:
            s = connect_from(d.ports["sensors"], "127.0.0.5")
            s.sendall(v2_header("192.0.2.99", 1) + sensor24(9, 0.0))
            self.assertTrue(closed_by_peer(s))
            st = d.stats()
            self.assertEqual((st["proxy_refused"], st["records_out"]), ("1", "0"), st)
            s.close()
            d.assert_clean_exit(d.stop())
        # ... or, with proxy_direct, served as a sensor of its own.
        with Daemon(listeners=listener("proxy_direct = yes\n")) as d:
            s = connect_from(d.ports["sensors"], "127.0.0.5")
            s.sendall(sensor24(9, 0.0))
            rec = records(d.wait_records(1))[0]
            self.assertTrue(rec["_peer"].startswith("127.0.0.5:"), rec)
            s.close()
            d.assert_clean_exit(d.stop())

    def test_lists_judge_the_headers_address(self):
        with Daemon(listeners=listener("deny = 192.0.2.66\n")) as d:
            bad = d.connect("sensors")
            bad.sendall(v2_header("192.0.2.66", 1) + sensor24(6, 0.0))
            self.assertTrue(closed_by_peer(bad))
            good = d.connect("sensors")      # the balancer itself is not denied
            good.sendall(v2_header("192.0.2.67", 1) + sensor24(7, 0.0))
            self.assertEqual([r["sensorId"] for r in records(d.wait_records(1))], [7])
            st = d.stats()
            self.assertEqual(st["conn_denied"], "1", st)
            bad.close()
            good.close()
            d.assert_clean_exit(d.stop())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class HAProxy:
    """haproxy in the foreground on a loopback port, relaying to port."""

    def __init__(self, port, server_opts):
        if shutil.which("haproxy") is None:
            raise AssertionError("haproxy is missing: run scripts/install-deps --test")
        self.tmp = tempfile.TemporaryDirectory(prefix="ingestd-haproxy-")
        self.port = free_port()
        cfg = os.path.join(self.tmp.name, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("global\n    maxconn 256\n"
                    "defaults\n    mode tcp\n    timeout connect 5s\n"
                    "    timeout client 60s\n    timeout server 60s\n"
                    "frontend sensors\n    bind 127.0.0.1:%d\n    default_backend ingestd\n"
                    "backend ingestd\n    server i1 127.0.0.1:%d %s\n"
                    % (self.port, port, server_opts))
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:                      # ready once its frontend accepts
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("haproxy did not start: %s" % self.proc.stderr.read())
                time.sleep(0.02)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stderr.close()
        self.tmp.cleanup()


class BehindHAProxy(unittest.TestCase):
    N_CLIENTS, PER_CLIENT = 8, 2000

    def fleet(self, server_opts):
        with Daemon(listeners=listener()) as d:
            hp = HAProxy(d.ports["sensors"], server_opts)
            try:
                clients = [connect_from(hp.port, "127.0.0.%d" % (2 + i))
                           for i in range(self.N_CLIENTS)]
                addrs = {i: "%s:%d" % c.getsockname() for i, c in enumerate(clients)}
                threads = [threading.Thread(target=c.sendall, args=(
                    b"".join(sensor24(i, float(k)) for k in range(self.PER_CLIENT)),))
                    for i, c in enumerate(clients)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
                recs = records(d.wait_records(self.N_CLIENTS * self.PER_CLIENT, timeout=60))
                seen = {}
                for r in recs:
                    self.assertEqual(r["_peer"], addrs[r["sensorId"]], r)
                    self.assertEqual(r["timestamp"], float(seen.get(r["sensorId"], 0)))
                    seen[r["sensorId"]] = seen.get(r["sensorId"], 0) + 1
                self.assertEqual(seen, {i: self.PER_CLIENT for i in range(self.N_CLIENTS)})
                st = d.stats()
                self.assertEqual(st["proxy_bad"], "0", st)
                for c in clients:
                    c.close()
            finally:
                hp.close()
            d.assert_clean_exit(d.stop())
            return d

    def test_send_proxy_v2_with_crc32c(self):
        self.fleet("send-proxy-v2 proxy-v2-options crc32c")

    def test_send_proxy_v1(self):
        self.fleet("send-proxy")

    def test_health_checks_are_local(self):
        with Daemon(listeners=listener()) as d:
            hp = HAProxy(d.ports["sensors"], "send-proxy-v2 check check-send-proxy inter 100ms")
            try:
                deadline = time.monotonic() + 10
                while int(d.stats()["proxy_local"]) < 3:
                    self.assertLess(time.monotonic(), deadline, "no LOCAL health checks")
                st = d.stats()
                self.assertEqual((st["proxy_bad"], st["records_out"]), ("0", "0"), st)
            finally:
                hp.close()
            d.assert_clean_exit(d.stop())


if __name__ == "__main__":
    unittest.main()
