#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Black-box tests of tools/ep-tool, delivering to a real tools/ep-consumer.

Usage: test-tool.py PATH-TO-ep-tool PATH-TO-ep-consumer [unittest options]
"""

import json
import os
import pty
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

EP_TOOL = None
EP_CONSUMER = None
TIMEOUT = 20.0


def run_tool(*args, check=True, env=None):
    proc = subprocess.run([EP_TOOL, *args], capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL, env=env)
    if check and proc.returncode != 0:
        raise AssertionError("ep-tool %s failed (%d): %s" % (" ".join(args), proc.returncode,
                                                             proc.stderr))
    return proc


def read_file(path):
    with open(path) as f:
        return f.read().strip()


class Consumer:
    """ep-consumer on a free loopback port, writing JSON lines to a file."""

    def __init__(self, workdir, *extra):
        self.output = os.path.join(workdir, "events.jsonl")
        port_file = os.path.join(workdir, "port")
        self.proc = subprocess.Popen([EP_CONSUMER, "--port", "0", "--port-file", port_file,
                                      "--output", self.output, "--quiet", *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + TIMEOUT
        while not (os.path.exists(port_file) and read_file(port_file)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("ep-consumer did not start: %s" % self.proc.stderr.read())
            time.sleep(0.01)
        self.url = "http://127.0.0.1:%s" % read_file(port_file)

    def events(self):
        if not os.path.exists(self.output):
            return []
        with open(self.output) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=TIMEOUT)
        self.proc.stderr.close()


class ToolTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="ep-tool-test-")
        self.queue = os.path.join(self.workdir, "queue")

    def tearDown(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def status(self):
        return json.loads(run_tool("status", "-d", self.queue, "--json").stdout)

    def test_send_status_dump(self):
        self.assertEqual(run_tool("send", "-d", self.queue, "play", '{"n":1}').stdout.strip(),
                         "stored")
        run_tool("send", "-d", self.queue, "--category", "performance", "-H", "x-trace=t1",
                 "timing", '{"n":2}')
        status = self.status()
        self.assertEqual(status["queue_length"], 2)
        self.assertGreater(status["queue_bytes"], 0)
        self.assertFalse(status["outage"])
        self.assertIsNotNone(status["oldest_event_age_s"])
        self.assertEqual(status["counters"], {"consentFilteredEvents": {},
                                              "validationFailedEvents": {},
                                              "storingFailedEvents": {}})

        text = run_tool("status", "-d", self.queue).stdout
        self.assertIn("events queued:     2", text)

        events = [json.loads(line) for line in
                  run_tool("dump", "-d", self.queue).stdout.splitlines()]
        self.assertEqual([e["name"] for e in events], ["play", "timing"])
        self.assertEqual(events[1]["payload"], '{"n":2}')
        self.assertEqual(events[1]["headers"]["x-trace"], "t1")
        self.assertEqual(events[1]["headers"]["consent-category"], "PERFORMANCE")
        self.assertEqual(events[0]["headers"]["app-name"], "ep-tool")

    def test_invalid_event_is_counted(self):
        proc = run_tool("send", "-d", self.queue, "bad", "\x01", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("invalid", proc.stdout)
        self.assertEqual(self.status()["counters"]["validationFailedEvents"], {"bad": 1})

    def test_dump_pages(self):
        # More than one page of the dump (256 events).
        for i in range(300):
            run_tool("send", "-d", self.queue, "many", str(i))
        lines = run_tool("dump", "-d", self.queue).stdout.splitlines()
        self.assertEqual([json.loads(l)["payload"] for l in lines], [str(i) for i in range(300)])

    def test_purge(self):
        for i in range(7):
            run_tool("send", "-d", self.queue, "purged", '{"i":%d}' % i)
        run_tool("send", "-d", self.queue, "--category", "performance", "purged", "{}")
        proc = run_tool("purge", self.queue)
        self.assertIn("purged 8 events", proc.stdout)
        self.assertEqual(self.status()["queue_length"], 0)
        self.assertEqual(run_tool("dump", "-d", self.queue).stdout, "")
        proc = run_tool("purge", "-d", self.queue, "--json")
        self.assertEqual(json.loads(proc.stdout), {"purged": 0, "queue_length": 0})

    def test_flush_delivers(self):
        consumer = Consumer(self.workdir)
        try:
            for i in range(23):
                run_tool("send", "-d", self.queue, "flushed", '{"i":%d}' % i)
            ids = [json.loads(l)["id"] for l in run_tool("dump", "-d", self.queue).stdout.splitlines()]
            proc = run_tool("flush", "-d", self.queue, "--consumer", consumer.url)
            self.assertIn("delivered 23 events", proc.stdout)
            self.assertEqual(proc.stderr, "")   # no progress line: not a terminal
            self.assertEqual(self.status()["queue_length"], 0)
            self.assertEqual(sorted(e["id"] for e in consumer.events()), sorted(ids))
        finally:
            consumer.stop()

    def test_flush_progress_on_a_terminal(self):
        consumer = Consumer(self.workdir)
        master, slave = pty.openpty()
        try:
            run_tool("send", "-d", self.queue, "one", "{}")
            proc = subprocess.run([EP_TOOL, "flush", "-d", self.queue, "--consumer", consumer.url],
                                  stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                                  timeout=TIMEOUT, text=True)
            os.close(slave)
            slave = None
            self.assertEqual(proc.returncode, 0)
            progress = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:   # EIO: the terminal has no writer left
                    break
                if not chunk:
                    break
                progress += chunk
            self.assertIn(b"\rdelivered 0 of 1 events", progress)
            self.assertIn(b"delivered 1 of 1 events, 0 left", progress)
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
            consumer.stop()

    def test_flush_json(self):
        consumer = Consumer(self.workdir)
        try:
            for i in range(3):
                run_tool("send", "-d", self.queue, "n", "{}")
            proc = run_tool("flush", "-d", self.queue, "--consumer", consumer.url, "--json")
            self.assertEqual(json.loads(proc.stdout),
                             {"ok": True, "delivered": 3, "queue_length": 0})
        finally:
            consumer.stop()
        failing = Consumer(self.workdir, "--fail-rate", "1", "--fail-status", "503")
        try:
            run_tool("send", "-d", self.queue, "n", "{}")
            proc = run_tool("flush", "-d", self.queue, "--consumer", failing.url, "--json",
                            check=False)
            self.assertEqual(proc.returncode, 1)
            result = json.loads(proc.stdout)
            self.assertEqual((result["ok"], result["delivered"], result["queue_length"]),
                             (False, 0, 1))
            self.assertIn("503", result["error"])
        finally:
            failing.stop()

    def test_flush_failure_keeps_events(self):
        consumer = Consumer(self.workdir, "--fail-rate", "1", "--fail-status", "503")
        try:
            run_tool("send", "-d", self.queue, "kept", "{}")
            proc = run_tool("flush", "-d", self.queue, "--consumer", consumer.url, check=False)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("503", proc.stderr)
            status = self.status()
            self.assertEqual(status["queue_length"], 1)
            self.assertTrue(status["outage"])
        finally:
            consumer.stop()

    def test_locked_queue(self):
        # A producer holding the directory: another ep-tool, kept in its flush
        # by a "consumer" that accepts the connection and never answers.
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        silent.settimeout(TIMEOUT)
        url = "http://127.0.0.1:%d" % silent.getsockname()[1]
        run_tool("send", "-d", self.queue, "x", "{}")
        holder = subprocess.Popen([EP_TOOL, "flush", "-d", self.queue, "--consumer", url,
                                   "--timeout", "60000"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL)
        try:
            connection, _ = silent.accept()   # the holder opened the queue and posts
            with connection:
                connection.settimeout(TIMEOUT)
                self.assertTrue(connection.recv(4096).startswith(b"POST "))
                # status and dump read it as it is, and say it is in use
                status = self.status()
                self.assertTrue(status["in_use"], status)
                self.assertEqual(status["queue_length"], 1, status)
                self.assertIn("in use:            yes", run_tool("status", "-d", self.queue).stdout)
                proc = run_tool("dump", "-d", self.queue)
                self.assertEqual([json.loads(l)["name"] for l in proc.stdout.splitlines()], ["x"])
                self.assertIn("in use by a running application", proc.stderr)
                # send and flush would change it: refused
                for args in (("send", "-d", self.queue, "y", "{}"),
                             ("flush", "-d", self.queue, "--consumer", url)):
                    proc = run_tool(*args, check=False)
                    self.assertNotEqual(proc.returncode, 0, args)
                    self.assertIn("in use by another producer", proc.stderr, args)
        finally:
            holder.kill()
            holder.wait()
            silent.close()
        # Free again once the holder is gone (even killed), and nothing was lost.
        status = self.status()
        self.assertEqual((status["queue_length"], status["in_use"]), (1, False))

    def test_unusable_queue_dir(self):
        blocker = os.path.join(self.workdir, "a-file")
        open(blocker, "w").close()
        proc = run_tool("send", "-d", os.path.join(blocker, "queue"), "n", "{}", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("cannot open the queue", proc.stderr)
        proc = run_tool("status", "-d", blocker, check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("not a directory", proc.stderr)

    def test_missing_queue_dir_is_not_created(self):
        for command in ("status", "dump", "flush"):
            proc = run_tool(command, "-d", self.queue, check=False)
            self.assertEqual(proc.returncode, 1, command)
            self.assertEqual(proc.stdout, "", command)
            self.assertIn("no queue in %s: the directory does not exist" % self.queue,
                          proc.stderr, command)
            self.assertFalse(os.path.exists(self.queue), command)

    def test_version(self):
        proc = run_tool("--version")
        self.assertRegex(proc.stdout, r"^ep-tool \d+\.\d+\.\d+\n$")
        version = proc.stdout.split()[1]
        self.assertEqual(json.loads(run_tool("--version", "--json").stdout),
                         {"version": version})

    def test_send_json(self):
        result = json.loads(run_tool("send", "-d", self.queue, "--json", "play", "{}").stdout)
        self.assertEqual(result["result"], "stored")
        dumped = json.loads(run_tool("dump", "-d", self.queue, "--json").stdout)
        self.assertEqual(result["id"], dumped["id"])

    def test_refused_send_says_why(self):
        proc = run_tool("send", "-d", self.queue, "bad", "\x01", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stdout, "dropped: invalid event\n")
        # the line ep-glib logged for it, with the detail only it knows
        self.assertRegex(proc.stderr, r"^ep-tool: Event 'bad' dropped .*control character")
        proc = run_tool("send", "-d", self.queue, "--json", "big", "x" * 30000, check=False)
        self.assertEqual(proc.returncode, 1)
        result = json.loads(proc.stdout)
        self.assertEqual(result["result"], "validation-failed")
        self.assertIn("20480", result["reason"])

    def corrupt_queue(self):
        """A queue whose last record is damaged: opening it discards that
        record, and ep-glib logs a warning about it."""
        run_tool("send", "-d", self.queue, "kept", "{}")
        run_tool("send", "-d", self.queue, "damaged", "{}")
        journals = sorted(f for f in os.listdir(self.queue) if f.endswith(".journal"))
        path = os.path.join(self.queue, journals[-1])
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            data[-20] ^= 0xFF
            f.seek(0)
            f.write(data)

    def test_library_log_does_not_leak(self):
        self.corrupt_queue()
        proc = run_tool("status", "-d", self.queue, "--json")
        self.assertEqual(proc.stderr, "")
        status = json.loads(proc.stdout)
        self.assertEqual((status["queue_length"], status["discarded_records"]), (1, 1))

    def test_verbose_shows_library_log(self):
        self.corrupt_queue()
        proc = run_tool("status", "-d", self.queue, "--verbose")
        self.assertRegex(proc.stderr, r"ep-tool: ep-glib: .*discarded 1 corrupt")
        self.assertNotIn("WARNING", proc.stderr)

    def test_dump_redacts_access_token(self):
        run_tool("send", "-d", self.queue, "--token", "s3cr3t-token", "--client-id", "c1",
                 "play", "{}")
        proc = run_tool("dump", "-d", self.queue)
        self.assertNotIn("s3cr3t-token", proc.stdout)
        headers = json.loads(proc.stdout)["headers"]
        self.assertEqual(headers["authorization"], "<redacted>")
        self.assertEqual(headers["client-id"], "c1")
        shown = json.loads(run_tool("dump", "-d", self.queue, "--show-secrets").stdout)
        self.assertEqual(shown["headers"]["authorization"], "s3cr3t-token")

    def app_env(self):
        env = dict(os.environ, HOME=os.path.join(self.workdir, "home"),
                   XDG_STATE_HOME=os.path.join(self.workdir, "state"))
        os.makedirs(env["HOME"], exist_ok=True)
        return env

    def test_app_finds_default_queue(self):
        # --app NAME: the queue an application named NAME has by default.
        env = self.app_env()
        run_tool("send", "--app", "my-player", "play", "{}", env=env)
        expected = os.path.join(self.workdir, "state", "ep-glib", "my-player")
        status = json.loads(run_tool("status", "--app", "my-player", "--json", env=env).stdout)
        self.assertEqual(status["queue_dir"], expected)
        self.assertEqual(status["queue_length"], 1)
        [event] = [json.loads(l) for l in
                   run_tool("dump", "--app", "my-player", env=env).stdout.splitlines()]
        self.assertEqual(event["headers"]["app-name"], "my-player")
        proc = run_tool("status", "--app", "nobody", env=env, check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(os.path.join("ep-glib", "nobody"), proc.stderr)

    def test_app_finds_flatpak_queue(self):
        # A Flatpak app's queue is under its own XDG_STATE_HOME.
        env = self.app_env()
        sandboxed = os.path.join(env["HOME"], ".var", "app", "org.example.Player", ".local",
                                 "state", "ep-glib", "player")
        run_tool("send", "-d", sandboxed, "play", "{}", env=env)
        status = json.loads(run_tool("status", "--app", "player", "--json", env=env).stdout)
        self.assertEqual(status["queue_dir"], sandboxed)
        self.assertEqual(status["queue_length"], 1)

    def test_dump_follow(self):
        # dump --follow prints what is queued, then each event as it is
        # queued, without holding the queue (send still works).
        run_tool("send", "-d", self.queue, "first", "{}")
        follower = subprocess.Popen([EP_TOOL, "dump", "--follow", "-d", self.queue],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True)
        self.addCleanup(lambda: follower.poll() is None and follower.kill())
        lines = []

        def read_line():
            ready = selectors.DefaultSelector()
            ready.register(follower.stdout, selectors.EVENT_READ)
            if not ready.select(TIMEOUT):
                raise AssertionError("dump --follow printed nothing within %.0f s" % TIMEOUT)
            lines.append(json.loads(follower.stdout.readline()))

        read_line()
        self.assertEqual(lines[0]["name"], "first")
        run_tool("send", "-d", self.queue, "second", "{}")
        read_line()
        self.assertEqual(lines[1]["name"], "second")
        follower.terminate()
        follower.wait(TIMEOUT)
        follower.stdout.close()
        follower.stderr.close()

    def test_usage_errors(self):
        proc = run_tool("status", check=False)
        self.assertIn("--queue-dir is required", proc.stderr)
        proc = run_tool("status", "--app", "a", "-d", self.queue, check=False)
        self.assertIn("--app and --queue-dir", proc.stderr)
        proc = run_tool("status", "--app", "../a", check=False)
        self.assertIn("not an application name", proc.stderr)
        proc = run_tool("bogus", "-d", self.queue, check=False)
        self.assertIn("unknown command", proc.stderr)
        proc = run_tool("send", "-d", self.queue, "--category", "nope", "n", "{}", check=False)
        self.assertIn("unknown category", proc.stderr)
        self.assertIn("Examples", run_tool("--help").stdout)


def main():
    global EP_TOOL, EP_CONSUMER
    if len(sys.argv) < 3:
        sys.exit("usage: test-tool.py EP-TOOL EP-CONSUMER [unittest options]")
    EP_TOOL, EP_CONSUMER = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)


if __name__ == "__main__":
    main()
