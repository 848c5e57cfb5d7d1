"""[output] type = kafka against librdkafka's mock cluster
(build/tools/kafka_mock: the real protocol on loopback, 3 brokers), read
back with kcat.  Work in progress: exactly-once with keys in order, and
brokers down under load (backpressure, then every record once).
"""
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from harness import ROOT, Daemon, records, sensor24

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

    def consume(self, expect, timeout=60):
        """Every message of the topic as (key, value) until expect have come."""
        p = subprocess.run(["kcat", "-b", self.bootstrap, "-t", "records", "-C", "-o",
                            "beginning", "-c", str(expect), "-q", "-f", "%p %k %s\\n"],
                           capture_output=True, text=True, timeout=timeout)
        out = []
        for line in p.stdout.splitlines():
            part, key, value = line.split(" ", 2)
            out.append((int(part), key, value))
        return out

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def kafka_extra(mock, spill):
    return ("[output]\ntype = kafka\n[kafka]\nbrokers = %s\ntopic = records\nkey = sensorId\n"
            "spill_path = %s\n" % (mock.bootstrap, spill))


@unittest.skipUnless(shutil.which("kcat") and os.path.exists(MOCK),
                     "kcat or build/tools/kafka_mock missing (make test builds the mock)")
class ExactlyOnce(unittest.TestCase):
    def test_records_from_many_sensors_arrive_once_in_key_order(self):
        n_sensors, per = 50, 2000
        mock = MockCluster()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                spill = os.path.join(tmp, "spill.jsonl")
                with Daemon(extra=kafka_extra(mock, spill)) as d:
                    for sid in range(n_sensors):
                        s = d.connect("sensors")
                        s.sendall(b"".join(sensor24(sid, float(k)) for k in range(per)))
                        s.shutdown(socket.SHUT_WR)
                        s.recv(1)
                        s.close()
                    got = mock.consume(n_sensors * per)
                    st = d.stats()
                    d.assert_clean_exit(d.stop())
                self.assertEqual(os.path.getsize(spill), 0)
            self.assertEqual(len(got), n_sensors * per)
            by_key = {}
            for part, key, value in got:
                rec = records((value + "\n").encode())[0]
                self.assertEqual(str(rec["sensorId"]), key)
                by_key.setdefault(key, []).append(rec["timestamp"])
            self.assertEqual(sorted(by_key), sorted(str(s) for s in range(n_sensors)))
            for key, ts in by_key.items():
                self.assertEqual(ts, [float(k) for k in range(per)], key)
            self.assertEqual(st["kafka_delivered"], str(n_sensors * per), st)
        finally:
            mock.close()


if __name__ == "__main__":
    unittest.main()
