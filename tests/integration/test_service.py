"""systemd integration: the notify protocol against a stand-in notify socket,
socket activation through systemd-socket-activate, reload with a config
check, journal priority prefixes, the units (systemd-analyze verify and
security), the man pages, and `make install` into a DESTDIR."""
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (BINARY, LEGACY16_RECORD, LEGACY16_SAMPLE, ROOT, SENSOR24_RECORD,
                     SENSOR24_SAMPLE, Daemon, records, run_ingestd, strip_meta)

EXIT_CONFIG = 78
SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")
ANALYZE = shutil.which("systemd-analyze")
UNITS = os.path.join(ROOT, "systemd")
STATUS_RX = re.compile(r"^(?:stopping: )?(\d+) connections?, \d+\.\d records/s"
                       r"(?: \(busiest: worker \d+, \d+\.\d/s, \d+ connections?\))?, "
                       r"pool \d+/\d+ slabs in use(?: \+ \d+ overflow)?, "
                       r"(reading|reads PAUSED \(output behind\)|draining|"
                       r"output STALLED for \d+ s, \d+ connections? held back)$")


def free_ports(n):
    """n loopback ports free right now (held together so they differ)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def listener(name, port, framing="fixed", schema="sensor24"):
    text = "[listener %s]\naddress = 127.0.0.1\nport = %d\nframing = %s\n" % (name, port, framing)
    if framing == "fixed":
        text += "schema = %s\n" % schema
    return text + "\n"


def monotonic_usec():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def env_without(*names, **extra):
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(extra)
    return env


class NotifySocket:
    """Stands in for systemd's notification socket: an AF_UNIX datagram
    socket in a temporary directory (or an abstract one), collecting every
    message as a dict of its KEY=VALUE lines."""

    def __init__(self, abstract=False):
        self.tmp = tempfile.TemporaryDirectory(prefix="ingestd-notify-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "ingestd-test-%d-%s" % (os.getpid(), os.path.basename(self.tmp.name))
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(self.tmp.name, "notify")
            self.sock.bind(self.address)
        self.messages = []
        self.on_message = None  # called in the reader thread, before waiters wake
        self.cv = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            if self.closed:
                break
            msg = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
            if self.on_message:
                self.on_message(msg)
            with self.cv:
                self.messages.append(msg)
                self.cv.notify_all()

    def env(self, base=None, **extra):
        env = dict(os.environ if base is None else base)
        env["NOTIFY_SOCKET"] = self.address
        env.update(extra)
        return env

    def wait(self, key, value=None, start=0, timeout=20):
        """Index of the first message from index start that has key (=value)."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for i in range(start, len(self.messages)):
                    m = self.messages[i]
                    if key in m and (value is None or m[key] == value):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no %s%s notification within %ss; got %r" % (
                        key, "" if value is None else "=" + value, timeout, self.messages))
                self.cv.wait(left)

    def count(self, key):
        with self.cv:
            return sum(1 for m in self.messages if key in m)

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)
        self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Notify(unittest.TestCase):
    """The daemon binding its own listeners, reporting to a notify socket."""

    def test_ready_only_once_listeners_accept(self):
        ports = free_ports(3)
        connected = []

        def on_message(msg):
            # At the moment READY=1 arrives every listener must accept.
            if msg.get("READY") == "1" and not connected:
                for p in ports:
                    s = socket.socket()
                    try:
                        s.connect(("127.0.0.1", p))
                        connected.append(p)
                    except OSError as e:
                        connected.append(e)
                    finally:
                        s.close()

        with NotifySocket() as n:
            n.on_message = on_message
            lst = (listener("sensors", ports[0]) + listener("mixed", ports[1], "tlv") +
                   listener("legacy", ports[2], schema="legacy16"))
            with Daemon(listeners=lst, env=n.env()) as d:
                i = n.wait("READY", "1")
                self.assertEqual(connected, ports)
                self.assertEqual(n.count("READY"), 1)
                self.assertRegex(n.messages[i]["STATUS"], STATUS_RX)
                self.assertNotIn("WATCHDOG", n.messages[i])
                d.send(SENSOR24_SAMPLE, "sensors")
                self.assertEqual(strip_meta(d.wait_records(1)), (SENSOR24_RECORD + "\n").encode())
                d.assert_clean_exit(d.stop())

    def test_stopping_on_sigterm_and_sigint(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with NotifySocket() as n, Daemon(env=n.env()) as d:
                n.wait("READY", "1")
                idle = d.connect("sensors")
                d.proc.send_signal(sig)
                i = n.wait("STOPPING", "1")
                self.assertTrue(n.messages[i]["STATUS"].startswith("stopping: "))
                d.assert_clean_exit(d.wait_exit())
                idle.close()

    def test_status_is_updated_periodically(self):
        with NotifySocket() as n, Daemon(env=n.env()) as d:
            first = n.wait("READY", "1")
            self.assertTrue(n.messages[first]["STATUS"].startswith("0 connections, "))
            conns = [d.connect("sensors"), d.connect("legacy")]
            conns[0].sendall(SENSOR24_SAMPLE * 50)
            d.wait_records(50)
            # Updates come every 5 s: wait for one that saw both connections.
            deadline = time.monotonic() + 15
            start = first + 1
            while True:
                i = n.wait("STATUS", start=start, timeout=deadline - time.monotonic())
                status = n.messages[i]["STATUS"]
                self.assertRegex(status, STATUS_RX)
                if status.startswith("2 connections, "):
                    break
                start = i + 1
            self.assertNotIn("READY", n.messages[i])
            for s in conns:
                s.close()
            d.assert_clean_exit(d.stop())

    def test_status_says_the_output_stalled(self):
        """One connection held back by a stdout nobody reads never pauses
        reads (that takes max_waiters waiting for read slabs), so STATUS=
        must say so in its own words."""
        with NotifySocket() as n, Daemon(env=n.env(), output="-", stdout=subprocess.PIPE,
                                         extra="[limits]\nshutdown_timeout = 2\n") as d:
            n.wait("READY", "1")
            s = d.connect("sensors")
            s.settimeout(60)
            sender = threading.Thread(target=s.sendall, args=(SENSOR24_SAMPLE * 200000,),
                                      daemon=True)
            sender.start()
            deadline = time.monotonic() + 20
            start = 0
            while True:
                i = n.wait("STATUS", start=start, timeout=deadline - time.monotonic())
                status = n.messages[i]["STATUS"]
                self.assertRegex(status, STATUS_RX)
                if "output STALLED" in status:
                    break
                start = i + 1
            self.assertRegex(status, r"1 connection held back$")
            d.proc.stdout.close()     # the reader goes away: EPIPE ends it
            self.assertEqual(d.wait_exit(30), 1)
            s.close()

    def test_watchdog_pings(self):
        with NotifySocket() as n, Daemon(env=n.env(WATCHDOG_USEC="200000")) as d:
            d.wait_log(r"systemd watchdog: pinging every 0\.100 s")
            first = n.wait("WATCHDOG", "1")
            t0 = time.monotonic()
            i = first
            for _ in range(4):
                i = n.wait("WATCHDOG", "1", start=i + 1, timeout=5)
            # Five pings at 0.1 s intervals: well under the 0.2 s timeout each.
            self.assertLess(time.monotonic() - t0, 3)
            d.assert_clean_exit(d.stop())

    def test_watchdog_meant_for_another_process(self):
        # WATCHDOG_PID names another process (pid 1 is never the daemon).
        with NotifySocket() as n, \
                Daemon(env=n.env(WATCHDOG_USEC="100000", WATCHDOG_PID="1")) as d:
            n.wait("READY", "1")
            # A negative can only be waited for: ten intervals with no ping.
            time.sleep(0.5)
            self.assertEqual(n.count("WATCHDOG"), 0)
            self.assertFalse([l for l in d.stderr_lines if "watchdog: pinging" in l])
            d.assert_clean_exit(d.stop())

    def test_reload_reports_reloading_then_ready(self):
        with NotifySocket() as n, Daemon(env=n.env()) as d:
            ready = n.wait("READY", "1")
            d.send(SENSOR24_SAMPLE, "sensors")
            d.wait_records(1)
            os.rename(d.out_path, d.out_path + ".1")
            before = monotonic_usec()
            d.proc.send_signal(signal.SIGHUP)
            i = n.wait("RELOADING", "1", start=ready + 1)
            after = monotonic_usec()
            self.assertIn("MONOTONIC_USEC", n.messages[i])
            self.assertTrue(before <= int(n.messages[i]["MONOTONIC_USEC"]) <= after,
                            (before, n.messages[i], after))
            j = n.wait("READY", "1", start=i + 1)
            self.assertRegex(n.messages[j]["STATUS"], STATUS_RX)
            d.wait_log("SIGHUP: output reopened")
            d.send(LEGACY16_SAMPLE, "legacy")
            self.assertEqual(strip_meta(d.wait_records(1)), (LEGACY16_RECORD + "\n").encode())
            d.assert_clean_exit(d.stop())

    def test_abstract_notify_socket(self):
        with NotifySocket(abstract=True) as n, Daemon(env=n.env()) as d:
            n.wait("READY", "1")
            d.proc.send_signal(signal.SIGTERM)
            n.wait("STOPPING", "1")
            d.assert_clean_exit(d.wait_exit())

    def test_unusable_notify_socket_does_not_stop_the_daemon(self):
        cases = [("/nonexistent/notify", r"cannot send a notification to /nonexistent/notify"),
                 ("relative/notify", r"neither an absolute path nor an abstract socket")]
        for value, warning in cases:
            with Daemon(env=env_without("NOTIFY_SOCKET", NOTIFY_SOCKET=value)) as d:
                d.wait_log(warning)
                d.send(SENSOR24_SAMPLE, "sensors")
                d.wait_records(1)
                d.assert_clean_exit(d.stop())
                self.assertLessEqual(len([l for l in d.stderr_lines if "notification" in l]), 1)


class ActivatedDaemon(Daemon):
    """ingestd started by systemd-socket-activate, which listens on the given
    sockets and execs the daemon (same pid) on the first connection."""

    def __init__(self, sockets, fdnames=None, setenv=None, **kw):
        super().__init__(**kw)
        self.sockets = sockets  # [(host, port)]
        self.fdnames = fdnames
        self.setenv = setenv or {}

    def start(self, timeout=20):
        cmd = [SOCKET_ACTIVATE]
        for host, port in self.sockets:
            cmd += ["-l", "%s:%d" % (host, port)]
        if self.fdnames:
            cmd += ["--fdname=" + ":".join(self.fdnames)]
        # It passes on only what -E names.
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                cmd += ["-E", "%s=%s" % (k, os.environ[k])]
        for k, v in self.setenv.items():
            cmd += ["-E", "%s=%s" % (k, v)]
        cmd += [self.binary, "-c", self.config_path]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env_without("JOURNAL_STREAM"))
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        for host, port in self.sockets:
            self.wait_log(r"Listening on %s:%d as \d+\." % (re.escape(host), port), timeout)

    def activate(self, data, port, timeout=20):
        """Connects to port (starting the daemon), sends data, closes."""
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        line = self.wait_log(r"ready: |error", timeout)
        for l in self.stderr_lines:
            m = re.search(r"listening on (\S+) \(listener ([^,]+),", l)
            if m:
                self.ports[m.group(2)] = int(m.group(1).rsplit(":", 1)[1])
        s.recv(1)
        s.close()
        return line


