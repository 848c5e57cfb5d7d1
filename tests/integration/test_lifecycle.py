"""Bad input, shutdown and reopen: nothing completed is lost, one bad peer
never hurts another."""
import os
import signal
import socket
import threading
import unittest

from harness import (closed_by_peer, Daemon, LEGACY16_SAMPLE, SENSOR24_RECORD, SENSOR24_SAMPLE, records,
                     sensor24, strip_meta, tlv)




class BadInput(unittest.TestCase):
    def check_bad(self, listener, good, bad, counter, n_good):
        with Daemon() as d:
            clean = d.connect("sensors")
            clean.sendall(b"".join(sensor24(7, float(i)) for i in range(1000)))
            s = d.connect(listener)
            s.sendall(good + bad)
            self.assertTrue(closed_by_peer(s))
            d.wait_log(r"listener %s: .*closing the connection" % listener)
            clean.sendall(b"".join(sensor24(7, float(i)) for i in range(1000, 2000)))
            clean.shutdown(socket.SHUT_WR)
            self.assertTrue(closed_by_peer(clean))
            out = records(d.wait_records(2000 + n_good))
            d.assert_clean_exit(d.stop())
            ts = [r["timestamp"] for r in out if r.get("sensorId") == 7]
            self.assertEqual(ts, [float(i) for i in range(2000)])
            self.assertEqual(len(out), 2000 + n_good)
            d.wait_log(r"stats \(exit\).* %s=1" % counter)

    def test_wrong_signature(self):
        bad = b"\xbe\xef" + LEGACY16_SAMPLE[2:]
        self.check_bad("legacy", LEGACY16_SAMPLE * 3, bad + LEGACY16_SAMPLE, "bad_magic", 3)

    def test_tlv_oversize(self):
        # max_frame is 65535 by default; lower it for this listener.
        with Daemon(listeners="[listener t]\naddress = 127.0.0.1\nport = 0\nframing = tlv\n"
                              "max_frame = 100\n") as d:
            s = d.connect("t")
            s.sendall(tlv(5, b"x" * 100) + bytes([5, 0, 101]))
            self.assertTrue(closed_by_peer(s))
            self.assertEqual(len(records(d.wait_records(1))), 1)
            d.assert_clean_exit(d.stop())
            d.wait_log(r"stats \(exit\).* oversize=1")

    def test_mapped_value_wrong_size(self):
        self.check_bad("mixed", tlv(1, SENSOR24_SAMPLE), tlv(1, SENSOR24_SAMPLE[:20]), "bad_size", 1)

    def test_tlv_type_zero(self):
        self.check_bad("mixed", tlv(9, b"ok"), b"\x00\x00\x01x", "bad_type", 1)


class Shutdown(unittest.TestCase):
    def test_sigterm_after_half_close_keeps_every_record(self):
        n = 20000
        with Daemon() as d:
            s = d.connect("sensors")
            s.sendall(b"".join(sensor24(1, float(i)) for i in range(n)))
            s.shutdown(socket.SHUT_WR)
            d.assert_clean_exit(d.stop(signal.SIGTERM))
            ts = [r["timestamp"] for r in records(d.read_output())]
            self.assertEqual(len(ts), n)  # first: a diff of 20,000 items is slow
            self.assertEqual(ts, [float(i) for i in range(n)])

    def test_sigterm_with_open_idle_connections(self):
        with Daemon() as d:
            idle = [d.connect("sensors") for _ in range(20)]
            busy = d.connect("sensors")
            busy.sendall(SENSOR24_SAMPLE * 5)
            d.wait_records(5)
            d.assert_clean_exit(d.stop(signal.SIGINT))
            self.assertEqual(len(records(d.read_output())), 5)
            for s in idle:
                self.assertTrue(closed_by_peer(s))

    def test_partial_frame_at_eof_is_counted(self):
        with Daemon() as d:
            d.send(SENSOR24_SAMPLE + SENSOR24_SAMPLE[:10], "sensors")
            self.assertEqual(strip_meta(d.wait_records(1)), (SENSOR24_RECORD + "\n").encode())
            d.assert_clean_exit(d.stop())
            d.wait_log(r"stats \(exit\).* truncated=1")


class Reopen(unittest.TestCase):
    def test_rename_then_hup(self):
        with Daemon() as d:
            d.send(SENSOR24_SAMPLE * 10, "sensors")
            d.wait_records(10)
            rotated = d.out_path + ".1"
            os.rename(d.out_path, rotated)
            d.proc.send_signal(signal.SIGHUP)
            d.wait_log("SIGHUP: output reopened")
            d.send(SENSOR24_SAMPLE * 7, "sensors")
            d.wait_records(7)
            d.assert_clean_exit(d.stop())
            with open(rotated, "rb") as f:
                self.assertEqual(len(records(f.read())), 10)
            self.assertEqual(len(records(d.read_output())), 7)

    def test_usr1_logs_stats(self):
        with Daemon() as d:
            d.send(SENSOR24_SAMPLE * 4, "sensors")
            d.wait_records(4)
            d.proc.send_signal(signal.SIGUSR1)
            d.wait_log(r"stats \(SIGUSR1\).* records_out=4")
            d.assert_clean_exit(d.stop())


class Concurrency(unittest.TestCase):
    def test_many_connections_keep_their_order(self):
        n_conn, n_pkt = 32, 3000
        with Daemon() as d:
            socks = [d.connect("sensors") for _ in range(n_conn)]

            def push(i, s):
                s.sendall(b"".join(sensor24(i, float(k)) for k in range(n_pkt)))
                s.shutdown(socket.SHUT_WR)

            threads = [threading.Thread(target=push, args=(i, s)) for i, s in enumerate(socks)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for s in socks:
                self.assertTrue(closed_by_peer(s))
            out = records(d.wait_records(n_conn * n_pkt))
            d.assert_clean_exit(d.stop())
        per = {}
        for r in out:
            per.setdefault(r["sensorId"], []).append(r["timestamp"])
        self.assertEqual(sorted(per), list(range(n_conn)))
        for i in per:
            self.assertEqual(per[i], [float(k) for k in range(n_pkt)], i)


if __name__ == "__main__":
    unittest.main()
