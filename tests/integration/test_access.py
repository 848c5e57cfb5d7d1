"""Who may connect: a listener's allow and deny lists and its
max_conns_per_source, applied at accept before a byte is read.

Clients bind distinct loopback source addresses (all of 127/8 is local).
A refused connection is closed at once (the client reads EOF), is counted
(conn_denied, conn_source_limited, source_table_full) and writes no
record; the others carry on.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import closed_by_peer, Daemon, records, run_ingestd, sensor24

LISTENER = ("[listener sensors]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
            "schema = sensor24\n")


def connect_from(d, source):
    return harness.connect_from(d.ports["sensors"], source)


class AllowDeny(unittest.TestCase):
    def test_allow_and_deny(self):
        extra = LISTENER + "allow = 127.0.0.0/29\ndeny = 127.0.0.3 127.0.0.5\n"
        with Daemon(listeners=extra) as d:
            ok = [connect_from(d, "127.0.0.2"), connect_from(d, "127.0.0.4")]
            refused = [connect_from(d, "127.0.0.3"),    # denied: deny wins over allow
                       connect_from(d, "127.0.0.5"),
                       connect_from(d, "127.0.0.9")]    # outside allow
            for s in refused:
                s.sendall(sensor24(99, 1.0))
                self.assertTrue(closed_by_peer(s), "a refused peer was not closed")
            for i, s in enumerate(ok):
                s.sendall(b"".join(sensor24(i, float(k)) for k in range(100)))
                s.shutdown(socket.SHUT_WR)
            recs = records(d.wait_records(200))
            self.assertEqual(sorted({r["_peer"].rsplit(":", 1)[0] for r in recs}),
                             ["127.0.0.2", "127.0.0.4"])
            self.assertNotIn(99, {r["sensorId"] for r in recs})
            st = d.stats()
            self.assertEqual(st["conn_denied"], "3", st)
            self.assertEqual(st["conn_accepted"], "2", st)
            d.wait_log(r"listener sensors: 127\.0\.0\.3:\d+ is not allowed \(allow/deny\); closed")
            for s in ok + refused:
                s.close()
            d.assert_clean_exit(d.stop())


class PerSource(unittest.TestCase):
    def test_max_conns_per_source(self):
        extra = LISTENER + "max_conns_per_source = 5\n"
        with Daemon(listeners=extra) as d:
            five = [connect_from(d, "127.0.0.2") for _ in range(5)]
            for s in five:    # each is accepted: one record through each
                s.sendall(sensor24(1, 0.0))
            d.wait_records(5)
            sixth = connect_from(d, "127.0.0.2")
            self.assertTrue(closed_by_peer(sixth), "the sixth connection was not closed")
            other = connect_from(d, "127.0.0.3")          # another source is unaffected
            other.sendall(sensor24(2, 0.0))
            d.wait_records(6)
            st = d.stats()
            self.assertEqual(st["conn_source_limited"], "1", st)
            d.wait_log(r"127\.0\.0\.2:\d+ already has max_conns_per_source \(5\) connections")
            # A closed connection gives its place back (once the daemon has
            # seen it close: its count, asked for until it says so).
            five[0].close()
            deadline = time.monotonic() + 10
            while d.stats()["conn_closed"] != "2" and time.monotonic() < deadline:
                pass      # the sixth and five[0]
            again = connect_from(d, "127.0.0.2")
            again.sendall(sensor24(3, 0.0))
            recs = records(d.wait_records(7))
            self.assertIn(3, [r["sensorId"] for r in recs])
            for s in five[1:] + [sixth, other, again]:
                s.close()
            d.assert_clean_exit(d.stop())

    def test_table_full(self):
        extra = LISTENER + "max_conns_per_source = 10\nmax_sources = 2\n"
        with Daemon(listeners=extra) as d:
            # Sources whose entries collide or not, the table holds at most 2.
            socks = [connect_from(d, "127.0.0.%d" % (2 + i)) for i in range(3)]
            closed = [s for s in socks if closed_by_peer(s, timeout=0.5)]
            self.assertEqual(len(closed), 1, "of three sources one must find the table full")
            st = d.stats()
            self.assertEqual(st["source_table_full"], "1", st)
            for s in socks:
                s.close()
            d.assert_clean_exit(d.stop())


NETNS_CLIENT = r"""
import json, socket, sys
port, sources = int(sys.argv[1]), sys.argv[2:]
socks, closed = [], []
for src in sources:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect(("2001:db8:1:1::1", port))
    s.settimeout(0.5)
    try:
        closed.append(s.recv(1) == b"")
    except socket.timeout:
        closed.append(False)
    except ConnectionResetError:
        closed.append(True)
    socks.append(s)
print(json.dumps(closed))
"""


class Ipv6Sources(unittest.TestCase):
    """IPv6 sources are /64s.  Loopback has one IPv6 address, so the test
    makes a network namespace with a few on its lo, and runs the daemon and
    the clients inside it."""
    NS = "ingestd-test-%d" % os.getpid()
    ADDRS = ["2001:db8:1:1::1", "2001:db8:1:1::10", "2001:db8:1:1::11", "2001:db8:1:1::12",
             "2001:db8:1:2::10"]

    def setUp(self):
        r = subprocess.run(["ip", "netns", "add", self.NS], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot make a network namespace here (%s): the /64 grouping is "
                          "covered by test_access.c only" % r.stderr.strip())
        self.addCleanup(subprocess.run, ["ip", "netns", "del", self.NS])
        ns = ["ip", "netns", "exec", self.NS]
        subprocess.run(ns + ["ip", "link", "set", "lo", "up"], check=True)
        for a in self.ADDRS:
            subprocess.run(ns + ["ip", "-6", "addr", "add", a + "/64", "dev", "lo", "nodad"],
                           check=True)

    def test_a_64_is_one_source(self):
        listeners = ("[listener sensors]\naddress = 2001:db8:1:1::1\nport = 0\n"
                     "framing = fixed\nschema = sensor24\nmax_conns_per_source = 2\n")
        with Daemon(listeners=listeners, prefix=["ip", "netns", "exec", self.NS]) as d:
            r = subprocess.run(["ip", "netns", "exec", self.NS, sys.executable, "-c", NETNS_CLIENT,
                                str(d.ports["sensors"])] + self.ADDRS[1:],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            # ::10 and ::11 fill their /64's two places; ::12 is the same
            # source, refused; 2001:db8:1:2::10 is another source.
            self.assertEqual(json.loads(r.stdout), [False, False, True, False])
            st = d.stats()
            self.assertEqual(st["conn_source_limited"], "1", st)
            d.assert_clean_exit(d.stop())


class Config(unittest.TestCase):
    def test_errors(self):
        cases = [
            ("allow = 10.0.0.1/8", 'allow: "10.0.0.1/8" has address bits set past its /8 prefix '
                                   "(the network is 10.0.0.0/8)"),
            ("deny = somewhere", 'deny: "somewhere" is not an IPv4 or IPv6 address or CIDR prefix'),
            ("max_sources = 10", "max_sources: only with max_conns_per_source (the table it sizes)"),
            ("max_conns_per_source = 1000001", "max_conns_per_source:"),
        ]
        for line, want in cases:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "bad.ini")
                with open(path, "w") as f:
                    f.write(LISTENER + line + "\n")
                rc, out, err = run_ingestd(["--check-config", "-c", path])
                self.assertEqual(rc, 78, err)
                self.assertIn("%s:6: %s" % (path, want), err)


if __name__ == "__main__":
    unittest.main()
