"""Several workers: event-loop threads, each with its own connections and
its share of the pool, feeding one output writer.

Every test here runs the ThreadSanitizer build of the daemon
(build/tsan/ingestd): a data race between the threads is a report on stderr
and, with halt_on_error, a non-zero exit, and either fails the test.  The
worker count is forced (harness.FORCED), so these tests exercise threads
whatever `workers = auto` makes of the machine's CPUs:

- Spread: 64 connections from 64 loopback source addresses at workers = 2
  and 4: each worker's connection count within 2 of every other's
  (fewest-connections placement), every record exactly once and each
  connection's records in order in the file, and the /metrics totals and
  per-worker records equal to what the file holds.
- The shutdown, rotation and stalled-output tests of test_reliability and
  test_lifecycle again, with workers = 2.
- Watchdog: a worker whose loop is blocked on purpose (a test-build hook)
  stops the WATCHDOG=1 pings, so systemd would restart the service, and a
  SIGTERM then ends the daemon (exit 1) instead of waiting for it forever.
- Threads: worker threads block the signals; workers = 1 starts none;
  auto follows the affinity mask; STATUS= names the busiest worker.
"""
import os
import signal
import socket
import threading
import time
import unittest
import json

import harness
from harness import Daemon, sensor24
import test_access as access
import test_lifecycle as lifecycle
import test_proxy as proxy
import test_metrics as metrics
import test_reliability as reliability
import test_service as service
import test_status as status
import test_tls as tls

TSAN_OPTIONS = "halt_on_error=1:exitcode=66"


class Workers:
    """Mixin: the TSan daemon with [daemon] workers = WORKERS."""
    WORKERS = 2

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(harness.TSAN_BINARY):
            raise AssertionError("%s is missing: run make test" % harness.TSAN_BINARY)
        cls._saved = (harness.BINARY, dict(harness.FORCED), os.environ.get("TSAN_OPTIONS"))
        harness.BINARY = harness.TSAN_BINARY
        harness.FORCED["daemon"] = {"workers": str(cls.WORKERS)}
        os.environ["TSAN_OPTIONS"] = TSAN_OPTIONS
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        harness.BINARY, forced, tsan = cls._saved
        harness.FORCED.clear()
        harness.FORCED.update(forced)
        if tsan is None:
            os.environ.pop("TSAN_OPTIONS", None)
        else:
            os.environ["TSAN_OPTIONS"] = tsan
        super().tearDownClass()


def connect_from(d, source, listener="sensors"):
    return harness.connect_from(d.ports[listener], source)


def worker_samples(sample, name):
    return {dict(labels)["worker"]: v for (n, labels), v in sample.items() if n == name}


class Spread(Workers, unittest.TestCase):
    N_CONN, PER_CONN = 64, 400

    def fleet(self, workers):
        harness.FORCED["daemon"] = {"workers": str(workers)}
        with metrics.MetricsDaemon() as d:
            d.wait_log(r"ready: .* %d workers" % workers)
            sources = ["127.0.0.%d" % (2 + i) for i in range(self.N_CONN)]
            socks = [connect_from(d, src) for src in sources]
            deadline = time.monotonic() + 30
            while True:
                m = d.scrape()
                conns = worker_samples(m, "ingestd_worker_connections")
                if sum(conns.values()) == self.N_CONN or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(sorted(conns), [str(k) for k in range(workers)], m)
            self.assertEqual(sum(conns.values()), self.N_CONN, conns)
            self.assertLessEqual(max(conns.values()) - min(conns.values()), 2, conns)
            self.assertEqual(m[("ingestd_workers", ())], workers)

            def stream(i, s):
                s.sendall(b"".join(sensor24(i, float(k)) for k in range(self.PER_CONN)))
                s.shutdown(socket.SHUT_WR)
            senders = [threading.Thread(target=stream, args=(i, s)) for i, s in enumerate(socks)]
            for t in senders:
                t.start()
            for t in senders:
                t.join(60)
            total = self.N_CONN * self.PER_CONN
            data = d.wait_records(total, timeout=120)
            lines = data.splitlines()
            self.assertEqual(len(lines), total)
            seen = {}
            for line in lines:
                rec = json.loads(line)
                cid = rec["sensorId"]
                # In order, none twice, none missing: k follows k - 1.
                self.assertEqual(rec["timestamp"], seen.get(cid, -1) + 1 if cid in seen else 0,
                                 "connection %d out of order" % cid)
                seen[cid] = rec["timestamp"]
                self.assertEqual(rec["_peer"].rsplit(":", 1)[0], sources[cid])
            self.assertEqual(seen, {i: float(self.PER_CONN - 1) for i in range(self.N_CONN)})
            deadline = time.monotonic() + 30
            while True:
                m = d.scrape()
                if m[("ingestd_records_out_total", ())] == total or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(m[("ingestd_records_out_total", ())], total)
            per_worker = worker_samples(m, "ingestd_worker_records_total")
            self.assertEqual(sum(per_worker.values()), total, per_worker)
            # Every worker decoded its share: none sat idle.
            self.assertTrue(all(v > 0 for v in per_worker.values()), per_worker)
            for s in socks:
                s.close()
            d.assert_clean_exit(d.stop())

    def test_two_workers(self):
        self.fleet(2)

    def test_four_workers(self):
        self.fleet(4)