@unittest.skipUnless(SOCKET_ACTIVATE, "systemd-socket-activate not installed "
                     "(Debian package systemd; scripts/install-deps --test)")
class SocketActivation(unittest.TestCase):
    def test_sockets_matched_by_name(self):
        ports = free_ports(2)
        lst = (listener("sensors", 0) + listener("mixed", 0, "tlv") +
               listener("legacy", 0, schema="legacy16"))
        with NotifySocket() as n, ActivatedDaemon(
                listeners=lst, sockets=[("127.0.0.1", p) for p in ports],
                fdnames=["sensors", "mixed"],
                setenv={"NOTIFY_SOCKET": n.address, "WATCHDOG_USEC": "200000"}) as d:
            self.assertEqual(n.count("READY"), 0)  # nothing runs before a connection
            self.assertIn("ready: ", d.activate(SENSOR24_SAMPLE, ports[0]))
            ready = n.wait("READY", "1")
            self.assertEqual(strip_meta(d.wait_records(1)), (SENSOR24_RECORD + "\n").encode())
            d.wait_log(r"listening on 127\.0\.0\.1:%d \(listener sensors, fixed sensor24, "
                       r"socket from systemd\)" % ports[0])
            d.wait_log(r"listening on 127\.0\.0\.1:%d \(listener mixed, tlv, socket from "
                       r"systemd\)" % ports[1])
            # The listener with no socket binds its own, with a warning.
            d.wait_log(r"listener legacy: no socket from systemd matches it; binding")
            self.assertIn("legacy", d.ports)
            d.send(LEGACY16_SAMPLE, "legacy")
            s = socket.create_connection(("127.0.0.1", ports[1]), timeout=30)
            s.sendall(bytes([1, 0, 24]) + SENSOR24_SAMPLE)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
            s.close()
            out = records(d.wait_records(3))
            self.assertEqual(len(out), 3)
            # The rest of the protocol works the same when activated.
            w = n.wait("WATCHDOG", "1")
            n.wait("WATCHDOG", "1", start=w + 1)
            d.proc.send_signal(signal.SIGHUP)
            i = n.wait("RELOADING", "1", start=ready + 1)
            n.wait("READY", "1", start=i + 1)
            d.proc.send_signal(signal.SIGTERM)
            n.wait("STOPPING", "1")
            d.assert_clean_exit(d.wait_exit())

    def test_socket_matched_by_address(self):
        port, = free_ports(1)
        with NotifySocket() as n, ActivatedDaemon(
                listeners=listener("a", port), sockets=[("127.0.0.1", port)],
                setenv={"NOTIFY_SOCKET": n.address}) as d:
            d.activate(SENSOR24_SAMPLE * 2, port)
            n.wait("READY", "1")
            self.assertEqual(len(records(d.wait_records(2))), 2)
            d.wait_log(r"listening on 127\.0\.0\.1:%d \(listener a, .*socket from systemd"
                       % port)
            self.assertFalse([l for l in d.stderr_lines if "binding" in l])
            d.assert_clean_exit(d.stop())

    def check_refused(self, lst, sockets, fdnames, message):
        with ActivatedDaemon(listeners=lst, sockets=sockets, fdnames=fdnames) as d:
            s = socket.create_connection(sockets[0], timeout=30)
            self.assertEqual(d.wait_exit(), EXIT_CONFIG, "\n".join(d.stderr_lines))
            s.close()
            self.assertTrue([l for l in d.stderr_lines if re.search(message, l)],
                            "\n".join(d.stderr_lines))
            self.assertFalse([l for l in d.stderr_lines if "ready: " in l])

    def test_socket_matching_no_listener_is_a_config_error(self):
        ports = free_ports(2)
        self.check_refused(listener("sensors", 0),
                           [("127.0.0.1", ports[0]), ("127.0.0.1", ports[1])],
                           ["sensors", "bogus"],
                           r"error: socket activation: passed socket \(fd 4, name \"bogus\", "
                           r"address 127\.0\.0\.1:%d\) matches no listener" % ports[1])

    def test_two_sockets_for_one_listener_is_a_config_error(self):
        ports = free_ports(2)
        self.check_refused(listener("sensors", 0),
                           [("127.0.0.1", ports[0]), ("127.0.0.1", ports[1])],
                           ["sensors", "sensors"],
                           r"listener sensors was passed two sockets")


