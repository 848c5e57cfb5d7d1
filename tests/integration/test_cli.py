"""Command line and config errors: exact messages, documented exit codes."""
import os
import re
import subprocess
import tempfile
import unittest

from harness import BINARY, ROOT, run_ingestd

EXIT_USAGE, EXIT_OSERR, EXIT_CONFIG = 64, 71, 78


def write(text):
    fd, path = tempfile.mkstemp(suffix=".ini")
    os.write(fd, text.encode())
    os.close(fd)
    return path


LISTENER = "[listener a]\naddress = 127.0.0.1\nport = 0\nframing = fixed\nschema = sensor24\n"


class Cli(unittest.TestCase):
    def test_version(self):
        """--version: the version from daemon/version.h, then the libraries
        with the versions the system's packages report."""
        with open(os.path.join(ROOT, "daemon", "version.h")) as f:
            version = re.search(r'#define INGESTD_VERSION "([^"]+)"', f.read()).group(1)
        rc, out, err = run_ingestd(["--version"])
        self.assertEqual(rc, 0, err)
        first, libs = out.splitlines()
        self.assertEqual(first, "ingestd " + version)
        for lib, pkg in (("inih", "inih"), ("jansson", "jansson"), ("zlib", "zlib"),
                         ("librdkafka", "rdkafka")):
            want = subprocess.run(["pkg-config", "--modversion", pkg], capture_output=True,
                                  text=True).stdout.strip()
            self.assertIn("%s %s" % (lib, want), libs)
        self.assertRegex(libs, r"^libev \d+\.\d+, .*OpenSSL 3\.\d+\.\d+ .*, Dragonbox \d")

    def test_check_config_example(self):
        rc, out, err = run_ingestd(["--check-config", "-c", os.path.join(ROOT, "config", "ingestd.ini")])
        self.assertEqual(rc, 0, err)
        self.assertIn("configuration OK (3 listeners)", out)

    def test_check_config_default(self):
        rc, out, err = run_ingestd(["--check-config"])
        self.assertEqual(rc, 0, err)

    def test_bad_configs(self):
        cases = [
            ("[output]\npath = -\nbogus = 1\n" + LISTENER, ':3: bogus: unknown key'),
            (LISTENER + "port = 7\n", ':6: port: given twice'),
            (LISTENER.replace("port = 0", "port = 70000"), ':3: port: "70000" is not a port number'),
            (LISTENER.replace("sensor24", "sensor99"), ':5: schema: "sensor99" is not a known schema'),
            ("[listner a]\n", ':1: [listner a]: unknown section'),
            ("[listener a]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n", ':1: listener "a": missing required key "schema"'),
            ("[output]\npath = -\n", ': no [listener NAME] section'),
        ]
        for text, want in cases:
            path = write(text)
            try:
                rc, out, err = run_ingestd(["-c", path])
                self.assertEqual(rc, EXIT_CONFIG, (text, err))
                self.assertIn(path + want, err, text)
                rc2, _, err2 = run_ingestd(["--check-config", "-c", path])
                self.assertEqual((rc2, err2), (rc, err))
            finally:
                os.unlink(path)

    def test_slab_too_small_for_records(self):
        path = write("[pool]\nslab_size = 4096\n[listener t]\naddress = 127.0.0.1\nport = 0\n"
                     "framing = tlv\nmax_frame = 4000\n")
        try:
            rc, _, err = run_ingestd(["-c", path])
            self.assertEqual(rc, EXIT_CONFIG, err)
            self.assertIn(path + ':3: listener "t": its longest record', err)
        finally:
            os.unlink(path)

    def test_missing_file(self):
        rc, _, err = run_ingestd(["-c", "/nonexistent/ingestd.ini"])
        self.assertEqual(rc, EXIT_CONFIG)
        self.assertIn("/nonexistent/ingestd.ini: cannot open", err)

    def test_control_characters_escaped(self):
        """A newline or escape in a path or argument must not make a second
        line or reach the terminal as itself: it is shown as \\xNN."""
        rc, _, err = run_ingestd(["-c", "/nonexistent/a\nFAKE: b\x1b[31m"])
        self.assertEqual(rc, EXIT_CONFIG)
        self.assertEqual(err, "ingestd: /nonexistent/a\\x0aFAKE: b\\x1b[31m: cannot open: "
                              "No such file or directory\n")
        rc, _, err = run_ingestd(["--bo\rgus"])
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn('unknown argument "--bo\\x0dgus"\n', err)
        # The --check-config verdict names the file.
        d = tempfile.mkdtemp()
        odd = os.path.join(d, "a\nFORGED: b.ini")
        with open(odd, "w") as f:
            f.write(LISTENER)
        try:
            p = subprocess.run([BINARY, "--check-config", "-c", odd], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, "%s/a\\x0aFORGED: b.ini: configuration OK (1 listeners)\n"
                             % d)
        finally:
            os.unlink(odd)
            os.rmdir(d)
        # A log line from the running daemon (the output cannot be opened).
        path = write("[output]\npath = /nonexistent/\x1b]0;t\x07/out.jsonl\n" + LISTENER)
        try:
            rc, _, err = run_ingestd(["-c", path])
            self.assertEqual(rc, EXIT_OSERR, err)
            self.assertIn("/nonexistent/\\x1b]0;t\\x07/out.jsonl: cannot open for append", err)
            self.assertNotIn("\x1b", err)
            self.assertNotIn("\x07", err)
        finally:
            os.unlink(path)

    def test_usage(self):
        rc, _, err = run_ingestd(["--bogus"])
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn('unknown argument "--bogus"', err)
        rc, _, err = run_ingestd(["-c"])
        self.assertEqual(rc, EXIT_USAGE)

    def test_port_in_use(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        path = write(LISTENER.replace("port = 0", "port = %d" % port))
        try:
            rc, _, err = run_ingestd(["-c", path])
            self.assertEqual(rc, EXIT_OSERR, err)
            self.assertIn("listener a: cannot listen on 127.0.0.1 port %d" % port, err)
        finally:
            os.unlink(path)
            s.close()

    def test_unwritable_output(self):
        path = write("[output]\npath = /nonexistent/dir/out.jsonl\n" + LISTENER)
        try:
            rc, _, err = run_ingestd(["-c", path])
            self.assertEqual(rc, EXIT_OSERR, err)
            self.assertIn("/nonexistent/dir/out.jsonl: cannot open for append", err)
        finally:
            os.unlink(path)


if __name__ == "__main__":
    unittest.main()