class Watchdog(Workers, unittest.TestCase):
    def test_a_stuck_worker_stops_the_pings(self):
        env = {"WATCHDOG_USEC": "400000", "INGESTD_TEST_STALL_WORKER": "1"}
        with service.NotifySocket() as n:
            d = Daemon(env=n.env(**env), extra="[limits]\nshutdown_timeout = 1\n")
            with d:
                d.wait_log(r"systemd watchdog: pinging every 0\.200 s")
                i = n.wait("WATCHDOG", "1")
                i = n.wait("WATCHDOG", "1", start=i + 1)
                # Fewest connections: the first goes to worker 0, the second
                # to worker 1, whose loop then blocks (the test hook).
                a = d.connect("sensors")
                b = d.connect("sensors")
                d.wait_log(r"worker 1: blocking its loop on purpose")
                d.wait_log(r"worker 1: its event loop has made no progress", timeout=10)
                stopped_at = len(n.messages)
                time.sleep(1.2)   # six ping intervals: no ping may come
                self.assertEqual(sum(1 for m in n.messages[stopped_at:] if "WATCHDOG" in m), 0,
                                 n.messages[stopped_at:])
                # SIGTERM cannot drain a stuck worker, but must not wait for
                # it forever: 2 x shutdown_timeout for the drain, then about
                # shutdown_timeout for the thread to stop, then exit 1.
                t0 = time.monotonic()
                rc = d.stop(timeout=15)
                self.assertEqual(rc, 1, "\n".join(d.stderr_lines[-10:]))
                self.assertLess(time.monotonic() - t0, 8)
                d.wait_log(r"shutdown: a worker has not finished closing its connections")
                d.wait_log(r"a worker thread did not stop within 1\.0 s; exiting without it")
                d.assert_no_sanitizer_report()
                a.close()
                b.close()


