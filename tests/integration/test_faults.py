"""Output faults: the reader of stdout going away, a full disk, rotation
under load, SIGTERM mid-stream.  Nothing accepted is lost or split."""
import glob
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import Daemon, SENSOR24_SAMPLE, records, sensor24


def closed_by_peer(s, timeout=30):
    return harness.closed_by_peer(s, timeout)


class Epipe(unittest.TestCase):
    def test_reader_of_stdout_goes_away(self):
        with Daemon(output="-", stdout=subprocess.PIPE) as d:
            d.send(SENSOR24_SAMPLE, "sensors")
            self.assertEqual(len(d.proc.stdout.readline()) > 0, True)
            d.proc.stdout.close()
            s = d.connect("sensors")
            try:
                s.sendall(SENSOR24_SAMPLE * 1000)
            except (BrokenPipeError, ConnectionResetError):
                pass
            rc = d.wait_exit(30)
            self.assertEqual(rc, 1)
            d.wait_log("the reader went away \\(EPIPE\\)")


@unittest.skipUnless(os.geteuid() == 0, "mounting a tmpfs needs root")
class DiskFull(unittest.TestCase):
    def test_enospc_holds_reads_and_resumes_without_loss(self):
        mnt = tempfile.mkdtemp(prefix="ingestd-full-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], check=True)
        try:
            filler = os.path.join(mnt, "filler")
            with open(filler, "wb") as f:
                try:
                    f.write(b"\0" * (4 << 20))
                except OSError:
                    pass
            out = os.path.join(mnt, "out.jsonl")
            d = Daemon(pool="slab_size = 131072\nslabs = 8\nmax_waiters = 1\nwaiters_low = 0\n",
                       output_path=out)
            with d:
                n = 12000   # 2.6 MB with metadata: fits once the filler is gone
                sender = threading.Thread(target=lambda: d.send(
                    b"".join(sensor24(3, float(k)) for k in range(n)), "sensors"))
                sender.start()
                d.wait_log("write failed, keeping")
                # Held back: the connection waits for output room (or, with
                # its read done, for a read slab, which pauses reads).
                deadline = time.monotonic() + 30
                while True:
                    st = d.stats()
                    if st.get("output_waiters") == "1" or st.get("paused") == "1":
                        break
                    self.assertLess(time.monotonic(), deadline, st)
                self.assertIsNone(d.proc.poll())
                os.unlink(filler)   # space comes back
                d.wait_log("writing again")
                sender.join(60)
                self.assertFalse(sender.is_alive())
                got = records(d.wait_records(n))
                self.assertEqual([r["timestamp"] for r in got], [float(k) for k in range(n)])
                self.assertEqual(d.stop(), 0)
        finally:
            subprocess.run(["umount", "-l", mnt])
            os.rmdir(mnt)


class Rotation(unittest.TestCase):
    def test_hundred_rotations_under_load(self):
        n_conn, per = 4, 250000
        with Daemon() as d:
            done = []

            def push(cid):
                d.send(b"".join(sensor24(cid, float(k)) for k in range(per)), "sensors")
                done.append(cid)

            threads = [threading.Thread(target=push, args=(i,)) for i in range(n_conn)]
            for t in threads:
                t.start()
            rotated = []
            for i in range(100):
                name = "%s.%03d" % (d.out_path, i)
                if os.path.exists(d.out_path):
                    os.rename(d.out_path, name)
                    rotated.append(name)
                start = len(d.stderr_lines)
                d.proc.send_signal(signal.SIGHUP)
                d.wait_log("SIGHUP: output reopened", start=start)
            for t in threads:
                t.join(120)
            self.assertEqual(len(done), n_conn)
            d.stats()  # every record is written by the time the stats line is
            self.assertEqual(d.stop(), 0)
            seen = {}
            for name in rotated + [d.out_path]:
                with open(name, "rb") as f:
                    data = f.read()
                # records() asserts each file ends on a whole line.
                for r in records(data):
                    seen.setdefault(r["sensorId"], []).append(r["timestamp"])
            self.assertGreater(len(rotated), 50)
            for cid in range(n_conn):
                self.assertEqual(seen[cid], [float(k) for k in range(per)], cid)


class SigtermMidStream(unittest.TestCase):
    def test_sigterm_while_peers_keep_sending(self):
        with Daemon(extra="[limits]\nshutdown_timeout = 2\n") as d:
            stop = threading.Event()

            def push(cid):
                s = d.connect("sensors")
                k = 0
                try:
                    while not stop.is_set():
                        s.sendall(b"".join(sensor24(cid, float(k + j)) for j in range(1000)))
                        k += 1000
                except OSError:
                    pass

            threads = [threading.Thread(target=push, args=(i,), daemon=True) for i in range(3)]
            for t in threads:
                t.start()
            d.wait_records(10000)
            start = time.monotonic()
            rc = d.stop(signal.SIGTERM, timeout=30)
            stop.set()
            self.assertEqual(rc, 0, "\n".join(d.stderr_lines[-10:]))
            self.assertLess(time.monotonic() - start, 15)
            got = records(d.read_output())   # whole lines only
            per = {}
            for r in got:
                per.setdefault(r["sensorId"], []).append(r["timestamp"])
            for cid, ts in per.items():     # a gap-free prefix of what was sent
                self.assertEqual(ts, [float(k) for k in range(len(ts))], cid)


if __name__ == "__main__":
    unittest.main()
