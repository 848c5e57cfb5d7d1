"""Hostile peers and hard limits: idle and slowloris peers, parked partial
frames, connection caps and descriptor exhaustion never hurt a clean peer."""
import os
import select
import socket
import threading
import time
import unittest

import harness
from harness import Daemon, SENSOR24_SAMPLE, records, sensor24, tlv


def closed_by_peer(s, timeout=10):
    return harness.closed_by_peer(s, timeout)


def stream(d, cid, n, listener="sensors"):
    s = d.connect(listener)
    s.sendall(b"".join(sensor24(cid, float(k)) for k in range(n)))
    s.shutdown(socket.SHUT_WR)
    assert closed_by_peer(s, 60)
    s.close()


class Idle(unittest.TestCase):
    def test_slowloris_closed_active_kept(self):
        with Daemon(extra="[limits]\nidle_timeout = 0.5\n") as d:
            slow = d.connect("sensors")
            active = d.connect("sensors")
            start = time.monotonic()
            sent = 0
            # A byte every 0.1 s never completes a frame; one packet every
            # 0.1 s does.  Pacing the clients, not synchronising on them.
            while time.monotonic() - start < 2.0:
                try:
                    slow.send(b"\x00")
                except (BrokenPipeError, ConnectionResetError):
                    break
                active.sendall(sensor24(1, float(sent)))
                sent += 1
                time.sleep(0.1)
            self.assertTrue(closed_by_peer(slow, 5), "slowloris peer still open")
            active.shutdown(socket.SHUT_WR)
            self.assertTrue(closed_by_peer(active))
            self.assertEqual(len(records(d.wait_records(sent))), sent)
            st = d.stats()
            self.assertEqual(st["idle_closed"], "1")
            self.assertEqual(d.stop(), 0)


class Pinning(unittest.TestCase):
    def test_parked_partial_frames_cannot_pin_the_pool(self):
        n_parked = 600
        listeners = ("[listener t]\naddress = 127.0.0.1\nport = 0\nframing = tlv\n\n"
                     "[listener sensors]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
                     "schema = sensor24\n")
        pool = "slab_size = 131072\nslabs = 128\nmax_retained = 32\n"
        with Daemon(listeners=listeners, pool=pool,
                    extra="[limits]\nmax_connections = 2000\n") as d:
            parked = []
            for i in range(n_parked):
                s = d.connect("t")
                # 3-byte header for a 60000-byte value, then 2000 bytes of it.
                s.sendall(tlv(7, b"x" * 60000)[:2003])
                parked.append(s)
            clean = threading.Thread(target=stream, args=(d, 5, 200000))
            clean.start()
            clean.join(120)
            self.assertFalse(clean.is_alive())
            out = records(d.wait_records(200000))
            self.assertEqual([r["timestamp"] for r in out if r.get("sensorId") == 5],
                             [float(k) for k in range(200000)])
            st = d.stats()
            self.assertLessEqual(int(st["read_slabs"]), 32)
            self.assertGreaterEqual(int(st["retained_evictions"]), n_parked - 32)
            self.assertEqual(st["pause_events"], "0", "the clean client was paused")
            # Past the cap every parked peer but max_retained is closed; which
            # ones depends on the order their reads were handled.
            closed, open_ = 0, set(parked)
            deadline = time.monotonic() + 10
            while open_ and closed < n_parked - 32 and time.monotonic() < deadline:
                ready, _, _ = select.select(list(open_), [], [], 0.5)
                for s in ready:
                    if closed_by_peer(s, 1):
                        closed += 1
                    open_.discard(s)
            self.assertGreaterEqual(closed, n_parked - 32)
            self.assertEqual(d.stop(), 0)


class Caps(unittest.TestCase):
    def test_max_connections(self):
        with Daemon(extra="[limits]\nmax_connections = 5\n") as d:
            served = [d.connect("sensors") for _ in range(5)]
            d.wait_conns(5)
            extra = d.connect("sensors")
            self.assertTrue(closed_by_peer(extra), "connection over the cap not closed")
            for i, s in enumerate(served):
                s.sendall(sensor24(i, 1.0))
                s.shutdown(socket.SHUT_WR)
                self.assertTrue(closed_by_peer(s))
            self.assertEqual(len(records(d.wait_records(5))), 5)
            st = d.stats()
            self.assertEqual(st["conn_refused"], "1")
            self.assertEqual(st["conns"], "0")
            d.wait_log("max_connections \\(5\\) reached")
            self.assertEqual(d.stop(), 0)

    def test_descriptor_exhaustion(self):
        # 40 descriptors: a handful for the daemon itself, the rest for peers.
        with Daemon(prefix=["prlimit", "--nofile=40:40"],
                    extra="[limits]\nmax_connections = 1000\n") as d:
            flow = d.connect("sensors")
            flow.sendall(SENSOR24_SAMPLE)
            d.wait_records(1)
            crowd = [d.connect("sensors") for _ in range(200)]
            # Watch all of them at once: the ones over the limit are closed
            # promptly, the rest stay open.
            shed, open_ = 0, set(crowd)
            deadline = time.monotonic() + 10
            while open_ and shed < 150 and time.monotonic() < deadline:
                ready, _, _ = select.select(list(open_), [], [], 0.5)
                for s in ready:
                    if closed_by_peer(s, 1):
                        shed += 1
                    open_.discard(s)
            self.assertGreaterEqual(shed, 150, "extra connections were not closed promptly")
            # The existing flow is unaffected.
            flow.sendall(SENSOR24_SAMPLE * 9)
            d.wait_records(10)
            for s in crowd:
                s.close()
            flow.close()
            st = d.stats()
            self.assertGreater(int(st["accept_errors"]), 0)
            # Recovered: new peers are served again once descriptors are free.
            for _ in range(100):
                st = d.stats()
                if st["conns"] == "0":
                    break
            late = d.connect("sensors")
            late.sendall(SENSOR24_SAMPLE)
            late.shutdown(socket.SHUT_WR)
            self.assertTrue(closed_by_peer(late))
            self.assertEqual(len(records(d.wait_records(11))), 11)
            self.assertEqual(d.stop(), 0)


class Churn(unittest.TestCase):
    def test_resets_half_closes_and_churn_leak_nothing(self):
        import struct as st_
        with Daemon(listeners="[listener t]\naddress = 127.0.0.1\nport = 0\nframing = tlv\n") as d:
            fds_before = len(os.listdir("/proc/%d/fd" % d.proc.pid))
            for i in range(300):
                s = d.connect("t")
                kind = i % 3
                if kind == 0:      # reset mid-frame
                    s.sendall(tlv(3, b"y" * 5000)[:1000])
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, st_.pack("ii", 1, 0))
                    s.close()
                elif kind == 1:    # half-close after a whole frame
                    s.sendall(tlv(3, b"ok"))
                    s.shutdown(socket.SHUT_WR)
                    closed_by_peer(s)
                    s.close()
                else:              # connect and leave
                    s.close()
            for _ in range(200):
                st = d.stats()
                if st["conns"] == "0":
                    break
            self.assertEqual(st["conns"], "0")
            self.assertEqual(st["read_slabs"], "0")
            self.assertEqual(st["retained_bytes"], "0")
            self.assertEqual(st["conn_accepted"], st["conn_closed"])
            self.assertEqual(len(os.listdir("/proc/%d/fd" % d.proc.pid)), fds_before)
            self.assertEqual(len(records(d.wait_records(100))), 100)
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