class Threads(Workers, unittest.TestCase):
    def threads(self, d):
        """{tid: (name, blocked signal mask)} of the daemon's threads (the
        sanitizer's runtime may add one of its own: workers are named
        ingestd-wK)."""
        out = {}
        for tid in os.listdir("/proc/%d/task" % d.proc.pid):
            with open("/proc/%d/task/%s/status" % (d.proc.pid, tid)) as f:
                st = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
            out[int(tid)] = (st["Name"], int(st["SigBlk"], 16))
        return out

    def test_signals_reach_the_main_thread_only(self):
        with Daemon() as d:
            d.wait_log(r"ready: .* 2 workers")
            threads = self.threads(d)
            self.assertEqual(sorted(n for n, _ in threads.values() if n.startswith("ingestd-w")),
                             ["ingestd-w0", "ingestd-w1"], threads)
            self.assertEqual(threads[d.proc.pid][0], "ingestd")
            for tid, (name, blocked) in threads.items():
                if tid != d.proc.pid and not name.startswith("ingestd-w"):
                    continue     # the sanitizer's
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
                    bit = 1 << (int(sig) - 1)
                    if tid == d.proc.pid:
                        self.assertFalse(blocked & bit, "main thread blocks %s" % sig.name)
                    else:
                        self.assertTrue(blocked & bit, "worker thread %d takes %s" % (tid, sig.name))
            d.assert_clean_exit(d.stop())

    def workers_of(self, d):
        return sum(1 for n, _ in self.threads(d).values() if n.startswith("ingestd-w"))

    def test_one_worker_is_one_thread(self):
        harness.FORCED["daemon"] = {"workers": "1"}
        try:
            with Daemon() as d:
                d.wait_log(r"ready: .* 1 worker$")
                self.assertEqual(self.workers_of(d), 0)   # the main loop is the worker
                d.send(harness.SENSOR24_SAMPLE * 5, "sensors")
                d.wait_records(5)
                d.assert_clean_exit(d.stop())
        finally:
            harness.FORCED["daemon"] = {"workers": str(self.WORKERS)}

    def test_auto_follows_the_affinity_mask(self):
        del harness.FORCED["daemon"]     # the shipped workers = auto
        try:
            with Daemon(prefix=["taskset", "-c", "0"]) as d:
                d.wait_log(r"ready: .* 1 worker$")
                self.assertEqual(self.workers_of(d), 0)
                d.assert_clean_exit(d.stop())
            cpus = min(len(os.sched_getaffinity(0)), 64)
            with Daemon() as d:
                d.wait_log(r"ready: .* %d workers?$" % cpus)
                self.assertEqual(self.workers_of(d), cpus if cpus > 1 else 0)
                d.assert_clean_exit(d.stop())
        finally:
            harness.FORCED["daemon"] = {"workers": str(self.WORKERS)}

    def test_status_names_the_busiest_worker(self):
        with service.NotifySocket() as n, Daemon(env=n.env()) as d:
            n.wait("READY", "1")
            socks = [d.connect("sensors") for _ in range(3)]   # workers 0, 1, 0
            stop = threading.Event()

            def stream(s, cid):
                k = 0
                while not stop.is_set():
                    s.sendall(b"".join(sensor24(cid, float(k + j)) for j in range(100)))
                    k += 100
                    time.sleep(0.01)
            senders = [threading.Thread(target=stream, args=(s, i), daemon=True)
                       for i, s in enumerate(socks)]
            for t in senders:
                t.start()
            try:
                i = n.wait("STATUS", start=0)
                while "records/s (busiest" not in n.messages[i]["STATUS"] or \
                        n.messages[i]["STATUS"].startswith("0 connections"):
                    i = n.wait("STATUS", start=i + 1, timeout=15)
                status = n.messages[i]["STATUS"]
                self.assertRegex(status, service.STATUS_RX)
                self.assertRegex(status, r"^3 connections, [\d.]+ records/s \(busiest: worker 0, "
                                         r"[\d.]+/s, 2 connections\)", status)
            finally:
                stop.set()
                for t in senders:
                    t.join(10)
            for s in socks:
                s.close()
            d.assert_clean_exit(d.stop())


class WorkersPerSource(Workers, access.PerSource):
    pass


class WorkersBehindHAProxy(Workers, proxy.BehindHAProxy):
    pass


class WorkersSigterm(Workers, reliability.SigtermUnderLoad):
    pass


class WorkersDrainHeldBytes(Workers, reliability.DrainHeldBytes):
    pass


class WorkersOutputStall(Workers, reliability.OutputStall):
    pass


class WorkersRotateDuringEnospc(Workers, reliability.RotateDuringEnospc):
    pass


class WorkersStalledFifo(Workers, reliability.StalledFifo):
    pass


class WorkersReopen(Workers, lifecycle.Reopen):
    pass


class WorkersShutdown(Workers, lifecycle.Shutdown):
    pass


class TlsPki:
    """Mixin: test_tls's certificates, made once for this module too."""

    @classmethod
    def setUpClass(cls):
        if tls.pki is None:
            tls.setUpModule()
        super().setUpClass()


class WorkersTlsGoodSensor(TlsPki, Workers, tls.GoodSensor):
    pass


class WorkersTlsBursts(TlsPki, Workers, tls.Bursts):
    pass


class WorkersTlsResumption(TlsPki, Workers, tls.Resumption):
    pass


class WorkersTlsReload(TlsPki, Workers, tls.Reload):
    pass



# The status page's sampler reads every worker's gauges once a second from
# the main thread: the same view /metrics takes, now also unasked.
class WorkersStatusJson(Workers, status.StatusJson):
    pass


class WorkersStatusHistory(Workers, status.History):
    pass


if __name__ == "__main__":
    unittest.main()
