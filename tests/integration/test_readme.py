"""The README's worked example for declared schemas, run as pasted.

README.md marks the blocks: `<!-- example: decode -->` (capture with socat,
write env16.ini, `build/ingestd --decode`), `<!-- example: decode output -->`
(what it prints) and `<!-- example: run -->` (the daemon on that config).
The first runs with bash in a temporary directory whose build/ingestd is the
binary under test; its stdout must be the documented output (apart from
_rx_ms, a time) and its exit code 0.  Then the documented run command
starts the daemon on the example's env16.ini, the captured bytes are sent
to it, and its records must be the ones --decode printed (apart from
_peer and _rx_ms).  Port 7004 is the README's.
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import BINARY, ROOT

README = os.path.join(ROOT, "README.md")
RX_MS = re.compile(r'"_rx_ms":\d+')
PEER = re.compile(r',"_peer":"[^"]*"')


def block(marker):
    """The fenced block that follows `<!-- example: MARKER -->`."""
    with open(README) as f:
        text = f.read()
    m = re.search(r"<!-- example: %s -->\n```[a-z]*\n(.*?)```" % re.escape(marker), text, re.S)
    if m is None:
        raise AssertionError("README.md has no block marked %r" % marker)
    return m.group(1)


class WorkedExample(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ingestd-readme-")
        self.dir = self.tmp.name
        os.mkdir(os.path.join(self.dir, "build"))
        os.symlink(BINARY, os.path.join(self.dir, "build", "ingestd"))

    def tearDown(self):
        self.tmp.cleanup()

    def decode(self):
        p = subprocess.run(["bash", "-e", "-c", block("decode")], cwd=self.dir,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("2 records, 0 bad frames", p.stderr)
        return p.stdout

    def test_decode_prints_the_documented_records(self):
        out = self.decode()
        self.assertEqual(RX_MS.sub('"_rx_ms":0', out),
                         RX_MS.sub('"_rx_ms":0', block("decode output")))

    def test_the_documented_run_writes_the_same_records(self):
        decoded = self.decode()
        with open(os.path.join(self.dir, "capture.bin"), "rb") as f:
            capture = f.read()
        argv = block("run").split()
        self.assertEqual(argv[0], "build/ingestd")
        out_path = os.path.join(self.dir, "records.jsonl")
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(argv, cwd=self.dir, stdout=out, stderr=subprocess.PIPE,
                                    text=True)
        try:
            for line in proc.stderr:
                if "ready:" in line:
                    break
            else:
                self.fail("the daemon exited before it was ready")
            with socket.create_connection(("127.0.0.1", 7004), timeout=10) as s:
                s.sendall(capture)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with open(out_path, "rb") as f:
                    if f.read().count(b"\n") >= 2:
                        break
                time.sleep(0.02)   # polling the output file, not waiting for a guess
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=30), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()
        with open(out_path) as f:
            live = f.read()

        def strip(text):
            return RX_MS.sub("", PEER.sub("", text))
        self.assertEqual(strip(live), strip(decoded))


if __name__ == "__main__":
    unittest.main()