class Reload(unittest.TestCase):
    def test_exec_reload_checks_the_config_then_signals(self):
        for unit in ("ingestd.service", "ingestd-activated.service"):
            with open(os.path.join(UNITS, unit)) as f:
                text = f.read()
            start = re.search(r"^ExecStart=(\S+) -c (\S+)$", text, re.M)
            reload = re.findall(r"^ExecReload=(.*)$", text, re.M)
            self.assertEqual(reload, ["%s --check-config -c %s" % start.groups(),
                                      "/bin/kill -HUP $MAINPID"], unit)
            self.assertRegex(text, r"(?m)^Type=notify$")

    def test_bad_config_at_reload_leaves_the_daemon_running(self):
        with Daemon() as d:
            d.send(SENSOR24_SAMPLE, "sensors")
            d.wait_records(1)
            with open(d.config_path, "a") as f:
                f.write("[bogus]\n")
            # ExecReload's first command fails, so systemd sends no SIGHUP.
            rc, out, err = run_ingestd(["--check-config", "-c", d.config_path])
            self.assertEqual(rc, EXIT_CONFIG)
            self.assertIn(d.config_path + ":", err)
            self.assertIn("[bogus]: unknown section", err)
            self.assertIsNone(d.proc.poll())
            d.send(SENSOR24_SAMPLE, "sensors")
            self.assertEqual(len(records(d.wait_records(2))), 2)
            self.assertFalse([l for l in d.stderr_lines if "SIGHUP" in l])
            d.assert_clean_exit(d.stop())


