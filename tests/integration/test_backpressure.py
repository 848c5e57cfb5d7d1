"""Memory bounded by the pool, nothing lost: a stalled reader of stdout makes
the daemon stop reading and TCP push back on the senders; when the reader
resumes every record comes out exactly once, in order per connection."""
import ctypes
import json
import os
import resource
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import unittest

from harness import RELEASE_BINARY, Daemon, SENSOR24_SAMPLE, records, sensor24

N_CONN = 4
PER_CONN = 250000          # 1M packets in all
SLAB = 131072
SLABS = 256                # 32 MiB budget
OVERHEAD_KIB = 16 * 1024   # binary, libraries, heap, stacks: stated in the README


class Sender(threading.Thread):
    """Streams packets; notes when the socket stops taking bytes."""

    def __init__(self, sock, cid, n):
        super().__init__(daemon=True)
        self.sock, self.cid, self.n = sock, cid, n
        self.sent = 0
        self.blocked = threading.Event()
        self.error = None

    def run(self):
        try:
            data = memoryview(b"".join(sensor24(self.cid, float(k), k & 0xffff, k & 0xff,
                                                (k % 256) - 128, 1.5, 2.25)
                                       for k in range(self.n)))
            self.sock.setblocking(False)
            while self.sent < len(data):
                # Half a second without room in the socket: the daemon has
                # stopped reading and the kernel buffers are full.
                _, w, _ = select.select([], [self.sock], [], 0.5)
                if not w:
                    self.blocked.set()
                    continue
                try:
                    self.sent += self.sock.send(data[self.sent:self.sent + 262144])
                except BlockingIOError:
                    pass
            self.sock.setblocking(True)
            self.sock.shutdown(socket.SHUT_WR)
        except Exception as e:  # reported by the test
            self.error = e


class Backpressure(unittest.TestCase):
    def test_stalled_stdout_reader(self):
        """Nothing lost, in order, with the sanitizer build (the default)."""
        self.stall_and_resume(binary=None, check_rss=False)

    def test_stalled_stdout_reader_memory(self):
        """The same with the release build, for its RSS: the sanitizers'
        shadow memory and quarantine would swamp what is measured."""
        self.stall_and_resume(binary=RELEASE_BINARY, check_rss=True)

    def stall_and_resume(self, binary, check_rss):
        pool = ("slab_size = %d\nslabs = %d\nmax_waiters = 2\nwaiters_low = 0\n" % (SLAB, SLABS))
        # Small kernel buffers on both sides, so that 1M packets are far more
        # than the kernel and the pool together can absorb.
        listeners = ("[listener sensors]\naddress = 127.0.0.1\nport = 0\nframing = fixed\n"
                     "schema = sensor24\nrecv_buffer = 65536\n")
        with Daemon(output="-", stdout=subprocess.PIPE, pool=pool, listeners=listeners,
                    binary=binary) as d:
            rss_start = d.rss_kib()
            senders = [Sender(d.connect("sensors", sndbuf=65536), i, PER_CONN)
                       for i in range(N_CONN)]
            for s in senders:
                s.start()
            # Nobody reads stdout: the pool fills with output, reads pause.
            d.wait_log("pausing reads on every connection", timeout=60)
            for s in senders:
                self.assertTrue(s.blocked.wait(60), "sender %d never blocked" % s.cid)
            rss_stalled = d.rss_kib()
            st = d.stats()
            self.assertEqual(st["paused"], "1")
            total_sent = sum(s.sent for s in senders)
            self.assertLess(total_sent, N_CONN * PER_CONN * 24, "senders were never slowed")
            budget_kib = SLAB * SLABS // 1024
            if check_rss:
                self.assertLess(rss_stalled, budget_kib + OVERHEAD_KIB,
                                "RSS %d KiB at start %d KiB" % (rss_stalled, rss_start))
            print("\n  rss start %d KiB, stalled %d KiB, budget %d KiB, sent while stalled %.1f MB"
                  % (rss_start, rss_stalled, budget_kib, total_sent / 1e6))

            # The reader comes back: everything arrives, exactly once, in order.
            seen = [0] * N_CONN
            for line in d.proc.stdout:
                r = json.loads(line)
                cid = r["sensorId"]
                self.assertEqual(r["timestamp"], float(seen[cid]), "conn %d out of order" % cid)
                seen[cid] += 1
                if sum(seen) == N_CONN * PER_CONN:
                    break
            for s in senders:
                s.join(60)
                self.assertIsNone(s.error)
            self.assertEqual(seen, [PER_CONN] * N_CONN)
            st = d.stats()
            self.assertEqual(st["read_slabs"], "0")
            self.assertEqual(st["paused"], "0")
            self.assertEqual(int(st["pause_events"]) >= 1, True)
            # Pauses are counted in full but logged at most once per 10 s.
            logged = sum("pausing reads" in l for l in d.stderr_lines)
            self.assertGreaterEqual(logged, 1)
            self.assertLessEqual(logged, 3, "pause log lines: %d for %s pauses"
                                 % (logged, st["pause_events"]))
            self.assertEqual(d.stop(), 0)
            self.assertEqual(d.proc.stdout.read(), b"")  # nothing duplicated after the count


