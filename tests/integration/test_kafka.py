"""[output] type = kafka against librdkafka's mock cluster
(build/tools/kafka_mock: the real protocol on loopback, 3 brokers), read
back with kcat: every record once with each key's records in order; all
brokers down under load (the senders block, memory stays bounded, then
every record arrives once); transient produce errors retried without
duplicates; SIGTERM with the brokers down (delivered + spilled = sent);
configuration errors with their line.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import ROOT, Daemon, records, run_ingestd, sensor24
from test_metrics import MetricsDaemon, value
import test_status

MOCK = os.path.join(ROOT, "build", "tools", "kafka_mock")


class MockCluster:
    def __init__(self, brokers=3, partitions=4):
        self.proc = subprocess.Popen([MOCK, "-b", str(brokers), "-p", str(partitions)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        if not self.bootstrap:
            raise AssertionError("kafka_mock printed no bootstrap address")

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "ok":
            raise AssertionError("kafka_mock %r: %r" % (line, answer))

    def start_consumer(self, expect):
        """kcat reading the topic from the start until expect messages have
        come, started before the records are sent: the mock cluster keeps
        only the newest 5 MB of each partition's log, so a consumer that
        came later could miss the oldest.  -E: a broker going down is no
        reason for kcat to stop."""
        self.kcat = subprocess.Popen(["kcat", "-b", self.bootstrap, "-t", "records", "-C", "-o",
                                      "beginning", "-c", str(expect), "-E", "-q", "-f",
                                      "%p %k %s\\n"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)

    def consumed(self, timeout=60):
        """What the consumer read, as (partition, key, value)."""
        try:
            text, _ = self.kcat.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kcat.kill()
            text, _ = self.kcat.communicate()
        out = []
        for line in text.splitlines():
            part, key, value = line.split(" ", 2)
            out.append((int(part), key, value))
        return out

    def consume(self, expect, timeout=60):
        self.start_consumer(expect)
        return self.consumed(timeout)

    def consume_to_end(self, timeout=60):
        """Everything the topic holds: kcat stops at the end of every
        partition (-e), however many messages that is."""
        self.kcat = subprocess.Popen(["kcat", "-b", self.bootstrap, "-t", "records", "-C", "-o",
                                      "beginning", "-e", "-q", "-f", "%p %k %s\\n"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self.consumed(timeout)

    def close(self):
        if getattr(self, "kcat", None) is not None and self.kcat.poll() is None:
            self.kcat.kill()
            self.kcat.communicate()
        try:
            self.proc.stdin.close()
            self.proc.wait(10)
            self.proc.stdout.close()
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def kafka_extra(mock, spill):
    return ("[output]\ntype = kafka\n[kafka]\nbrokers = %s\ntopic = records\nkey = sensorId\n"
            "spill_path = %s\n" % (mock.bootstrap, spill))


@unittest.skipUnless(shutil.which("kcat") and os.path.exists(MOCK),
                     "kcat or build/tools/kafka_mock missing (make test builds the mock)")
class ExactlyOnce(unittest.TestCase):
    def test_records_from_many_sensors_arrive_once_in_key_order(self):
        n_sensors, per = 200, 5000
        mock = MockCluster()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                spill = os.path.join(tmp, "spill.jsonl")
                with MetricsDaemon(extra=kafka_extra(mock, spill)) as d:
                    mock.start_consumer(n_sensors * per)
                    for sid in range(n_sensors):
                        s = d.connect("sensors")
                        s.sendall(b"".join(sensor24(sid, float(k)) for k in range(per)))
                        s.shutdown(socket.SHUT_WR)
                        s.recv(1)
                        s.close()
                    got = mock.consumed(timeout=180)
                    st = d.stats()
                    # The gauges: nothing in flight; brokers connected (from the
                    # statistics, once a second: wait for a scrape that has them;
                    # the producer connects only to the brokers it needs).
                    deadline = time.monotonic() + 10
                    while True:
                        m = d.scrape()
                        if value(m, "ingestd_kafka_brokers_up") >= 1:
                            break
                        self.assertLess(time.monotonic(), deadline, "no broker up")
                    self.assertEqual(value(m, "ingestd_kafka_in_flight_messages"), 0)
                    self.assertEqual(value(m, "ingestd_kafka_delivered_total"), n_sensors * per)
                    # The status page's document has the Kafka fields the README lists.
                    s = test_status.status(d)
                    self.assertEqual(test_status.flat_keys(s),
                                     test_status.documented_keys(kafka=True))
                    o = s["output"]
                    self.assertEqual((o["type"], o["path"], o["kafka_in_flight"],
                                      o["kafka_delivered"], o["kafka_spilled"]),
                                     ("kafka", "records", 0, n_sensors * per, 0))
                    self.assertGreaterEqual(o["kafka_brokers_up"], 1)
                    d.assert_clean_exit(d.stop())
                self.assertEqual(os.path.getsize(spill), 0)
            self.assertEqual(len(got), n_sensors * per)
            by_key = {}
            for part, key, text in got:
                rec = records((text + "\n").encode())[0]
                self.assertEqual(str(rec["sensorId"]), key)
                by_key.setdefault(key, []).append(rec["timestamp"])
            self.assertEqual(sorted(by_key), sorted(str(s) for s in range(n_sensors)))
            for key, ts in by_key.items():
                self.assertEqual(ts, [float(k) for k in range(per)], key)
            self.assertEqual(st["kafka_delivered"], str(n_sensors * per), st)
        finally:
            mock.close()


def send_all(d, sid, n, done):
    s = d.connect("sensors")
    s.settimeout(120)
    for base in range(0, n, 5000):
        s.sendall(b"".join(sensor24(sid, float(k)) for k in range(base, min(n, base + 5000))))
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    done.append(sid)


def check_once(test, got, n_sensors, per):
    test.assertEqual(len(got), n_sensors * per)
    by_key = {}
    for part, key, value in got:
        rec = records((value + "\n").encode())[0]
        by_key.setdefault(key, []).append(rec["timestamp"])
    for sid in range(n_sensors):
        test.assertEqual(by_key.get(str(sid)), [float(k) for k in range(per)], sid)


@unittest.skipUnless(shutil.which("kcat") and os.path.exists(MOCK), "kcat or kafka_mock missing")
class BrokersDown(unittest.TestCase):
    BINARY = None           # the sanitizer build; BrokersDownMemory: the release one

    def test_all_brokers_down_under_load_then_every_record_once(self):
        """The producer's queue (queue_kbytes) fills, then the pool, then
        every connection waits for a slab and the senders block; memory stays within the pool
        and the queue.  After 10 s the brokers come back and every record
        arrives once."""
        n_sensors, per = 8, 60000
        mock = MockCluster(partitions=16)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                spill = os.path.join(tmp, "spill.jsonl")
                with Daemon(extra=kafka_extra(mock, spill), binary=self.BINARY) as d:
                    for b in (1, 2, 3):
                        mock.command("down %d" % b)
                    down_at = time.monotonic()
                    done = []
                    senders = [threading.Thread(target=send_all, args=(d, sid, per, done),
                                                daemon=True) for sid in range(n_sensors)]
                    for t in senders:
                        t.start()
                    # Pushback: the pool is spent and every connection waits for
                    # a slab to read into (its socket unread, TCP holds the sender).
                    deadline = time.monotonic() + 60
                    while True:
                        st = d.stats()
                        used, total = st["slabs_in_use"].split("/")
                        if st["waiters"] == st["conns"] != "0" and used != "0":
                            break
                        self.assertLess(time.monotonic(), deadline, "no pushback: %s" % st)
                    if self.BINARY == harness.RELEASE_BINARY:
                        rss = d.rss_kib()
                        # pool 32 MiB + producer queue 16 MiB + librdkafka's own
                        # buffers (make bench: 78 MiB peak streaming at full speed)
                        self.assertLess(rss, 96 * 1024, "RSS %d KiB" % rss)
                        print("\nBrokersDownMemory: RSS %.1f MiB while blocked" % (rss / 1024))
                    self.assertLess(len(done), n_sensors, "every sender finished: no pushback")
                    time.sleep(max(0.0, 10 - (time.monotonic() - down_at)))  # the outage
                    for b in (1, 2, 3):
                        mock.command("up %d" % b)
                    for t in senders:
                        t.join(120)
                    self.assertEqual(len(done), n_sensors)
                    # Read after the outage (a consumer meanwhile would see its
                    # brokers vanish): 8 keys over 16 partitions keep each log
                    # well within what the mock cluster retains.
                    got = mock.consume(n_sensors * per, timeout=120)
                    st = d.stats()
                    d.assert_clean_exit(d.stop())
                self.assertEqual(os.path.getsize(spill), 0)
            check_once(self, got, n_sensors, per)
            self.assertEqual(st["kafka_spilled"], "0", st)
        finally:
            mock.close()


class BrokersDownMemory(BrokersDown):
    """The same outage on the optimised build, whose RSS is the daemon's
    own (the sanitizers' shadow memory would swamp it)."""
    BINARY = harness.RELEASE_BINARY


@unittest.skipUnless(shutil.which("kcat") and os.path.exists(MOCK), "kcat or kafka_mock missing")
class TransientErrors(unittest.TestCase):
    def test_retried_produce_errors_make_no_duplicates(self):
        n_sensors, per = 10, 3000
        mock = MockCluster()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                spill = os.path.join(tmp, "spill.jsonl")
                with Daemon(extra=kafka_extra(mock, spill)) as d:
                    # NOT_LEADER_FOR_PARTITION, then REQUEST_TIMED_OUT: retriable.
                    mock.command("produce-errors 5 6")
                    mock.command("produce-errors 5 7")
                    mock.start_consumer(n_sensors * per)
                    done = []
                    for sid in range(n_sensors):
                        send_all(d, sid, per, done)
                    got = mock.consumed()
                    st = d.stats()
                    d.assert_clean_exit(d.stop())
            check_once(self, got, n_sensors, per)
            self.assertEqual((st["kafka_failed"], st["kafka_spilled"]), ("0", "0"), st)
        finally:
            mock.close()


@unittest.skipUnless(shutil.which("kcat") and os.path.exists(MOCK), "kcat or kafka_mock missing")
class FatalError(unittest.TestCase):
    def test_producer_is_made_again_and_nothing_is_lost(self):
        """A fatal producer error (made by a test hook after 5,000 records):
        what the producer held goes to the spill file, a new producer takes
        the rest; every record is in Kafka or in the spill file (one in
        flight at the error may be in both: its delivery is unknown)."""
        n_sensors, per = 4, 5000
        mock = MockCluster()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                spill = os.path.join(tmp, "spill.jsonl")
                env = dict(os.environ, INGESTD_TEST_KAFKA_FATAL_AFTER="5000")
                with Daemon(extra=kafka_extra(mock, spill), env=env) as d:
                    done = []
                    for sid in range(n_sensors):
                        send_all(d, sid, per, done)
                    deadline = time.monotonic() + 30
                    while True:
                        st = d.stats()
                        if int(st["kafka_delivered"]) + int(st["kafka_spilled"]) >= \
                                n_sensors * per:
                            break
                        self.assertLess(time.monotonic(), deadline, st)
                    d.wait_log(r"fatal producer error: making the producer again")
                    d.assert_clean_exit(d.stop())
                    st = d.exit_stats()[1]
                with open(spill) as f:
                    spilled = records(f.read().encode())
            # A record in flight at the fatal error may have reached Kafka
            # and been spilled as well (its delivery is unknown): read the
            # whole topic, not kafka_delivered messages of it.
            got = mock.consume_to_end()
            in_kafka = [(int(k), records((v + "\n").encode())[0]["timestamp"]) for _, k, v in got]
            self.assertEqual(len(in_kafka), len(set(in_kafka)), "a duplicate within Kafka")
            self.assertGreaterEqual(len(in_kafka), int(st["kafka_delivered"]))
            in_spill = [(r["sensorId"], r["timestamp"]) for r in spilled]
            self.assertEqual(len(in_spill), int(st["kafka_spilled"]))
            self.assertEqual(len(in_spill), len(set(in_spill)), "a record spilled twice")
            want = {(sid, float(k)) for sid in range(n_sensors) for k in range(per)}
            self.assertEqual(set(in_kafka) | set(in_spill), want)
            self.assertEqual(st["kafka_restarts"], "1", st)
            self.assertGreater(int(st["kafka_delivered"]), 0)
        finally:
            mock.close()


@unittest.skipUnless(os.path.exists(MOCK), "kafka_mock missing")
class SigtermBrokersDown(unittest.TestCase):
    def test_delivered_plus_spilled_is_sent(self):
        n = 20000
        mock = MockCluster()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                spill = os.path.join(tmp, "spill.jsonl")
                extra = kafka_extra(mock, spill) + "[limits]\nshutdown_timeout = 2\n"
                with Daemon(extra=extra) as d:
                    done = []
                    send_all(d, 1, n // 2, done)          # delivered
                    deadline = time.monotonic() + 30
                    while d.stats()["kafka_delivered"] != str(n // 2):
                        self.assertLess(time.monotonic(), deadline, "not delivered")
                    for b in (1, 2, 3):
                        mock.command("down %d" % b)
                    send_all(d, 2, n // 2, done)          # held by the producer
                    while d.stats()["frames_in"] != str(n):
                        self.assertLess(time.monotonic(), deadline, "not read")
                    rc = d.stop()
                    d.assert_clean_exit(rc)
                    st = d.exit_stats()[1]
                with open(spill) as f:
                    spilled = records(f.read().encode())
            delivered = int(st["kafka_delivered"])
            self.assertEqual(delivered + len(spilled), n, st)
            self.assertEqual(int(st["kafka_spilled"]), len(spilled))
            self.assertGreater(len(spilled), 0)
            self.assertEqual({r["sensorId"] for r in spilled}, {2})
        finally:
            mock.close()


@unittest.skipUnless(os.path.exists(MOCK), "kafka_mock missing")
class SpillFails(unittest.TestCase):
    def test_a_spill_that_cannot_be_written_is_counted_and_logged_rate_limited(self):
        """spill_path = /dev/full: at SIGTERM with the brokers down nothing
        can be delivered or spilled; every record is counted as lost
        (kafka_spill_errors), and the log says so a few times, not once
        per record."""
        n = 5000
        mock = MockCluster()
        try:
            extra = kafka_extra(mock, "/dev/full") + "[limits]\nshutdown_timeout = 1\n"
            with Daemon(extra=extra) as d:
                for b in (1, 2, 3):
                    mock.command("down %d" % b)
                done = []
                send_all(d, 1, n, done)
                deadline = time.monotonic() + 30
                while d.stats()["frames_in"] != str(n):
                    self.assertLess(time.monotonic(), deadline, "not read")
                d.assert_clean_exit(d.stop())
                st = d.exit_stats()[1]
                lost = [l for l in d.stderr_lines if "it is lost" in l]
            self.assertEqual(int(st["kafka_spill_errors"]) + int(st["kafka_delivered"]), n, st)
            self.assertGreater(int(st["kafka_spill_errors"]), 0)
            self.assertEqual(st["kafka_spilled"], "0")
            self.assertGreater(len(lost), 0)
            self.assertLess(len(lost), 50, "one log line per lost record")
        finally:
            mock.close()


class ConfigErrors(unittest.TestCase):
    def check(self, extra, pattern):
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "ingestd.ini")
            with open(conf, "w") as f:
                f.write("[listener sensors]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
                        "schema = sensor24\n[output]\ntype = kafka\n" + extra)
            rc, _, err = run_ingestd(["--check-config", "-c", conf])
            self.assertEqual(rc, 78, err)
            self.assertRegex(err, pattern)

    def test_unknown_librdkafka_property(self):
        self.check("[kafka]\nbrokers = 127.0.0.1:9\ntopic = t\nspill_path = /tmp/s\n"
                   "rdkafka.no.such.thing = 1\n",
                   r"ingestd\.ini:12: rdkafka\.no\.such\.thing: No such configuration property")

    def test_spill_path_is_required(self):
        self.check("[kafka]\nbrokers = 127.0.0.1:9\ntopic = t\n",
                   r"ingestd\.ini:7: type: kafka needs \[kafka\] spill_path")


if __name__ == "__main__":
    unittest.main()