class Journal(unittest.TestCase):
    def run_daemon(self, env):
        with Daemon(output="stdout", stdout=subprocess.PIPE, env=env) as d:
            d.send(SENSOR24_SAMPLE * 3, "sensors")
            d.proc.send_signal(signal.SIGUSR1)
            d.wait_log(r"stats \(SIGUSR1\)")
            d.proc.send_signal(signal.SIGTERM)
            out = d.proc.stdout.read()
            d.assert_clean_exit(d.wait_exit())
            lines = [l for l in d.stderr_lines if l != "<eof>"]
        # Records only on stdout, log lines only on stderr.
        self.assertEqual(strip_meta(out), ((SENSOR24_RECORD + "\n") * 3).encode())
        self.assertFalse([l for l in lines if "sensorId" in l])
        return lines

    def test_priority_prefixes_with_journal_stream(self):
        lines = self.run_daemon(env_without("JOURNAL_STREAM", JOURNAL_STREAM="1:1"))
        self.assertTrue(lines)
        for l in lines:
            self.assertRegex(l, r"^<[3467]>", l)
        self.assertTrue([l for l in lines if l.startswith("<6>ready: ")])

    def test_no_prefixes_without_journal_stream(self):
        lines = self.run_daemon(env_without("JOURNAL_STREAM"))
        for l in lines:
            self.assertFalse(l.startswith("<"), l)
            self.assertRegex(l, r"^ingestd: (error|warning|info|debug): ", l)