class FileOutput(unittest.TestCase):
    def test_file_output_written_as_each_slab_fills(self):
        """One read can make megabytes of records; they must go to the file
        slab by slab, not pile up in the pool until the end of the loop
        iteration (which touched the whole pool and paused reads)."""
        n_conn, per_conn = 8, 100000
        payload = [b"".join(sensor24(c, float(k)) for k in range(per_conn))
                   for c in range(n_conn)]
        with Daemon(metadata=True) as d:
            socks = [d.connect("sensors") for _ in range(n_conn)]
            senders = [threading.Thread(target=s.sendall, args=(p,), daemon=True)
                       for s, p in zip(socks, payload)]
            for t in senders:
                t.start()
            for t in senders:
                t.join(60)
            for s in socks:
                s.shutdown(socket.SHUT_WR)
            data = d.wait_records(n_conn * per_conn, timeout=120)
            st = d.stats()
            for s in socks:
                s.close()
            self.assertEqual(d.stop(), 0)
        self.assertEqual(data.count(b"\n"), n_conn * per_conn)
        # One loop: a read slab, the output slab being filled and the 512
        # KiB (4 slabs) of full ones the sink writes at once; one more at
        # most while a grant is in flight.  Queuing a read's output would
        # need about ten slabs per 128 KiB read (74 in all, measured).
        # Several workers: each holds at most two such batches and the slab
        # being filled, queued or with the writer (sink.h), and a grant in
        # flight; a connection waiting for that room keeps its read slab.
        workers = int(st["workers"])
        bound = 7 if workers == 1 else workers * (2 * 4 + 1 + 1) + n_conn
        self.assertLessEqual(int(st["slabs_peak"]), bound, st)
        self.assertEqual(st["pause_events"], "0", st)
        # Full slabs go out 512 KiB at a time, not one 128 KiB slab per
        # write (the end-of-iteration flush of the rest makes some shorter).
        per_write = int(st["bytes_out"]) / int(st["output_writes"])
        self.assertGreater(per_write, 256 * 1024, st)


