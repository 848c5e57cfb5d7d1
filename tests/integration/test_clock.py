"""A step of the wall clock changes no timeout: idle closing is measured on
the monotonic clock.

libfaketime (LD_PRELOAD) steps the daemon's CLOCK_REALTIME, and only that
(FAKETIME_DONT_FAKE_MONOTONIC), by rewriting the offset file while the
daemon runs (FAKETIME_NO_CACHE: read at every call).  Measured on the wall
clock, a step forward closed every silent connection at once and a step
back kept them open for the length of the step.
"""
import os
import socket
import time
import unittest

from harness import Daemon

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
IDLE = 2.0


@unittest.skipUnless(os.path.exists(LIBFAKETIME), "libfaketime is not installed")
class WallClockStep(unittest.TestCase):
    def run_step(self, step):
        d = Daemon(extra="[limits]\nidle_timeout = %g\n" % IDLE)
        offset_file = os.path.join(d.dir, "faketime")
        with open(offset_file, "w") as f:
            f.write("+0")
        d.env = dict(os.environ, LD_PRELOAD=LIBFAKETIME, FAKETIME_TIMESTAMP_FILE=offset_file,
                     FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1",
                     # libfaketime comes before the sanitizer runtime in the
                     # library list; that is fine for this test.
                     ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") +
                     ":verify_asan_link_order=0")
        with d:
            s = d.connect("sensors")
            connected = time.monotonic()
            with open(offset_file, "w") as f:
                f.write("%+d" % step)      # the wall clock jumps now
            s.settimeout(IDLE + 5)
            try:
                got = s.recv(1)
            except socket.timeout:
                self.fail("a %+d s step kept a silent connection open past %g s" % (step, IDLE + 5))
            except ConnectionResetError:
                got = b""
            waited = time.monotonic() - connected
            self.assertEqual(got, b"")
            # Closed by the idle sweep after idle_timeout, which runs every
            # quarter of it: between IDLE and IDLE + IDLE / 4 plus slack.
            self.assertGreaterEqual(waited, IDLE - 0.05, "closed %.2f s after connecting" % waited)
            self.assertLess(waited, IDLE + 1.5, "closed %.2f s after connecting" % waited)
            s.close()
            st = d.stats()
            self.assertEqual(st["idle_closed"], "1")

    def test_step_forward_closes_nothing_early(self):
        self.run_step(+3600)

    def test_step_back_keeps_nothing_open(self):
        self.run_step(-3600)


if __name__ == "__main__":
    unittest.main()