def make_install(destdir, *args):
    env = env_without("MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    p = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + destdir] + list(args),
                       capture_output=True, text=True, env=env, timeout=300)
    if p.returncode != 0:
        raise AssertionError("make install failed:\n" + p.stdout + p.stderr)
    return p.stdout


def unit_value(path, key):
    with open(path) as f:
        return re.findall(r"^%s=(.*)$" % re.escape(key), f.read(), re.M)


class Install(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ingestd-destdir-")
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def mode(self, rel):
        st = os.stat(os.path.join(self.root, rel.lstrip("/")))
        self.assertTrue(stat.S_ISREG(st.st_mode), rel)
        return stat.S_IMODE(st.st_mode)

    def test_default_prefix_tree(self):
        make_install(self.root)
        expect = {
            "/usr/local/sbin/ingestd": 0o755,
            "/etc/ingestd/ingestd.ini": 0o644,
            "/usr/local/lib/systemd/system/ingestd.service": 0o644,
            "/usr/local/lib/systemd/system/ingestd-activated.service": 0o644,
            "/usr/local/lib/systemd/system/ingestd.socket": 0o644,
            "/usr/local/lib/sysusers.d/ingestd.conf": 0o644,
            "/usr/local/share/man/man8/ingestd.8": 0o644,
            "/usr/local/share/man/man5/ingestd.ini.5": 0o644,
            "/etc/logrotate.d/ingestd": 0o644,
        }
        for rel, mode in expect.items():
            self.assertEqual(self.mode(rel), mode, rel)
        files = sorted("/" + os.path.relpath(os.path.join(dp, f), self.root)
                       for dp, _, fs in os.walk(self.root) for f in fs)
        self.assertEqual(files, sorted(expect))

        # The units run the installed binary on the installed config.
        for unit in ("ingestd.service", "ingestd-activated.service"):
            path = os.path.join(self.root, "usr/local/lib/systemd/system", unit)
            start, = unit_value(path, "ExecStart")
            self.assertEqual(start, "/usr/local/sbin/ingestd -c /etc/ingestd/ingestd.ini")
            self.assertEqual(unit_value(path, "ExecReload")[0],
                             "/usr/local/sbin/ingestd --check-config -c /etc/ingestd/ingestd.ini")
            self.assertEqual(unit_value(path, "LogsDirectory"), ["ingestd"])
            self.assertEqual(unit_value(path, "User"), ["ingestd"])
        binary = os.path.join(self.root, "usr/local/sbin/ingestd")
        self.assertTrue(os.access(binary, os.X_OK))

        # The installed config is the example with only the output path changed,
        # and it is valid.
        conf = os.path.join(self.root, "etc/ingestd/ingestd.ini")
        with open(os.path.join(ROOT, "config", "ingestd.ini")) as f:
            example = f.read().splitlines()
        with open(conf) as f:
            installed = f.read().splitlines()
        diff = [(a, b) for a, b in zip(example, installed) if a != b]
        self.assertEqual(len(example), len(installed))
        self.assertEqual(diff, [("path = -", "path = /var/log/ingestd/records.jsonl")])
        p = subprocess.run([binary, "--check-config", "-c", conf], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

        with open(os.path.join(self.root, "usr/local/lib/sysusers.d/ingestd.conf")) as f:
            self.assertRegex(f.read(), r"(?m)^u ingestd - ")

    def test_usr_prefix_rewrites_the_units(self):
        make_install(self.root, "PREFIX=/usr")
        unit = os.path.join(self.root, "usr/lib/systemd/system/ingestd.service")
        self.assertEqual(unit_value(unit, "ExecStart"),
                         ["/usr/sbin/ingestd -c /etc/ingestd/ingestd.ini"])
        self.assertEqual(self.mode("/usr/sbin/ingestd"), 0o755)
        self.assertEqual(self.mode("/usr/share/man/man8/ingestd.8"), 0o644)

    def test_existing_config_is_kept(self):
        make_install(self.root)
        conf = os.path.join(self.root, "etc/ingestd/ingestd.ini")
        with open(conf, "w") as f:
            f.write("; edited by the operator\n")
        out = make_install(self.root)
        self.assertIn("keeping the existing", out)
        with open(conf) as f:
            self.assertEqual(f.read(), "; edited by the operator\n")
        self.assertEqual(self.mode("/etc/ingestd/ingestd.ini.dist"), 0o644)

    def test_logrotate_snippet(self):
        with open(os.path.join(UNITS, "ingestd.logrotate")) as f:
            text = f.read()
        body = "\n".join(l.split("#")[0] for l in text.splitlines())
        self.assertRegex(body, r"(?m)^/var/log/ingestd/\*\.jsonl \{$")
        self.assertRegex(body, r"(?m)^\s+sharedscripts$")
        self.assertNotIn("copytruncate", body)
        self.assertNotRegex(body, r"(?m)^\s+create\b")  # the daemon creates the file
        post = re.search(r"postrotate\n(.*?)\n\s*endscript", body, re.S).group(1)
        self.assertIn("--signal=HUP", post)
        for unit in ("ingestd.service", "ingestd-activated.service"):
            self.assertIn(unit, post)
        lr = shutil.which("logrotate") or ("/usr/sbin/logrotate"
                                          if os.path.exists("/usr/sbin/logrotate") else None)
        if lr is None:
            self.skipTest("logrotate not installed (scripts/install-deps --test installs it)")
        # logrotate's own parse, on a copy pointed at a scratch directory
        # (and without `su`: the ingestd user does not exist here).
        d = self.root
        conf = os.path.join(d, "conf")
        with open(conf, "w") as f:
            f.write(re.sub(r"(?m)^\s*su .*\n", "", text.replace("/var/log/ingestd/", d + "/")))
        with open(os.path.join(d, "records.jsonl"), "w") as f:
            f.write("{}\n")
        p = subprocess.run([lr, "-d", "-s", os.path.join(d, "state"), conf],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("error", p.stdout + p.stderr)


@unittest.skipUnless(ANALYZE, "systemd-analyze not installed "
                     "(Debian package systemd; scripts/install-deps --test)")
class Units(unittest.TestCase):
    def exposure(self, unit):
        p = subprocess.run([ANALYZE, "security", "--offline=true", "--no-pager",
                            os.path.join(UNITS, unit)], capture_output=True, text=True)
        m = re.search(r"Overall exposure level for %s: (\d+\.\d)" % re.escape(unit), p.stdout)
        self.assertIsNotNone(m, p.stdout + p.stderr)
        return float(m.group(1))

    def test_security_exposure(self):
        self.assertLessEqual(self.exposure("ingestd.service"), 1.0)
        self.assertLessEqual(self.exposure("ingestd-activated.service"), 0.5)

    def test_activated_unit_keeps_every_hardening_setting(self):
        def service_lines(unit):
            with open(os.path.join(UNITS, unit)) as f:
                text = f.read()
            sec = text.split("[Service]", 1)[1].split("[Install]", 1)[0]
            return [l for l in sec.splitlines() if l and not l.startswith("#")]
        plain, activated = service_lines("ingestd.service"), service_lines(
            "ingestd-activated.service")
        differs = {"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                   "IPAddressAllow=localhost link-local 10.0.0.0/8 172.16.0.0/12 "
                   "192.168.0.0/16 fc00::/7"}
        self.assertEqual(sorted(l for l in plain if l not in activated), sorted(differs))
        for l in ("PrivateNetwork=yes", "RestrictAddressFamilies=AF_UNIX",
                  "Sockets=ingestd.socket", "IPAddressDeny=any"):
            self.assertIn(l, activated)

    def test_verify_installed_units(self):
        with tempfile.TemporaryDirectory(prefix="ingestd-verify-") as root:
            make_install(root)
            units = os.path.join(root, "usr/local/lib/systemd/system")
            binary = os.path.join(root, "usr/local/sbin/ingestd")
            # verify wants ExecStart= to exist: point the copies at the
            # installed binary inside DESTDIR, and man at the installed pages.
            check = os.path.join(root, "verify")
            os.mkdir(check)
            names = ["ingestd.service", "ingestd-activated.service", "ingestd.socket"]
            for name in names:
                with open(os.path.join(units, name)) as f:
                    text = f.read()
                with open(os.path.join(check, name), "w") as f:
                    f.write(text.replace("/usr/local/sbin/ingestd", binary))
            env = env_without("MANPATH", MANPATH=os.path.join(root, "usr/local/share/man") + ":",
                              SYSTEMD_LOG_LEVEL="notice")
            p = subprocess.run([ANALYZE, "verify"] + [os.path.join(check, n) for n in names],
                               capture_output=True, text=True, env=env, cwd=check)
            self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))


class ManPages(unittest.TestCase):
    PAGES = [os.path.join(ROOT, "daemon", "ingestd.8"), os.path.join(ROOT, "daemon", "ingestd.ini.5")]

    def render(self, page):
        groff = shutil.which("groff")
        if groff is None:
            self.skipTest("groff not installed (Debian package groff-base)")
        p = subprocess.run([groff, "-man", "-ww", "-z", page], capture_output=True, text=True)
        self.assertEqual((p.returncode, p.stderr), (0, ""), page)
        man = shutil.which("man")
        if man is None:
            self.skipTest("man not installed (Debian package man-db)")
        p = subprocess.run([man, "--warnings", "--nh", "--nj", "-l", page],
                           capture_output=True, text=True,
                           env=env_without("MANPAGER", "PAGER", MANWIDTH="80", LC_ALL="C.UTF-8",
                                           MAN_KEEP_FORMATTING="0"))
        self.assertEqual((p.returncode, p.stderr), (0, ""), page)
        return re.sub(r".\x08", "", p.stdout)

    @staticmethod
    def flat(text):
        return " ".join(text.split())

    def test_ingestd_8(self):
        text = self.render(self.PAGES[0])
        for word in ("SYNOPSIS", "--config", "--check-config", "--decode", "--help", "SIGTERM", "SIGINT",
                     "SIGHUP", "SIGUSR1", "EXIT STATUS", "FILES", "SYSTEMD INTEGRATION",
                     "READY=1", "STATUS=", "STOPPING=1", "RELOADING=1", "WATCHDOG=1",
                     "LISTEN_FDNAMES", "JOURNAL_STREAM", "MONOTONIC_USEC="):
            self.assertIn(word, self.flat(text))
        for code in ("0", "1", "64", "65", "66", "71", "74", "78"):
            self.assertRegex(text, r"(?m)^\s+%s\s*$|^\s+%s\s{2,}\S" % (code, code), code)

    def test_ingestd_ini_5_documents_every_key(self):
        text = self.render(self.PAGES[1])
        with open(os.path.join(ROOT, "config", "ingestd.ini")) as f:
            shipped = f.read()
        # Keys set in the file, and those of its commented [schema] example.
        keys = {re.sub(r"\.\d+$", ".N", re.sub(r"^field\.\w+$", "field.NAME", k))
                for k in re.findall(r"(?m)^(?:; )?([a-z_]+(?:\.\w+)?)\s*= ", shipped)}
        for key in ("type.N", "recv_buffer", "field.NAME", "size", "order", "checksum",
                    "on_bad_frame", "max_resync"):
            self.assertIn(key, keys)
        for key in sorted(keys):
            self.assertRegex(text, r"(?m)^\s+%s = " % re.escape(key), key)
        for section in ("[output]", "[pool]", "[limits]", "[log]", "[metrics]", "[listener NAME]",
                        "[schema NAME]"):
            self.assertIn(section, text)


if __name__ == "__main__":
    unittest.main()
