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


class SecuringSensors(unittest.TestCase):
    """The README's certificate commands and TLS listener, as written: the
    daemon serves a sensor with the certificate they made, the records
    carry its CN, and tls_bind refuses another sensorId."""

    def test_certificates_and_listener(self):
        import ssl
        from harness import Daemon, records, sensor24
        with tempfile.TemporaryDirectory() as tmp:
            p = subprocess.run(["bash", "-e", "-c", block("tls certificates")], cwd=tmp,
                               capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            listener = block("tls listener").replace("/etc/ingestd/tls/", tmp + "/")
            listener = listener.replace("address = 0.0.0.0", "address = 127.0.0.1")
            listener = listener.replace("port = 7443", "port = 0")
            with Daemon(listeners=listener) as d:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.load_verify_locations(os.path.join(tmp, "ca.pem"))
                ctx.load_cert_chain(os.path.join(tmp, "sensor-0420.pem"),
                                    os.path.join(tmp, "sensor-0420.key"))
                raw = socket.create_connection(("127.0.0.1", d.ports["field"]), timeout=30)
                s = ctx.wrap_socket(raw, server_hostname="ingest.example.net")
                s.sendall(b"".join(sensor24(420, float(k)) for k in range(100)))
                s.sendall(sensor24(421, 100.0))
                try:
                    self.assertEqual(s.recv(1), b"")
                except (ssl.SSLError, ConnectionResetError):
                    pass
                s.close()
                got = records(d.wait_records(100))
                self.assertEqual(len(got), 100)
                self.assertEqual({r["_tls_cn"] for r in got}, {"sensor-0420"})
                self.assertEqual(d.stats()["bad_identity"], "1")


if __name__ == "__main__":
    unittest.main()
