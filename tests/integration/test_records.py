"""Golden vectors end to end: the source's sample packets sent over real
sockets come out as exactly the source's records, byte for byte."""
import json
import random
import socket
import subprocess
import unittest

from harness import (Daemon, LEGACY16_RECORD, LEGACY16_SAMPLE, SENSOR24_RECORD,
                     SENSOR24_SAMPLE, TLV_GOODBYE, TLV_HELLO, records, sensor24, strip_meta, tlv)


class GoldenRecords(unittest.TestCase):
    def test_sensor24_sample(self):
        with Daemon() as d:
            d.send(SENSOR24_SAMPLE, "sensors")
            self.assertEqual(strip_meta(d.wait_records(1)), (SENSOR24_RECORD + "\n").encode())

    def test_legacy16_sample(self):
        with Daemon() as d:
            d.send(LEGACY16_SAMPLE, "legacy")
            self.assertEqual(strip_meta(d.wait_records(1)), (LEGACY16_RECORD + "\n").encode())

    def test_tlv_split_as_in_the_source(self):
        # Three chunks: first 4 bytes of m1; rest of m1 + 6 bytes of m2; rest.
        # Types 1 and 2 are raw here: the default config maps them to schemas.
        stream = TLV_HELLO + TLV_GOODBYE
        raw = "[listener raw]\naddress = 127.0.0.1\nport = 0\nframing = tlv\n"
        with Daemon(listeners=raw) as d:
            d.send(stream, "raw", chunks=[4, len(TLV_HELLO) - 4 + 6])
            self.assertEqual(strip_meta(d.wait_records(2)),
                             b'{"type":1,"length":5,"value":"aGVsbG8="}\n'
                             b'{"type":2,"length":8,"value":"Z29vZGJ5ZSE="}\n')

    def test_tlv_mapped_types_use_their_schema(self):
        with Daemon() as d:
            d.send(tlv(1, SENSOR24_SAMPLE) + tlv(2, LEGACY16_SAMPLE) + tlv(9, b""), "mixed")
            self.assertEqual(strip_meta(d.wait_records(3).decode()),
                             SENSOR24_RECORD + "\n" + LEGACY16_RECORD + "\n" +
                             '{"type":9,"length":0,"value":""}\n')

    def test_metadata_follows_the_fields(self):
        with Daemon(metadata=True) as d:
            s = d.connect("sensors")
            local = s.getsockname()
            s.sendall(SENSOR24_SAMPLE)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
            s.close()
            line = d.wait_records(1).decode()
            self.assertTrue(line.startswith(SENSOR24_RECORD[:-1] + ',"_listener":"sensors",'
                                            '"_schema":"sensor24","_peer":"127.0.0.1:%d","_rx_ms":'
                                            % local[1]), line)
            rec = json.loads(line)
            self.assertEqual(list(rec)[-4:], ["_listener", "_schema", "_peer", "_rx_ms"])
            self.assertIsInstance(rec["_rx_ms"], int)

    def test_ipv6_listener(self):
        if not socket.has_ipv6:
            self.skipTest("no IPv6")
        listeners = "[listener v6]\naddress = ::1\nport = 0\nframing = fixed\nschema = sensor24\n"
        with Daemon(listeners=listeners, metadata=True) as d:
            s = d.connect("v6", family=socket.AF_INET6, host="::1")
            s.sendall(SENSOR24_SAMPLE)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
            rec = json.loads(d.wait_records(1))
            self.assertTrue(rec["_peer"].startswith("[::1]:"), rec)
            self.assertEqual(rec["pressure"], 100.19999694824219)

    def test_stdout_output(self):
        with Daemon(output="-", stdout=subprocess.PIPE) as d:
            d.send(SENSOR24_SAMPLE * 3, "sensors")
            lines = [strip_meta(d.proc.stdout.readline()) for _ in range(3)]
            self.assertEqual(lines, [(SENSOR24_RECORD + "\n").encode()] * 3)
            d.assert_clean_exit(d.stop())


class Splits(unittest.TestCase):
    """Whole writes, byte-at-a-time and random splits give identical output."""

    def stream(self, rng, n):
        parts = []
        for i in range(n):
            kind = rng.randrange(4)
            if kind == 0:
                parts.append(tlv(1, sensor24(i, float(i), i & 0xffff, i & 0xff, (i % 256) - 128,
                                             rng.random() * 100, rng.random() * 1000)))
            elif kind == 1:
                parts.append(tlv(2, LEGACY16_SAMPLE))
            elif kind == 2:
                parts.append(tlv(rng.randrange(3, 256), rng.randbytes(rng.randrange(0, 300))))
            else:
                parts.append(tlv(rng.randrange(3, 256), rng.randbytes(rng.randrange(300, 3000))))
        return b"".join(parts)

    def test_tlv_whole_bytewise_random(self):
        rng = random.Random(1234)
        data = self.stream(rng, 400)
        small = self.stream(rng, 40)
        outputs = []
        with Daemon() as d:
            d.send(data, "mixed")
            whole = strip_meta(d.wait_records(400))
        with Daemon() as d:
            cuts = []
            left = len(data)
            while left > 0:
                n = min(left, rng.randrange(1, 5000))
                cuts.append(n)
                left -= n
            d.send(data, "mixed", chunks=cuts)
            outputs.append(strip_meta(d.wait_records(400)))
        with Daemon() as d:
            d.send(small, "mixed", chunks=[1] * len(small))
            bytewise = strip_meta(d.wait_records(40))
        with Daemon() as d:
            d.send(small, "mixed")
            small_whole = strip_meta(d.wait_records(40))
        self.assertEqual(outputs[0], whole)
        self.assertEqual(bytewise, small_whole)
        self.assertEqual(len(records(whole)), 400)

    def test_fixed_bytewise(self):
        data = b"".join(sensor24(i, i * 1.5) for i in range(50))
        with Daemon() as d:
            d.send(data, "sensors", chunks=[1] * len(data))
            bytewise = strip_meta(d.wait_records(50))
        with Daemon() as d:
            d.send(data, "sensors")
            self.assertEqual(strip_meta(d.wait_records(50)), bytewise)
        recs = records(bytewise)
        self.assertEqual([r["sensorId"] for r in recs], list(range(50)))
        self.assertEqual(recs[3]["timestamp"], 4.5)


if __name__ == "__main__":
    unittest.main()
