#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""ep-consumer's inspector page in a real browser: headless Chromium.

Usage: test-inspector-browser.py EP_CONSUMER EP_TOOL OUTPUT_DIR

Opens the page (GET /) in Debian's chromium, driven through the DevTools
protocol over a pipe (--remote-debugging-pipe: no websocket module, no
downloaded browser), then sends events through a real producer (ep-tool
send and flush) and polls the DOM until they appear: the page updates
itself, without a reload. Also: the payload pretty-printed on click, the
name filter, the refused tab with its reason, a fault button that switches
ep-consumer, what the accessibility tree gives a screen reader, and the
page in a narrow window and in dark mode. Screenshots (inspector.png,
inspector-narrow.png, inspector-dark.png) go to OUTPUT_DIR.

Exits 77 (skipped) when chromium is not installed.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

TIMEOUT = 60.0       # each wait: generous, for a loaded 2-core machine
POLL = 0.1

EP_CONSUMER = EP_TOOL = OUTPUT_DIR = CHROMIUM = None


def find_chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """Chromium, headless, spoken to through the DevTools protocol on the
    pipe it reads on fd 3 and writes on fd 4 (messages end with NUL)."""

    def __init__(self, workdir):
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        # The child's fds 3 and 4, from copies above them (no clash)
        child_in = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 10)

        def wire():
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.log = open(os.path.join(workdir, "chromium.log"), "wb")
        # --no-sandbox: the CI runs as root, where Chromium's sandbox will
        # not start; the page is ep-consumer's own, on loopback.
        # --disable-dev-shm-usage: containers' small /dev/shm crashes it.
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--remote-debugging-pipe", "--user-data-dir=" + os.path.join(workdir, "profile"),
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", "--mute-audio", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            preexec_fn=wire, close_fds=False)
        for fd in (to_child_r, from_child_w, child_in, child_out):
            os.close(fd)
        self.buffer = b""
        self.next_id = 0
        self.session = None

    def send(self, method, session=True, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") != self.next_id:
                    continue   # an event, or a late reply
                if "error" in reply:
                    raise AssertionError("%s: %s" % (method, reply["error"]))
                return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_child], [], [], left)[0]:
                raise AssertionError("no reply to %s within %.0f s" % (method, TIMEOUT))
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                raise AssertionError("chromium exited (see chromium.log)")
            self.buffer += chunk

    def open(self, url):
        target = self.send("Target.createTarget", session=False, url="about:blank")
        self.session = self.send("Target.attachToTarget", session=False,
                                 targetId=target["targetId"], flatten=True)["sessionId"]
        self.send("Page.enable")
        self.window(1280, 900)
        self.send("Page.navigate", url=url)

    def window(self, width, height, mobile=False):
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=mobile)

    def eval(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError("%s: %s" % (expression, result["exceptionDetails"]))
        return result["result"].get("value")

    def wait_for(self, expression, what):
        """Polls the page until @expression is truthy; returns its value"""
        deadline = time.monotonic() + TIMEOUT
        value = None
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(POLL)
        raise AssertionError("timed out after %.0f s waiting for %s (last value %r)"
                             % (TIMEOUT, what, value))

    def screenshot(self, name):
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path = os.path.join(OUTPUT_DIR, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data["data"]))
        return path

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_child)
        os.close(self.from_child)
        self.log.close()


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def tool(*args):
    return subprocess.run([EP_TOOL, *args], check=True, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL).stdout


class InspectorBrowserTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="ep-inspector-browser-")
        self.addCleanup(self.dir.cleanup)
        work = self.dir.name
        port_file = os.path.join(work, "port")
        self.consumer_log = open(os.path.join(work, "consumer.log"), "wb")
        self.consumer = subprocess.Popen(
            [EP_CONSUMER, "--port", "0", "--port-file", port_file, "--quiet",
             "--output", os.path.join(work, "events.jsonl")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.consumer_log)
        self.addCleanup(self.stop_consumer)
        deadline = time.monotonic() + TIMEOUT
        while not read_text(port_file):
            if self.consumer.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("ep-consumer did not start")
            time.sleep(0.01)
        self.url = "http://127.0.0.1:%s" % read_text(port_file)
        self.queue = os.path.join(work, "queue")
        self.browser = Browser(work)
        self.addCleanup(self.browser.close)

    def stop_consumer(self):
        self.consumer.terminate()
        self.consumer.wait(timeout=TIMEOUT)
        self.consumer_log.close()

    def faults(self):
        with urllib.request.urlopen(self.url + "/api/faults", timeout=10) as r:
            return json.load(r)

    def post_refused(self):
        """An entry with a character XML forbids: refused by validation"""
        form = urllib.parse.urlencode([
            ("Action", "SendMessageBatch"), ("Version", "2012-11-05"),
            ("SendMessageBatchRequestEntry.1.Id", "refused-1"),
            ("SendMessageBatchRequestEntry.1.MessageBody", "x\x01y"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Name", "Name"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType", "String"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue", "broken"),
        ]).encode()
        with urllib.request.urlopen(self.url + "/api/public/event-batch", form, timeout=10) as r:
            self.assertEqual(r.status, 200)

    def test_page(self):
        b = self.browser
        b.open(self.url + "/")
        b.wait_for("document.getElementById('status')?.textContent.startsWith('Live')",
                   "the page's first poll")
        self.assertEqual(b.eval("document.querySelectorAll('#events tbody tr').length"), 0)

        # A real producer, while the page is open
        tool("send", "-d", self.queue, "browser_play", '{"track":1}')
        tool("send", "-d", self.queue, "--category", "performance", "browser_timing",
             '{"ms":12,"nested":{"a":[1,2]}}')
        tool("send", "-d", self.queue, "browser_play", '{"track":2}')
        ids = [json.loads(line)["id"] for line in tool("dump", "-d", self.queue).splitlines()]
        self.assertEqual(len(ids), 3)
        self.assertIn("delivered 3 events", tool("flush", "-d", self.queue,
                                                 "--consumer", self.url))
        self.post_refused()

        shown = b.wait_for(
            "(() => { const ids = [...document.querySelectorAll('#events tbody td.id')]"
            ".map((td) => td.textContent); return ids.length >= 3 ? ids : null; })()",
            "the three events in the table")
        self.assertEqual(shown, ids[::-1], "newest first")
        rows = b.eval("[...document.querySelectorAll('#events tbody tr')].map((tr) =>"
                      " [...tr.cells].map((c) => c.textContent))")
        self.assertEqual([r[0].strip() for r in rows],
                         ["browser_play", "browser_timing", "browser_play"])
        self.assertEqual(rows[1][1], "PERFORMANCE")
        self.assertEqual(rows[1][2], "/api/public/event-batch")
        self.assertRegex(rows[1][4], r"^\d\d:\d\d:\d\d\.\d{3}$")   # sent time
        self.assertEqual(rows[1][5], "%d B" % len('{"ms":12,"nested":{"a":[1,2]}}'))

        # The payload, pretty-printed, on click
        b.eval("document.querySelectorAll('#events tbody th button')[1].click()")
        payload = b.wait_for("document.querySelector('#events tr.detail pre')?.textContent",
                             "the payload under the row")
        self.assertEqual(payload, json.dumps({"ms": 12, "nested": {"a": [1, 2]}}, indent=2))
        self.assertEqual(b.eval("document.querySelectorAll('#events tbody th button')[1]"
                                ".getAttribute('aria-expanded')"), "true")

        # Counts per name
        b.wait_for("[...document.querySelectorAll('#name-counts tbody tr')].map((tr) =>"
                   " tr.textContent).join(',') === 'browser_play2,browser_timing1'",
                   "the counts per name")

        # The name filter
        b.eval("{ const f = document.getElementById('filter-name'); f.value = 'browser_play';"
               " f.dispatchEvent(new Event('input')); }")
        visible = b.eval("[...document.querySelectorAll('#events tbody tr:not(.detail)')]"
                         ".filter((tr) => !tr.hidden).length")
        self.assertEqual(visible, 2)

        # The refused event, with its reason, in its own tab
        b.eval("document.getElementById('tab-refused').click()")
        refused = b.wait_for(
            "(() => { const tr = document.querySelector('#refused tbody tr');"
            " return tr && !document.getElementById('panel-refused').hidden"
            " ? [...tr.cells].map((c) => c.textContent) : null; })()",
            "the refused event")
        self.assertEqual(refused[1], "refused-1")
        self.assertEqual(refused[2], "InvalidMessageContents")
        self.assertIn("Invalid binary character", refused[3])

        # Request outcomes
        b.eval("document.getElementById('tab-requests').click()")
        b.wait_for("document.querySelector('#statuses').textContent.includes('200: 2')",
                   "the outcomes per status")

        # A fault button switches ep-consumer, and shows it is on
        b.eval("document.getElementById('fault-fail').click()")
        deadline = time.monotonic() + TIMEOUT
        while not self.faults()["fail"]:
            self.assertLess(time.monotonic(), deadline, "the fail button did nothing")
            time.sleep(POLL)
        b.wait_for("document.getElementById('fault-fail').getAttribute('aria-pressed')"
                   " === 'true'", "the fail button pressed")

        self.check_accessibility()

        b.eval("{ document.getElementById('tab-events').click();"
               " const f = document.getElementById('filter-name'); f.value = '';"
               " f.dispatchEvent(new Event('input')); }")
        print("screenshot:", b.screenshot("inspector.png"))

        # A narrow window: nothing wider than the viewport but the tables,
        # which scroll in their own region
        b.window(375, 800, mobile=True)
        b.wait_for("innerWidth === 375", "the narrow window")
        print("screenshot:", b.screenshot("inspector-narrow.png"))
        overflow = b.eval("document.documentElement.scrollWidth - innerWidth")
        self.assertLessEqual(overflow, 0, "the page is wider than a narrow window")
        for tab in ("refused", "requests", "events"):
            b.eval("document.getElementById('tab-%s').click()" % tab)
            overflow = b.eval("(() => { const s = document.querySelector('#panel-%s .scroll');"
                              " return s.scrollWidth - s.clientWidth; })()" % tab)
            self.assertLessEqual(overflow, 0, "the %s table is wider than a narrow window" % tab)

        b.window(1280, 900)
        b.send("Emulation.setEmulatedMedia",
               features=[{"name": "prefers-color-scheme", "value": "dark"}])
        self.assertTrue(b.eval("matchMedia('(prefers-color-scheme: dark)').matches"))
        print("screenshot:", b.screenshot("inspector-dark.png"))

        b.eval("document.getElementById('fault-fail').click()")
        deadline = time.monotonic() + TIMEOUT
        while self.faults()["fail"]:
            self.assertLess(time.monotonic(), deadline, "the fail button did not switch back")
            time.sleep(POLL)

    def check_accessibility(self):
        """What a screen reader gets: the accessibility tree Chromium builds"""
        b = self.browser
        nodes = b.send("Accessibility.getFullAXTree")["nodes"]

        def named(role):
            return {n.get("name", {}).get("value") for n in nodes
                    if n.get("role", {}).get("value") == role and not n.get("ignored")}

        fail = [n for n in nodes if n.get("name", {}).get("value") == "Fail every request"
                and not n.get("ignored")]
        pressed = [p["value"]["value"] for n in fail for p in n.get("properties", [])
                   if p["name"] == "pressed"]
        self.assertEqual(pressed, ["true"], fail)
        self.assertIn("Latency (ms)", named("spinbutton"))
        self.assertIn("with status", named("combobox"))
        self.assertEqual(sorted((t or "").split(" ")[0] for t in named("tab")),
                         ["Counts", "Events", "Refused", "Requests"])
        self.assertIn("The last requests, newest first", named("table"))
        self.assertTrue({"Time", "Status", "Accepted"} <= named("columnheader"),
                        named("columnheader"))
        # Every control has a label
        unlabelled = b.eval("[...document.querySelectorAll('input, select')]"
                            ".filter((e) => e.labels.length === 0).map((e) => e.id)")
        self.assertEqual(unlabelled, [])


def main():
    global EP_CONSUMER, EP_TOOL, OUTPUT_DIR, CHROMIUM
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    EP_CONSUMER, EP_TOOL, OUTPUT_DIR = sys.argv[1:4]
    CHROMIUM = find_chromium()
    if CHROMIUM is None:
        print("SKIP: chromium is not installed (apt-get install chromium)")
        return 77
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    program = unittest.main(argv=[sys.argv[0]] + sys.argv[4:], exit=False, verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
