"""TLS and mutual TLS on a listener: the handshake, client certificates,
the `_tls_cn` metadata, tls_bind, each refusal and its counter, the
handshake timeout, session resumption and the SIGHUP reload.

Certificates are made for the tests with the `openssl` command in a
temporary directory (class Pki): a CA that signs the server's certificate
and the sensors' (sensor-0420, sensor-0007, an expired one, one whose CN
ends with no number), and a second CA with a sensor of its own.  Clients
are Python's ssl module and `openssl s_client`.
"""
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import harness
import test_reliability
from harness import closed_by_peer, Daemon, records, run_ingestd, sensor24

CA_CNF = """[ca]
default_ca = ca_default
[ca_default]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 30
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
"""


def openssl(*args, stdin=None):
    p = subprocess.run(["openssl"] + list(args), capture_output=True, input=stdin, timeout=60)
    if p.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), p.stderr.decode()))
    return p.stdout


class Ca:
    """One certificate authority with `openssl ca`'s database."""

    def __init__(self, top, name):
        self.dir = os.path.join(top, name)
        os.makedirs(os.path.join(self.dir, "issued"))
        with open(os.path.join(self.dir, "index.txt"), "w"):
            pass
        for f in ("serial", "crlnumber"):
            with open(os.path.join(self.dir, f), "w") as out:
                out.write("1000\n")
        self.cnf = os.path.join(self.dir, "ca.cnf")
        with open(self.cnf, "w") as f:
            f.write(CA_CNF.format(dir=self.dir))
        self.pem = os.path.join(self.dir, "ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", os.path.join(self.dir, "ca.key"), "-out", self.pem, "-days", "30",
                "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, cn, ext="client_ext", start=None, end=None):
        """A key and a certificate for cn: (cert path, key path)."""
        base = os.path.join(self.dir, cn)
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", base + ".key", "-out", base + ".csr", "-subj", "/CN=" + cn)
        dates = ["-startdate", start, "-enddate", end] if start else []
        openssl("ca", "-batch", "-config", self.cnf, "-in", base + ".csr", "-out", base + ".pem",
                "-extensions", ext, "-notext", *dates)
        return base + ".pem", base + ".key"

    def revoke(self, cert):
        openssl("ca", "-config", self.cnf, "-revoke", cert)

    def crl(self, path):
        openssl("ca", "-config", self.cnf, "-gencrl", "-out", path + ".tmp")
        os.replace(path + ".tmp", path)


class Pki:
    """Every certificate the tests use, made once per module."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ingestd-pki-")
        top = self.tmp.name
        self.ca = Ca(top, "sensor-ca")
        self.other_ca = Ca(top, "other-ca")
        self.server = self.ca.issue("server", "server_ext")
        self.server2 = self.ca.issue("server-renewed", "server_ext")
        self.s420 = self.ca.issue("sensor-0420")
        self.s7 = self.ca.issue("sensor-0007")
        self.expired = self.ca.issue("sensor-0500", start="20200101000000Z",
                                     end="20200201000000Z")
        self.nonumber = self.ca.issue("sensor-gateway")
        self.stranger = self.other_ca.issue("sensor-0420")   # same CN, wrong CA

    def close(self):
        self.tmp.cleanup()


pki = None


def setUpModule():
    global pki
    pki = Pki()


def tearDownModule():
    global pki
    pki.close()
    pki = None        # test_workers makes its own


def tls_listener(d_dir, ca=True, crl=False, extra=""):
    """A TLS listener whose certificate files are copies in the daemon's
    directory (tests replace them for the reload)."""
    cert, key = os.path.join(d_dir, "server.pem"), os.path.join(d_dir, "server.key")
    shutil.copy(pki.server[0], cert)
    shutil.copy(pki.server[1], key)
    text = ("[listener sensors]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
            "schema = sensor24\ntls = on\ntls_cert = %s\ntls_key = %s\n" % (cert, key))
    if ca:
        text += "tls_ca = %s\n" % pki.ca.pem
    if crl:
        path = os.path.join(d_dir, "crl.pem")
        pki.ca.crl(path)
        text += "tls_crl = %s\n" % path
    return text + extra


class TlsDaemon(Daemon):
    """A Daemon whose listener is written by tls_listener() once its
    directory exists."""

    def __init__(self, ca=True, crl=False, listener_extra="", **kw):
        tmp = tempfile.mkdtemp(prefix="ingestd-tls-")
        self.files = tmp
        super().__init__(listeners=tls_listener(tmp, ca, crl, listener_extra), **kw)

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            shutil.rmtree(self.files, ignore_errors=True)


def client_context(cert=None, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca.pem)
    if cert is not None:
        ctx.load_cert_chain(*cert)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def tls_connect(d, cert=None, session=None, ctx=None):
    ctx = ctx or client_context(cert)
    s = socket.create_connection(("127.0.0.1", d.ports["sensors"]), timeout=30)
    return ctx.wrap_socket(s, server_hostname="localhost", session=session)


def refused(s):
    """True when the daemon ends a TLS connection the client thinks is up
    (TLS 1.3: the server judges the client's certificate after the
    client's handshake is done): an alert, a reset or EOF."""
    try:
        s.sendall(sensor24(1, 1.0))
        return s.recv(1) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def stream(s, sensor, n, start=0, chunk=5000):
    for base in range(start, start + n, chunk):
        s.sendall(b"".join(sensor24(sensor, float(k))
                           for k in range(base, min(base + chunk, start + n))))


def end_stream(s):
    """close_notify both ways: unwrap() returns once the daemon has read
    everything and closed its side."""
    s.unwrap()
    s.close()


def wait_ticket(s, timeout=30):
    """The session of s once a TLS 1.3 session ticket has arrived (they
    come after the handshake, as records an SSL read processes)."""
    deadline = time.monotonic() + timeout
    s.setblocking(False)
    try:
        while not (s.session is not None and s.session.has_ticket):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no session ticket within %ss" % timeout)
            select.select([s], [], [], left)
            try:
                s.recv(1)
            except ssl.SSLWantReadError:
                pass
    finally:
        s.settimeout(30)
    return s.session


def peer_cn(s):
    for rdn in s.getpeercert()["subject"]:
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


class GoodSensor(unittest.TestCase):
    def test_100k_records_exactly_once_with_cn(self):
        n = 100000
        with TlsDaemon() as d:
            s = tls_connect(d, pki.s420)
            self.assertEqual(s.version(), "TLSv1.3")
            stream(s, 420, n)
            end_stream(s)
            got = records(d.wait_records(n))
            self.assertEqual([r["timestamp"] for r in got], list(range(n)))
            self.assertEqual({r["sensorId"] for r in got}, {420})
            self.assertEqual({r["_tls_cn"] for r in got}, {"sensor-0420"})
            # _tls_cn comes right after _peer.
            keys = list(got[0])
            self.assertEqual(keys[keys.index("_peer") + 1], "_tls_cn")
            st = d.stats()
            self.assertEqual((st["tls_handshakes"], st["conn_closed"]), ("1", "1"), st)
            d.assert_clean_exit(d.stop())

    def test_tls_without_client_certificates(self):
        """No tls_ca: any client may connect, records have no _tls_cn."""
        with TlsDaemon(ca=False) as d:
            s = tls_connect(d)
            stream(s, 9, 1000)
            end_stream(s)
            got = records(d.wait_records(1000))
            self.assertNotIn("_tls_cn", got[0])
            self.assertEqual(len(got), 1000)
            d.assert_clean_exit(d.stop())

    def test_tls_1_2_client(self):
        """tls_min_version defaults to 1.2: a TLS 1.2 sensor is served."""
        with TlsDaemon() as d:
            ctx = client_context(pki.s420)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            s = tls_connect(d, ctx=ctx)
            self.assertEqual(s.version(), "TLSv1.2")
            stream(s, 420, 5000)
            end_stream(s)
            self.assertEqual(len(records(d.wait_records(5000))), 5000)
            d.assert_clean_exit(d.stop())


class Bursts(unittest.TestCase):
    def test_burst_then_silence_every_record_is_written(self):
        """Bytes the session holds raise no readiness event: with 4 KiB
        slabs each read leaves most of a 16 KiB TLS record inside the
        session, and the sensor, waiting, sends nothing that would wake
        the connection."""
        pool = "slab_size = 4096\nslabs = 256\n"
        with TlsDaemon(pool=pool) as d:
            s = tls_connect(d, pki.s420)
            for burst in range(3):
                stream(s, 420, 1000, start=1000 * burst)
                d.wait_records(1000 * (burst + 1), timeout=10)
            end_stream(s)
            got = records(d.read_output())
            self.assertEqual([r["timestamp"] for r in got], list(range(3000)))
            d.assert_clean_exit(d.stop())


class Refusals(unittest.TestCase):
    def test_each_refusal_is_counted_and_others_go_on(self):
        with TlsDaemon() as d:
            good = tls_connect(d, pki.s420)
            stream(good, 420, 10000)
            # No certificate, another CA's, an expired one.
            for cert in (None, pki.stranger, pki.expired):
                s = tls_connect(d, cert)
                self.assertTrue(refused(s), "a bad client certificate was served")
                s.close()
            # TLS 1.1: the handshake itself fails.
            ctx = client_context(pki.s420, version=ssl.TLSVersion.TLSv1_1)
            with self.assertRaises((ssl.SSLError, ConnectionResetError)):
                tls_connect(d, ctx=ctx)
            # Plaintext sensor24 on the TLS port.
            plain = d.connect("sensors")
            plain.sendall(sensor24(77, 1.0) * 10)
            self.assertTrue(closed_by_peer(plain, 10))
            plain.close()
            stream(good, 420, 10000, start=10000)
            end_stream(good)
            got = records(d.wait_records(20000))
            self.assertEqual([r["timestamp"] for r in got], list(range(20000)))
            st = d.stats()
            want = {"tls_no_certificate": "1", "tls_verify_failures": "2",
                    "tls_version_refused": "1", "tls_plaintext": "1", "tls_handshakes": "1",
                    "records_out": "20000"}
            self.assertEqual({k: st[k] for k in want}, want, st)
            d.wait_log(r"TLS: client certificate not verified: certificate verify failed: "
                       r"certificate has expired")
            d.wait_log(r"TLS: client certificate not verified: certificate verify failed: "
                       r"unable to get local issuer certificate")
            d.wait_log(r"TLS: no client certificate")
            d.wait_log(r"TLS: plaintext on a TLS port: the first byte is 0x00")
            d.assert_clean_exit(d.stop())

    def test_cn_without_a_number_is_refused_with_tls_bind(self):
        with TlsDaemon(listener_extra="tls_bind = sensorId\n") as d:
            s = tls_connect(d, pki.nonumber)
            self.assertTrue(refused(s))
            s.close()
            self.assertEqual(d.stats()["bad_identity"], "1")
            d.wait_log(r'certificate CN "sensor-gateway" does not end with a number')
            d.assert_clean_exit(d.stop())


class Bind(unittest.TestCase):
    def test_frame_for_another_sensor_closes_the_connection(self):
        with TlsDaemon(listener_extra="tls_bind = sensorId\n") as d:
            s = tls_connect(d, pki.s420)
            stream(s, 420, 3000)
            s.sendall(sensor24(421, 3000.0) + sensor24(420, 3001.0))
            self.assertTrue(refused(s))
            s.close()
            got = records(d.wait_records(3000))
            self.assertEqual([(r["sensorId"], r["timestamp"]) for r in got],
                             [(420, k) for k in range(3000)])
            st = d.stats()
            self.assertEqual((st["bad_identity"], st["records_out"]), ("1", "3000"), st)
            d.wait_log(r"bad identity: sensorId 421, but the certificate speaks for 420")
            # Another sensor on the same listener is bound to its own number.
            s = tls_connect(d, pki.s7)
            stream(s, 7, 100)
            end_stream(s)
            got = records(d.wait_records(3100))
            self.assertEqual({r["_tls_cn"] for r in got[3000:]}, {"sensor-0007"})
            d.assert_clean_exit(d.stop())


class HandshakeTimeout(unittest.TestCase):
    def test_silent_clients_are_closed_and_a_sensor_keeps_going(self):
        n_silent = 50
        with TlsDaemon(listener_extra="tls_handshake_timeout = 1\n") as d:
            silent = [d.connect("sensors") for _ in range(n_silent)]
            good = tls_connect(d, pki.s420)
            stream(good, 420, 50000)
            for s in silent:
                self.assertTrue(closed_by_peer(s, 10), "a silent client was not closed")
                s.close()
            stream(good, 420, 50000, start=50000)
            end_stream(good)
            got = records(d.wait_records(100000))
            self.assertEqual([r["timestamp"] for r in got], list(range(100000)))
            st = d.stats()
            self.assertEqual(st["tls_handshake_timeouts"], str(n_silent), st)
            d.wait_log(r"no TLS handshake within 1\.0 s; closing")
            d.assert_clean_exit(d.stop())


def s_client(d, *args):
    return subprocess.Popen(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % d.ports["sensors"],
         "-CAfile", pki.ca.pem, "-cert", pki.s420[0], "-key", pki.s420[1],
         "-servername", "localhost"] + list(args),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def read_until(proc, pattern):
    """Lines of proc's output up to the first that matches pattern."""
    rx = re.compile(pattern)
    seen = []
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        seen.append(line)
        if rx.search(line):
            return seen
    raise AssertionError("s_client ended without %r:\n%s" % (pattern, "\n".join(seen)))


class Resumption(unittest.TestCase):
    def test_s_client_resumes_its_session(self):
        with TlsDaemon() as d:
            sess = os.path.join(d.dir, "session.pem")
            first = s_client(d, "-sess_out", sess)
            # TLS 1.3 tickets come after the handshake: wait until one has.
            read_until(first, r"New Session Ticket arrived")
            first.stdin.write(sensor24(420, 1.0))
            first.stdin.close()
            first.wait(30)
            d.wait_records(1)
            second = s_client(d, "-sess_in", sess)
            lines = read_until(second, r"^(Reused|New), TLSv")
            self.assertTrue(lines[-1].startswith("Reused, TLSv1.3"), lines[-1])
            second.stdin.write(sensor24(420, 2.0))
            second.stdin.close()
            second.wait(30)
            got = records(d.wait_records(2))
            self.assertEqual([r["_tls_cn"] for r in got], ["sensor-0420"] * 2)
            st = d.stats()
            self.assertEqual((st["tls_handshakes"], st["tls_resumed"]), ("2", "1"), st)
            d.assert_clean_exit(d.stop())

    def test_python_client_resumes_across_workers(self):
        """One context per listener: a ticket from any worker resumes on
        any other (each new connection goes to the least busy worker)."""
        with TlsDaemon() as d:
            ctx = client_context(pki.s420)
            s = tls_connect(d, ctx=ctx)
            stream(s, 420, 10)
            sess = wait_ticket(s)
            end_stream(s)
            held = []
            for k in range(4):      # keep each open: the next goes elsewhere
                r = tls_connect(d, session=sess, ctx=ctx)
                self.assertTrue(r.session_reused, "connection %d not resumed" % k)
                held.append(r)
            for r in held:
                end_stream(r)
            st = d.stats()
            self.assertEqual(st["tls_resumed"], "4", st)
            d.assert_clean_exit(d.stop())


class Reload(unittest.TestCase):
    def test_sighup_new_certificate_and_a_stream_that_loses_nothing(self):
        with TlsDaemon() as d:
            s = tls_connect(d, pki.s420)
            self.assertEqual(peer_cn(s), "server")
            stream(s, 420, 20000)
            shutil.copy(pki.server2[0], os.path.join(d.files, "server.pem.new"))
            shutil.copy(pki.server2[1], os.path.join(d.files, "server.key.new"))
            os.replace(os.path.join(d.files, "server.pem.new"), os.path.join(d.files, "server.pem"))
            os.replace(os.path.join(d.files, "server.key.new"), os.path.join(d.files, "server.key"))
            start = len(d.stderr_lines)
            d.proc.send_signal(signal.SIGHUP)
            d.wait_log(r"SIGHUP: listener sensors: TLS certificates, key, CA and CRL reloaded",
                       start=start)
            stream(s, 420, 20000, start=20000)
            n = tls_connect(d, pki.s420)
            self.assertEqual(peer_cn(n), "server-renewed")
            end_stream(n)
            end_stream(s)
            got = records(d.wait_records(40000))
            self.assertEqual([r["timestamp"] for r in got], list(range(40000)))
            d.assert_clean_exit(d.stop())

    def test_broken_key_keeps_the_old_certificate(self):
        with TlsDaemon() as d:
            with open(os.path.join(d.files, "server.key"), "w") as f:
                f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
            start = len(d.stderr_lines)
            d.proc.send_signal(signal.SIGHUP)
            line = d.wait_log(r"SIGHUP: listener sensors keeps its TLS certificates", start=start)
            self.assertIn("server.key", line)
            s = tls_connect(d, pki.s420)
            self.assertEqual(peer_cn(s), "server")
            stream(s, 420, 100)
            end_stream(s)
            d.wait_records(100)
            self.assertEqual(d.stats()["tls_reload_failures"], "1")
            d.assert_clean_exit(d.stop())

    def test_crl_revocation_refuses_the_next_connection(self):
        with TlsDaemon(crl=True) as d:
            s = tls_connect(d, pki.s7)
            stream(s, 7, 100)
            end_stream(s)
            d.wait_records(100)
            pki.ca.revoke(pki.s7[0])
            try:
                pki.ca.crl(os.path.join(d.files, "crl.pem"))
                start = len(d.stderr_lines)
                d.proc.send_signal(signal.SIGHUP)
                d.wait_log(r"TLS certificates, key, CA and CRL reloaded", start=start)
                s = tls_connect(d, pki.s7)
                self.assertTrue(refused(s), "a revoked certificate was served")
                s.close()
                d.wait_log(r"certificate verify failed: certificate revoked")
                ok = tls_connect(d, pki.s420)
                stream(ok, 420, 100)
                end_stream(ok)
                got = records(d.wait_records(200))
                self.assertEqual(len(got), 200)
                self.assertEqual(d.stats()["tls_verify_failures"], "1")
            finally:
                # Other tests use sensor-0007: a fresh one replaces it.
                pki.s7 = pki.ca.issue("sensor-0007")
            d.assert_clean_exit(d.stop())


class TlsDrainHeldBytes(test_reliability.DrainHeldBytes):
    """SIGTERM with TLS records held by the kernel: the drain counts the
    ciphertext FIONREAD saw against what each session takes from the
    socket, so no connection closes between two of its reads."""

    def listener_extra(self):
        text = tls_listener(self.files, ca=True)
        return text[text.index("tls = on"):]

    def open_conn(self, d):
        return tls_connect(d, pki.s420)

    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="ingestd-tls-")

    def tearDown(self):
        shutil.rmtree(self.files, ignore_errors=True)


class StartupErrors(unittest.TestCase):
    def check(self, listener, pattern):
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "ingestd.ini")
            with open(conf, "w") as f:
                f.write("[output]\npath = -\n" + listener)
            rc, _, err = run_ingestd(["--check-config", "-c", conf])
            self.assertEqual(rc, 78, err)
            self.assertRegex(err, pattern)

    def listener(self, cert, key, ca=None):
        text = ("[listener sensors]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
                "schema = sensor24\ntls = on\ntls_cert = %s\ntls_key = %s\n" % (cert, key))
        return text + ("tls_ca = %s\n" % ca if ca else "")

    def test_missing_certificate(self):
        self.check(self.listener("/nonexistent/server.pem", pki.server[1]),
                   r"ingestd\.ini:9: tls_cert: /nonexistent/server\.pem: "
                   r"No such file or directory")

    def test_key_of_another_certificate(self):
        self.check(self.listener(pki.server[0], pki.s420[1]),
                   r"ingestd\.ini:10: tls_key: .*sensor-0420\.key: key values mismatch")

    def test_ca_file_without_certificates(self):
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as junk:
            junk.write("not a certificate\n")
            junk.flush()
            self.check(self.listener(pki.server[0], pki.server[1], junk.name),
                       r"ingestd\.ini:11: tls_ca: .*\.pem: ")


if __name__ == "__main__":
    unittest.main()
