"""The status page on the metrics listener: GET / (one self-contained HTML
page), GET /status.json (the snapshot it draws from, with a ring of one
sample a second).  The figures agree with /metrics; every field the README
documents is in the document and every field of the document is
documented; headless Chromium loads the page from a daemon under traffic,
with every address but loopback unresolvable, and renders the daemon's
numbers (the DOM is checked, a screenshot kept in build/test-logs).
"""
import fcntl
import html.parser
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import ROOT, run_ingestd, sensor24, LEGACY16_SAMPLE
from test_metrics import MetricsDaemon, curl, value

CHROMIUM = shutil.which("chromium")
SCREENSHOT = os.path.join(ROOT, "build", "test-logs", "status-page.png")


def status(d):
    r = curl(d.url("/status.json"))
    assert r.rc == 0 and r.status == 200, "status.json: curl rc %d, status %d" % (r.rc, r.status)
    assert r.headers.get("content-type") == "application/json", r.headers
    return json.loads(r.body)


def wait_samples(test, d, n, timeout=20):
    """The status document once its history holds at least n samples."""
    deadline = time.monotonic() + timeout
    while True:
        s = status(d)
        if len(s["history"]["age_s"]) >= n:
            return s
        test.assertLess(time.monotonic(), deadline, s["history"])
        time.sleep(0.2)   # polling the sampler's 1 s timer from outside


def bad_type():
    """A TLV frame of type 0: rejected (bad_type), the connection closed."""
    return harness.tlv(0, b"abc")


def flat_keys(doc, prefix=""):
    """The document's field paths, lists of objects as NAME[].FIELD."""
    out = set()
    for k, v in doc.items():
        path = prefix + k
        out.add(path)
        if isinstance(v, dict):
            out |= flat_keys(v, path + ".")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            out |= flat_keys(v[0], path + "[].")
    return out