def resident_bytes(path):
    """Bytes of the file now in the page cache (mincore(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size = os.path.getsize(path)
    page = os.sysconf("SC_PAGE_SIZE")
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, 1, 1, fd, 0)      # PROT_READ, MAP_SHARED
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        vec = (ctypes.c_ubyte * ((size + page - 1) // page))()
        try:
            if libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)
    return sum(b & 1 for b in vec) * page


class CacheWindow(unittest.TestCase):
    """[output] cache_window: output older than the window is written back
    and dropped from the page cache as new output arrives."""

    def run_two_phases(self, window, to_stdout=False, truncated_first=False, extra=""):
        """Two phases of 100k records; with to_stdout, the daemon's stdout
        is redirected to a regular file instead of naming it in [output];
        with truncated_first, a phase before them is written and the file
        then truncated to nothing under the daemon (copytruncate)."""
        stdout = tempfile.NamedTemporaryFile(prefix="ingestd-stdout-") if to_stdout else None
        with Daemon(metadata=True, output="stdout" if to_stdout else "file", stdout=stdout,
                    output_extra="cache_window = %d\n%s" % (window, extra)) as d:
            if to_stdout:
                d.out_path = stdout.name
            if subprocess.run(["stat", "-f", "-c", "%T", os.path.dirname(d.out_path)],
                              capture_output=True, text=True).stdout.strip() == "tmpfs":
                self.skipTest("output directory is on tmpfs: no writeback to drop behind")
            phases = range(-1, 2) if truncated_first else range(2)
            for n, phase in enumerate(phases):
                d.send(b"".join(sensor24(phase % 4, float(k)) for k in range(100000)))
                # The daemon's own count, not wait_records(): reading the
                # file back would pull it into the cache again.
                while int(d.stats()["records_out"]) < 100000 * (n + 1):
                    pass
                if phase < 0:
                    os.truncate(d.out_path, 0)
                    continue
                # Phase one's pages are clean from here on, so dropping the
                # ones that leave the window in phase two cannot be refused
                # for pages still under writeback.
                os.sync()
            size, resident = os.path.getsize(d.out_path), resident_bytes(d.out_path)
            self.assertEqual(d.stop(), 0)
        print("\n  cache_window %d: %.1f of %.1f MB of output cached"
              % (window, resident / 1e6, size / 1e6))
        return size, resident

    def test_old_output_leaves_the_page_cache(self):
        size, resident = self.run_two_phases(4 << 20)
        self.assertGreater(size, 30 << 20)
        # At least phase one's last 4 MiB (clean) left the cache; on a disk
        # that keeps up, nearly everything older than the window did.
        self.assertLessEqual(resident, size - (4 << 20))

    def test_stdout_redirected_to_a_file(self):
        size, resident = self.run_two_phases(4 << 20, to_stdout=True)
        self.assertGreater(size, 30 << 20)
        self.assertLessEqual(resident, size - (4 << 20))

    def test_file_truncated_under_the_daemon(self):
        """After copytruncate the window follows the file's new end, also
        without preallocation (which reads the end again on its own)."""
        size, resident = self.run_two_phases(4 << 20, truncated_first=True,
                                             extra="preallocate = 0\n")
        self.assertGreater(size, 30 << 20)
        self.assertLess(size, 60 << 20)         # the first phase is gone
        self.assertLessEqual(resident, size - (4 << 20))

    def test_zero_leaves_the_cache_to_the_kernel(self):
        size, resident = self.run_two_phases(0)
        self.assertGreater(resident, size - (1 << 20))


class IdleConnections(unittest.TestCase):
    def test_ten_thousand_idle_connections_hold_no_slab(self):
        n = 10000
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < n + 500:
            self.skipTest("RLIMIT_NOFILE hard limit %d too low" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        try:
            with Daemon(extra="[limits]\nmax_connections = 20000\n",
                        binary=RELEASE_BINARY) as d:
                rss0 = d.rss_kib()
                socks = [d.connect("sensors") for _ in range(n)]
                # Each sends part of a frame: the carry holds it, not a slab.
                for s in socks:
                    s.sendall(SENSOR24_SAMPLE[:10])
                # One full packet through the last connection proves the
                # daemon has caught up with every earlier connection's bytes.
                st = {}
                for _ in range(100):
                    st = d.stats()
                    if st["conns"] == str(n) and int(st["bytes_in"]) == 10 * n:
                        break
                self.assertEqual(st["conns"], str(n))
                self.assertEqual(int(st["bytes_in"]), 10 * n)
                self.assertEqual(st["read_slabs"], "0")
                rss1 = d.rss_kib()
                print("\n  rss empty %d KiB, with %d idle connections %d KiB: %.0f bytes each"
                      % (rss0, n, rss1, (rss1 - rss0) * 1024 / n))
                for s in socks:
                    s.sendall(SENSOR24_SAMPLE[10:])
                d.wait_records(n)
                for s in socks:
                    s.close()
                self.assertEqual(d.stop(), 0)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))



def allocated(path):
    """Bytes of disk allocated to the file (st_blocks)."""
    return os.stat(path).st_blocks * 512


def can_preallocate(directory):
    """1 when the file system under directory takes fallocate(KEEP_SIZE)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    with tempfile.TemporaryFile(dir=directory) as f:
        return libc.fallocate(f.fileno(), 1, 0, 1 << 20) == 0    # FALLOC_FL_KEEP_SIZE


class Preallocate(unittest.TestCase):
    """[output] preallocate: an output file's blocks are allocated ahead of
    the writes, the file's size showing only what was written; the unused
    rest is given back when the daemon closes the file (exit, reopen)."""

    AHEAD = 4 << 20
    RECORDS = 10000          # about 1.5 MB: less than AHEAD

    def daemon(self, ahead):
        d = Daemon(output_extra="preallocate = %d\n" % ahead)
        if not can_preallocate(d.dir):
            d.tmp.cleanup()
            self.skipTest("the test directory's file system cannot preallocate")
        return d

    def send_batch(self, d, base, n=RECORDS):
        d.send(b"".join(sensor24(base, float(k)) for k in range(n)))

    def assert_tight(self, path):
        """No more than the written bytes, give or take a block of metadata."""
        self.assertLess(allocated(path), os.path.getsize(path) + (64 << 10))

    def test_allocated_ahead_and_given_back_at_exit(self):
        with self.daemon(self.AHEAD) as d:
            self.send_batch(d, 1)
            data = d.wait_records(self.RECORDS)
            size = os.path.getsize(d.out_path)
            self.assertEqual(size, len(data))
            # Allocated ahead: at least what is left of AHEAD past the end.
            self.assertGreaterEqual(allocated(d.out_path), self.AHEAD)
            self.assertEqual(d.stop(), 0)
            self.assert_tight(d.out_path)
            self.assertEqual(d.read_output(), data)

    def test_given_back_on_reopen(self):
        with self.daemon(self.AHEAD) as d:
            self.send_batch(d, 1)
            old = d.wait_records(self.RECORDS)
            rotated = d.out_path + ".1"
            os.rename(d.out_path, rotated)
            self.assertGreaterEqual(allocated(rotated), self.AHEAD)
            start = len(d.stderr_lines)
            d.proc.send_signal(signal.SIGHUP)
            d.wait_log("SIGHUP: output reopened", start=start)
            self.assert_tight(rotated)
            with open(rotated, "rb") as f:
                self.assertEqual(f.read(), old)
            # The new file is preallocated in its turn.
            self.send_batch(d, 2)
            d.wait_records(self.RECORDS)
            self.assertGreaterEqual(allocated(d.out_path), self.AHEAD)
            self.assertEqual(d.stop(), 0)
            self.assert_tight(d.out_path)

    def test_truncated_under_the_daemon(self):
        """copytruncate: the file is emptied while ingestd appends to it.
        What follows must be whole records only, never NULs or old bytes."""
        with self.daemon(self.AHEAD) as d:
            self.send_batch(d, 1)
            d.wait_records(self.RECORDS)
            os.truncate(d.out_path, 0)
            self.send_batch(d, 2)
            d.wait_records(self.RECORDS)
            self.assertEqual(d.stop(), 0)
            data = d.read_output()
        self.assertNotIn(b"\0", data)
        recs = records(data)
        self.assertEqual(len(recs), self.RECORDS)
        self.assertEqual({r["sensorId"] for r in recs}, {2})

    def test_not_for_stdout_redirected_to_a_file(self):
        """A file behind stdout belongs to whoever redirected it."""
        with tempfile.NamedTemporaryFile(prefix="ingestd-stdout-") as out:
            with Daemon(output="stdout", stdout=out,
                        output_extra="preallocate = %d\n" % self.AHEAD) as d:
                d.out_path = out.name
                self.send_batch(d, 1)
                d.wait_records(self.RECORDS)
                self.assert_tight(out.name)
                self.assertEqual(d.stop(), 0)

    def test_not_on_a_nearly_full_file_system(self):
        """No step is taken while the file system has less than four steps
        free; with room for them, steps are taken.  The output sits on an
        8 MiB tmpfs mounted in a mount namespace of the daemon's own."""
        for ahead, expect_ahead in ((4 << 20, False), (1 << 20, True)):
            mnt = tempfile.mkdtemp(prefix="ingestd-smallfs-")
            try:
                probe = subprocess.run(["unshare", "-m", "--propagation", "private", "mount",
                                        "-t", "tmpfs", "-o", "size=8m", "ingestd-test", mnt],
                                       capture_output=True)
                if probe.returncode != 0:
                    self.skipTest("cannot mount a small file system here (needs root): %s"
                                  % probe.stderr.decode().strip())
                mount = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                         'mount -t tmpfs -o size=8m ingestd-test "$0" && exec "$@"', mnt]
                with Daemon(output_path=os.path.join(mnt, "out.jsonl"), prefix=mount,
                            output_extra="preallocate = %d\n" % ahead) as d:
                    # The file as the daemon sees it, through its namespace.
                    d.out_path = "/proc/%d/root%s/out.jsonl" % (d.proc.pid, mnt)
                    self.send_batch(d, 1, 3000)      # about 0.4 MB: within one step
                    d.wait_records(3000)
                    extra = allocated(d.out_path) - os.path.getsize(d.out_path)
                    if expect_ahead:
                        self.assertGreater(extra, 512 << 10, ahead)
                    else:
                        self.assertLess(extra, 64 << 10, ahead)
                    self.assertEqual(d.stop(), 0)
            finally:
                os.rmdir(mnt)

    def test_zero_allocates_as_written(self):
        with self.daemon(0) as d:
            self.send_batch(d, 1)
            d.wait_records(self.RECORDS)
            self.assert_tight(d.out_path)
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