def documented_keys(kafka=False):
    """The field paths the README's /status.json table lists (its first
    column, in backquotes); rows that say "Kafka output only" with kafka."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"\n#+ `/status\.json`\n(.*?)\n#", text, re.S)
    assert m, "README.md has no \"`/status.json`\" heading"
    keys = set()
    for line in m.group(1).splitlines():
        c = re.match(r"\| (`[^|]+`) \|", line)
        if c and ("Kafka output only" not in line or kafka):
            keys |= set(re.findall(r"`([^`]+)`", c.group(1)))
    return keys


class StatusJson(unittest.TestCase):
    def test_fields_are_documented_and_agree_with_metrics(self):
        with MetricsDaemon() as d:
            idle = [d.connect("sensors"), d.connect("sensors"), d.connect("legacy")]
            d.wait_conns(3)
            d.send(b"".join(sensor24(1, float(i)) for i in range(300)))
            d.send(LEGACY16_SAMPLE * 40, listener="legacy")
            d.send(harness.tlv(1, sensor24(2, 1.0)) + bad_type(), listener="mixed")
            d.wait_records(341)
            s = status(d)
            m = d.scrape()
            out_bytes = os.path.getsize(d.out_path)
            for c in idle:
                c.close()

        self.assertEqual(flat_keys(s), documented_keys(),
                         "the README's /status.json table and the document differ")
        rc, out, _ = run_ingestd(["--version"])
        self.assertEqual(s["version"], out.split()[1])
        self.assertEqual(s["records"], 341)
        self.assertEqual(s["records"], value(m, "ingestd_records_out_total"))
        self.assertEqual(s["frames_in"], value(m, "ingestd_frames_in_total"))
        self.assertEqual(s["bytes_in"], value(m, "ingestd_bytes_in_total"))
        self.assertEqual(s["connections"], 3)
        self.assertEqual(s["connections"], value(m, "ingestd_connections"))
        self.assertEqual(s["max_connections"], value(m, "ingestd_max_connections"))
        self.assertEqual(s["workers"], value(m, "ingestd_workers"))
        by_name = {l["name"]: l for l in s["listeners"]}
        self.assertEqual(list(by_name), ["sensors", "mixed", "legacy"])  # the shipped three
        self.assertEqual((by_name["sensors"]["connections"], by_name["legacy"]["connections"],
                          by_name["mixed"]["connections"]), (2, 1, 0))
        for name, l in by_name.items():
            self.assertEqual(l["records"], value(m, "ingestd_listener_records_total",
                                                 listener=name), name)
            self.assertEqual(l["bytes_in"], value(m, "ingestd_listener_bytes_in_total",
                                                  listener=name), name)
            self.assertEqual(l["address"], "127.0.0.1:%d" % d.ports[name], name)
        self.assertEqual((by_name["sensors"]["framing"], by_name["sensors"]["schemas"]),
                         ("fixed", ["sensor24"]))
        self.assertEqual((by_name["mixed"]["framing"], by_name["mixed"]["schemas"]),
                         ("tlv", ["sensor24", "legacy16"]))
        self.assertEqual(s["rejected"]["bad_type"], 1)
        self.assertEqual(by_name["mixed"]["records"], 1)
        for reason, n in s["rejected"].items():
            self.assertEqual(n, value(m, "ingestd_%s_total" % reason), reason)
        p = s["pool"]
        self.assertEqual(p["slabs"], value(m, "ingestd_pool_slabs"))
        self.assertEqual(p["slab_size"], value(m, "ingestd_pool_slab_size_bytes"))
        self.assertEqual(p["slabs_peak"], value(m, "ingestd_pool_slabs_peak"))
        self.assertEqual(p["paused"], False)
        o = s["output"]
        self.assertEqual((o["type"], o["path"]), ("file", d.out_path))
        self.assertEqual(o["bytes"], out_bytes)
        self.assertEqual(o["bytes"], value(m, "ingestd_bytes_out_total"))
        self.assertEqual((o["rotations"], o["last_rotation_age_s"]), (0, None))

    def test_rotation_is_shown_with_its_age(self):
        with MetricsDaemon() as d:
            d.send(sensor24(1, 1.0))
            d.wait_records(1)
            os.rename(d.out_path, d.out_path + ".1")
            d.proc.send_signal(1)  # SIGHUP
            d.wait_log(r"reopened")
            s = status(d)
        self.assertEqual(s["output"]["rotations"], 1)
        self.assertIsNotNone(s["output"]["last_rotation_age_s"])
        self.assertGreaterEqual(s["output"]["last_rotation_age_s"], 0)
        self.assertLess(s["output"]["last_rotation_age_s"], 30)

    def test_head_and_methods(self):
        with MetricsDaemon() as d:
            r = curl(d.url("/status.json"), "-I")
            self.assertEqual((r.status, r.body), (200, b""))
            self.assertGreater(int(r.headers["content-length"]), 100)
            page = curl(d.url("/"))
            r = curl(d.url("/"), "-I")
            self.assertEqual((r.status, r.body), (200, b""))
            self.assertEqual(int(r.headers["content-length"]), len(page.body))
            r = curl(d.url("/status.json"), "-X", "POST")
            self.assertEqual(r.status, 405)
            r = curl(d.url("/status.jsonx"))
            self.assertEqual(r.status, 404)


class History(unittest.TestCase):
    def test_one_sample_a_second_and_the_rates_add_up(self):
        """Samples come once a second, newest last; the rates between them
        add up to the records sent; the ring holds at most 600."""
        n = 5000
        with MetricsDaemon() as d:
            first = wait_samples(self, d, 1)   # the first sample has no rate
            d.send(b"".join(sensor24(1, float(i)) for i in range(n)))
            d.wait_records(n)
            # Two more samples after the last record: its second is closed.
            s = wait_samples(self, d, len(first["history"]["age_s"]) + 3)
        h = s["history"]
        self.assertEqual((h["capacity"], h["interval_s"]), (600, 1.0))
        ages = h["age_s"]
        self.assertEqual(len({len(h[k]) for k in ("age_s", "records_per_s", "slabs_in_use",
                                                  "waiters", "paused")}), 1, h)
        gaps = [a - b for a, b in zip(ages, ages[1:])]
        # One a second; a stalled loop makes one gap longer and the next
        # shorter (libev's repeating timer keeps its rate).
        self.assertTrue(all(0 < g < 3.0 for g in gaps), gaps)
        self.assertLess(abs(sum(gaps) / len(gaps) - 1.0), 0.35, gaps)
        self.assertGreaterEqual(ages[-1], 0)
        self.assertLess(ages[-1], 3.0)
        total = sum(r * g for r, g in zip(h["records_per_s"][1:], gaps))
        # Rates are whole records/s: each sample may lose under one.
        self.assertLess(abs(total - n), len(gaps) + 2, (total, h))
        self.assertGreater(max(h["records_per_s"]), 0)


class Page(unittest.TestCase):
    def test_one_self_contained_page(self):
        with MetricsDaemon() as d:
            r = curl(d.url("/"))
            r2 = curl(d.url("/index.html"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "text/html; charset=utf-8")
        self.assertIn("default-src 'none'", r.headers["content-security-policy"])
        self.assertEqual(r2.body, r.body)
        page = r.body.decode("utf-8")
        with open(os.path.join(ROOT, "daemon", "status.html"), encoding="utf-8") as f:
            self.assertEqual(page, f.read())
        # Nothing fetched from elsewhere: no external script, style, font or image.
        self.assertNotRegex(page, r"<(link|img|iframe|object|embed)\b")
        self.assertNotRegex(page, r"<script[^>]+src=")
        self.assertNotRegex(page, r"@import|url\(")
        for ref in re.findall(r'(?:href|src)="([^"]*)"', page):
            self.assertNotRegex(ref, r"^[a-z]+:|^//", ref)


class DomValues(html.parser.HTMLParser):
    """Every element's data-k -> data-v, and the chart's polylines."""
    def __init__(self):
        super().__init__()
        self.values, self.points, self.body = {}, {}, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-k" in a and "data-v" in a:
            self.values[a["data-k"]] = a["data-v"]
        if tag == "polyline":
            self.points[a.get("id")] = a.get("points", "")
        if tag == "body":
            self.body = a


CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--hide-scrollbars", "--window-size=1280,1000",
                  # Only loopback resolves: the page must need nothing else.
                  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


def chromium(url, *args):
    """Headless Chromium on url: the page runs 5 s of virtual time (its
    timers and fetches, as fast as they complete), then the DOM or the
    screenshot the arguments ask for is taken."""
    with tempfile.TemporaryDirectory() as profile:
        p = subprocess.run([CHROMIUM, "--user-data-dir=" + profile] + CHROMIUM_FLAGS +
                           ["--virtual-time-budget=5000"] + list(args) + [url],
                           capture_output=True, text=True, timeout=120)
    return p


def chromium_until(url, expression, timeout=30):
    """Headless Chromium on url in real time, driven over the DevTools
    protocol on a pipe (--remote-debugging-pipe: NUL-separated JSON on
    descriptors 3 and 4): evaluates expression in the page until it is
    true, then returns the page's HTML.  For a page that waits on a fetch
    that never completes, which stops virtual time."""
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    profile = tempfile.TemporaryDirectory()

    def onto_3_and_4():
        # Chromium reads commands on fd 3 and writes answers on fd 4; move
        # both ends above 4 first so that neither dup2 overwrites the other.
        r, w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w))
        os.dup2(r, 3)
        os.dup2(w, 4)

    p = subprocess.Popen([CHROMIUM, "--user-data-dir=" + profile.name] + CHROMIUM_FLAGS +
                         ["--remote-debugging-pipe", "about:blank"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, pass_fds=(3, 4), preexec_fn=onto_3_and_4)
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    out, buf, ids = os.fdopen(to_chrome_w, "wb"), b"", [0]

    def call(method, session=None, **params):
        nonlocal buf
        ids[0] += 1
        msg = {"id": ids[0], "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        out.write(json.dumps(msg).encode() + b"\0")
        out.flush()
        while True:
            while b"\0" not in buf:
                chunk = os.read(from_chrome_r, 65536)
                if not chunk:
                    raise AssertionError("chromium closed its DevTools pipe")
                buf += chunk
            line, buf = buf.split(b"\0", 1)
            answer = json.loads(line)
            if answer.get("id") == ids[0]:
                if "error" in answer:
                    raise AssertionError("%s: %s" % (method, answer["error"]))
                return answer["result"]

    try:
        target = call("Target.createTarget", url=url)["targetId"]
        session = call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        deadline = time.monotonic() + timeout
        while True:
            r = call("Runtime.evaluate", session, expression="!!(%s)" % expression,
                     returnByValue=True)
            if r.get("result", {}).get("value") is True or time.monotonic() > deadline:
                break
            time.sleep(0.1)   # the page's own timers decide when; poll its state
        return call("Runtime.evaluate", session, expression="document.documentElement.outerHTML",
                    returnByValue=True)["result"]["value"]
    finally:
        out.close()
        os.close(from_chrome_r)
        p.kill()
        p.wait(30)
        profile.cleanup()


@unittest.skipUnless(CHROMIUM, "chromium missing: scripts/install-deps --test installs it")
class Browser(unittest.TestCase):
    def test_chromium_renders_the_daemons_numbers_under_traffic(self):
        stop = threading.Event()
        with MetricsDaemon() as d:
            idle = [d.connect("sensors"), d.connect("legacy")]
            d.send(bad_type(), listener="mixed")
            busy = d.connect("mixed")

            def traffic():
                i = 0
                while not stop.is_set():
                    busy.sendall(b"".join(harness.tlv(1, sensor24(7, float(i + k)))
                                          for k in range(200)))
                    i += 200
                    time.sleep(0.01)
            t = threading.Thread(target=traffic, daemon=True)
            t.start()
            try:
                d.wait_records(2000)
                before = wait_samples(self, d, 2)
                p = chromium(d.url("/"), "--dump-dom")
                after = status(d)
                m = d.scrape()
                shot = chromium(d.url("/"), "--screenshot=" + SCREENSHOT)
            finally:
                stop.set()
                t.join()
                busy.close()
                for c in idle:
                    c.close()
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        dom = DomValues()
        dom.feed(p.stdout)
        self.assertEqual(dom.body.get("data-loaded"), "1",
                         "the page never drew a status.json:\n" + p.stdout[-2000:])
        v = dom.values
        self.assertEqual(v["version"], after["version"])
        # Moving figures: between the snapshots taken before and after.
        for key in ("records", "listeners.1.records", "uptime_s"):
            lo = float(harness_get(before, key))
            hi = float(harness_get(after, key))
            self.assertTrue(lo <= float(v[key]) <= hi, (key, lo, v[key], hi))
        self.assertGreater(float(v["records"]), float(before["records"]))
        # Standing figures: equal to status.json and /metrics.
        self.assertEqual(int(v["connections"]), 3)
        self.assertEqual(int(v["connections"]), value(m, "ingestd_connections"))
        self.assertEqual(int(v["max_connections"]), value(m, "ingestd_max_connections"))
        self.assertEqual(int(v["pool.slabs"]), value(m, "ingestd_pool_slabs"))
        self.assertEqual(int(v["pool.slab_size"]), value(m, "ingestd_pool_slab_size_bytes"))
        self.assertEqual(int(v["rejected.bad_type"]), 1)
        self.assertEqual(int(v["rejected.bad_type"]), value(m, "ingestd_bad_type_total"))
        self.assertEqual(v["output.path"], d.out_path)
        self.assertEqual(v["pool.paused"], "false")
        for i, l in enumerate(after["listeners"]):
            for k in ("name", "address", "framing", "connections"):
                self.assertEqual(v["listeners.%d.%s" % (i, k)], str(l[k]), (i, k))
        self.assertEqual(v["listeners.1.schemas"], "sensor24, legacy16")
        # The chart: one point per sample the page was given.
        n = len(dom.points["rate-line"].split())
        self.assertTrue(len(before["history"]["age_s"]) <= n <= len(after["history"]["age_s"]),
                        (n, len(before["history"]["age_s"]), len(after["history"]["age_s"])))
        self.assertGreater(n, 0)
        self.assertEqual(len(dom.points["pool-line"].split()), n)
        self.assertEqual(shot.returncode, 0, shot.stderr[-2000:])
        with open(SCREENSHOT, "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(len(png), 20000)


    def stand_in(self, then):
        """The page as a daemon serves it, then one real status.json, then
        `then` ("503": an error answer; "hang": no answer at all, as from a
        daemon whose loop is stuck while the kernel still accepts)."""
        import http.server

        with MetricsDaemon() as d:
            d.send(b"".join(sensor24(1, float(i)) for i in range(123)))
            d.wait_records(123)
            page = curl(d.url("/")).body
            doc = curl(d.url("/status.json")).body
        answered, release = [], threading.Event()

        class StandIn(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/":
                    body, status, ctype = page, 200, "text/html; charset=utf-8"
                elif self.path == "/status.json" and not answered:
                    answered.append(1)
                    body, status, ctype = doc, 200, "application/json"
                elif then == "hang":
                    release.wait(60)
                    return
                else:
                    body, status, ctype = b"shutting down\n", 503, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
        server.daemon_threads = True
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        try:
            url = "http://127.0.0.1:%d/" % server.server_address[1]
            if then == "hang":
                html = chromium_until(url, 'document.getElementById("err").textContent')
                p = subprocess.CompletedProcess([], 0, html, "")
            else:
                p = chromium(url, "--dump-dom")
        finally:
            release.set()
            server.shutdown()
            server.server_close()
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        dom = DomValues()
        dom.feed(p.stdout)
        self.assertEqual(dom.body.get("data-loaded"), "1", p.stdout[-2000:])
        self.assertEqual(dom.values["records"], "123")   # the last answer's
        self.assertRegex(p.stdout, r'<span id="state" class="bad">unreachable</span>')
        return p.stdout

    def test_the_page_says_when_the_daemon_stops_answering(self):
        self.assertIn("status.json: HTTP 503", self.stand_in("503"))

    def test_the_page_says_when_the_daemon_hangs(self):
        """A fetch with no answer is abandoned after two refresh periods."""
        self.assertIn("status.json: no answer in 4 s", self.stand_in("hang"))

def harness_get(doc, path):
    for k in path.split("."):
        doc = doc[int(k)] if isinstance(doc, list) else doc[k]
    return doc


if __name__ == "__main__":
    unittest.main()
