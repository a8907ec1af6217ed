#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The scale-out proof: ep-glib -> 2 gateways on one port -> 3-node JetStream.

Usage: test-scaleout.py EP-CONSUMER EP-STREAM SCALEOUT-PRODUCER

Topology, all on loopback (free ports, temporary directories, every
process started here and killed at the end, also on failure; children
get SIGKILL if this script dies, PR_SET_PDEATHSIG):
  - 3 nats-server nodes with JetStream in one cluster;
  - 2 ep-consumer gateways (--sink, --reuse-port) sharing one port;
  - 4 producers (scaleout-producer, ep-glib's public API), each logging
    every event it attempts (A) and every STORED id (S).

Scenario "chaos" (must pass): a 3-replica stream; a seeded loop of
SIGKILL gateway + restart, SIGKILL one node + restart (at most one node
down), SIGSTOP/SIGCONT one node (longer than the gateways' --sink-timeout:
acknowledgement timeouts), SIGKILL producer + restart on its queue. Then
everything restarts, every queue is drained, the stream is read, and the
check is: every STORED id is in the stream; every message in the stream is
an event some producer attempted; no id twice; every queue empty.

The first control's faults with correct gateways must pass the check
(so that what the control loses is the switch's doing).

Negative controls (the same check must FAIL):
  - "confirm-before-ack": 3 replicas, gateways with --confirm-before-ack,
    the whole cluster killed and both gateways killed while it is down
    (they confirmed what nats.c could only buffer), then
    each node in turn killed and both gateways killed right after (the
    stream is also briefly without a leader: the flawed gateway confirms
    what nothing stored, the correct one would not);
  - "one-replica": a 1-replica stream, its only node SIGKILLed and its
    store deleted (a machine lost with its disk) while events are being
    acknowledged. (SIGKILL alone loses nothing on nats-server 2.9.10: it
    writes a message before acknowledging it, and the page cache outlives
    the process.)
Each control gets up to 3 blocks of faults to lose something.

Seed: EP_RELIABILITY_SEED (else random, printed). Rounds: 12 (short),
300 (EP_RELIABILITY=long), or EP_RELIABILITY_ROUNDS. Exit 77 when
nats-server is missing. RESULT lines carry the figures.
"""

import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
SINK_TIMEOUT_MS = 1000
PRODUCER_INTERVAL_MS = 8
LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def die_with_parent():
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def log(*args):
    print("#", *args, flush=True)


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_for(predicate, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


class Proc:
    """A child process we can kill, stop and restart with the same command."""

    def __init__(self, name, cmd, logdir):
        self.name = name
        self.cmd = cmd
        self.logpath = os.path.join(logdir, name + ".log")
        self.proc = None
        self.stopped = False

    def start(self):
        with open(self.logpath, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=out,
                                         preexec_fn=die_with_parent)
        self.stopped = False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.running():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
        self.stopped = False

    def stop(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def cont(self):
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False


class Topology:
    def __init__(self, args, workdir):
        self.ep_consumer, self.ep_stream, self.producer_exe = args
        self.dir = workdir
        ports = free_ports(7)
        self.client_ports = ports[0:3]
        self.route_ports = ports[3:6]
        self.gateway_port = ports[6]
        self.gateway_url = "http://127.0.0.1:%d" % self.gateway_port
        self.servers = ",".join("127.0.0.1:%d" % p for p in self.client_ports)
        self.nodes = []
        for i in range(3):
            conf = os.path.join(workdir, "n%d.conf" % i)
            store = os.path.join(workdir, "n%d" % i)
            routes = ", ".join("nats-route://127.0.0.1:%d" % p
                               for j, p in enumerate(self.route_ports) if j != i)
            with open(conf, "w") as f:
                f.write("server_name: n%d\nlisten: 127.0.0.1:%d\n"
                        "jetstream { store_dir: %s }\n"
                        "cluster { name: ep, listen: 127.0.0.1:%d, routes: [%s] }\n"
                        % (i, self.client_ports[i], store, self.route_ports[i], routes))
            self.nodes.append(Proc("n%d" % i, [NATS_SERVER, "-c", conf], workdir))
            self.nodes[-1].store = store
        self.gateways = []
        self.producers = []

    def all_procs(self):
        return self.nodes + self.gateways + self.producers

    def start_cluster(self):
        for n in self.nodes:
            n.start()
        wait_for(self.cluster_accepting, "the 3 nats-server nodes")

    def cluster_accepting(self):
        for port in self.client_ports:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
        return True

    def node_up(self, node):
        port = self.client_ports[self.nodes.index(node)]
        wait_for(lambda: self._accepting(port), node.name)

    @staticmethod
    def _accepting(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def stream_leader(self):
        info = self.stream_cmd("info")
        leader = [l.split()[1] for l in info.stdout.splitlines() if l.startswith("leader ")]
        return leader[0] if info.returncode == 0 and leader and leader[0] != "-" else None

    def wait_stream_leader(self):
        """The stream has a leader again: "at most one node down" means down
        until the cluster took it back, not until its port answers."""
        wait_for(lambda: self.stream_leader() is not None, "the stream's leader", 60)

    def setup_scenario(self, name, stream, replicas, confirm_before_ack=False):
        """Fresh gateways and producers for one scenario, on its own stream."""
        for p in self.gateways + self.producers:
            p.kill()
        self.stream = stream
        self.subject = "ep." + stream.lower()
        self.scenario_dir = os.path.join(self.dir, name)
        os.mkdir(self.scenario_dir)
        gw_args = [self.ep_consumer, "--sink", self.servers, "--stream", stream,
                   "--subject", self.subject, "--create-stream", "--stream-replicas",
                   str(replicas), "--sink-timeout", str(SINK_TIMEOUT_MS), "--reuse-port",
                   "--port", str(self.gateway_port), "-q"]
        if confirm_before_ack:
            gw_args.append("--confirm-before-ack")
        self.gateways = [Proc("%s-gw%d" % (name, i), gw_args, self.scenario_dir)
                         for i in range(2)]
        for g in self.gateways:
            g.start()
        self.wait_gateways()
        self.producers = []
        self.logs = []
        self.next_start = {}
        for i in range(4):
            queue = os.path.join(self.scenario_dir, "queue%d" % i)
            logpath = os.path.join(self.scenario_dir, "producer%d.events" % i)
            self.logs.append(logpath)
            p = Proc("%s-p%d" % (name, i), None, self.scenario_dir)
            p.queue = queue
            p.index = i
            self.producers.append(p)
            self.next_start[i] = 0
            self.restart_producer(p)

    def restart_producer(self, p):
        p.kill()
        start = self.next_start[p.index]
        self.next_start[p.index] += 1000000
        p.cmd = [self.producer_exe, "send", p.queue, self.gateway_url, self.logs[p.index],
                 "p%d" % p.index, str(start), str(PRODUCER_INTERVAL_MS)]
        p.start()

    def wait_gateways(self):
        for g in self.gateways:
            if not g.running():
                raise AssertionError("gateway %s exited (see %s)" % (g.name, g.logpath))
        wait_for(lambda: http_status(self.gateway_url + "/health") == 200,
                 "a healthy gateway", timeout=60)

    def restart_everything(self):
        for p in self.producers:
            p.kill()
        for n in self.nodes:
            if n.stopped:
                n.cont()
            if not n.running():
                n.start()
        for n in self.nodes:
            self.node_up(n)
        for g in self.gateways:
            g.kill()
            g.start()
        # Both gateways healthy: ask until each has answered 200 a few times
        self.wait_gateways()

    def drain(self):
        procs = [subprocess.Popen([self.producer_exe, "drain", p.queue, self.gateway_url, "90"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  preexec_fn=die_with_parent)
                 for p in self.producers]
        results = []
        for pr in procs:
            out, _ = pr.communicate(timeout=120)
            results.append((pr.returncode, out.decode(errors="replace").strip()))
        return results

    def stream_cmd(self, *args):
        return subprocess.run([self.ep_stream, "--server", self.servers, "--stream", self.stream,
                               "--timeout", "10000"] + list(args),
                              capture_output=True, text=True, timeout=300)

    def check(self, name):
        """Drain, read the stream, compare. Returns a dict of figures."""
        self.restart_everything()
        drains = self.drain()
        # After restarts the stream may still be electing its leader
        self.wait_stream_leader()
        attempted, stored = set(), {}
        for path in self.logs:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == "A":
                        attempted.add(parts[1])
                    elif len(parts) == 3 and parts[0] == "S":
                        stored[parts[2]] = parts[1]
        ids_path = os.path.join(self.scenario_dir, "stored.ids")
        with open(ids_path, "w") as f:
            f.write("".join(i + "\n" for i in stored))
        check = self.stream_cmd("check", ids_path)
        if check.returncode not in (0, 1):
            raise AssertionError("ep-stream check failed: %s" % check.stderr)
        for _ in range(3):  # a consumer without a leader right after restarts
            dump = self.stream_cmd("dump")
            if dump.returncode == 0:
                break
            log("%s: ep-stream dump: %s; again" % (name, dump.stderr.strip()))
        if dump.returncode != 0:
            raise AssertionError("ep-stream dump failed: %s" % dump.stderr)
        import json
        seen = {}
        never_sent = 0
        for line in dump.stdout.splitlines():
            event = json.loads(line)
            seen[event["id"]] = seen.get(event["id"], 0) + 1
            if event["payload"] not in attempted:
                never_sent += 1
        missing = sum(1 for i in stored if i not in seen)
        duplicates = sum(n - 1 for n in seen.values() if n > 1)
        queues_left = sum(1 for rc, _ in drains if rc != 0)
        figures = {
            "stored": len(stored), "in_stream": sum(seen.values()), "missing": missing,
            "duplicates": duplicates, "never_sent": never_sent,
            "unlogged": sum(1 for i in seen if i not in stored),
            "queues_not_empty": queues_left,
        }
        summary = check.stdout.strip().splitlines()[-1] if check.stdout.strip() else ""
        log("%s: ep-stream check: %s" % (name, summary))
        for rc, out in drains:
            if rc != 0:
                log("%s: drain: %s" % (name, out))
        return figures


def passed(f):
    return (f["missing"] == 0 and f["duplicates"] == 0 and f["never_sent"] == 0
            and f["queues_not_empty"] == 0 and f["stored"] > 0)


def result(name, seed, figures, **extra):
    items = dict(figures, **extra)
    print("# RESULT scaleout-%s seed=%d %s" % (name, seed, " ".join(
        "%s=%s" % kv for kv in items.items())), flush=True)


def chaos(topo, rng, rounds):
    counts = {"gateway": 0, "node-kill": 0, "node-stop": 0, "producer": 0}
    for r in range(rounds):
        action = rng.choice(list(counts))
        counts[action] += 1
        if action == "gateway":
            g = rng.choice(topo.gateways)
            g.kill()
            time.sleep(rng.uniform(0, 0.3))
            g.start()
        elif action == "node-kill":
            n = rng.choice(topo.nodes)
            n.kill()
            time.sleep(rng.uniform(0.2, 1.5))
            n.start()
            topo.node_up(n)
            topo.wait_stream_leader()
        elif action == "node-stop":
            n = rng.choice(topo.nodes)
            n.stop()
            time.sleep(rng.uniform(SINK_TIMEOUT_MS / 1000 + 0.2, 2.5))
            n.cont()
            topo.wait_stream_leader()
        else:
            topo.restart_producer(rng.choice(topo.producers))
        time.sleep(rng.uniform(0.1, 0.6))
        for g in topo.gateways:
            if not g.running() and g.proc.returncode not in (-signal.SIGKILL,):
                raise AssertionError("gateway %s died: %s (see %s)"
                                     % (g.name, g.proc.returncode, g.logpath))
    return counts


def control_confirm_before_ack(topo, rng):
    # First the whole cluster down for a moment while the producers send:
    # the flawed gateway confirms what nats.c can only buffer while it
    # reconnects, and is killed before it could publish it; a correct
    # gateway refuses those requests (no server reachable) and they are
    # sent again. Without this step the control caught something only when
    # its stream was not created yet (in_stream=0 in 4 of 4 earlier runs)
    # or not at all (3 blocks, 0 missing, at 2528168533).
    for n in topo.nodes:
        n.kill()
    time.sleep(rng.uniform(0.4, 0.8))
    for g in topo.gateways:
        g.kill()
    for n in topo.nodes:
        n.start()
    for n in topo.nodes:
        topo.node_up(n)
    for g in topo.gateways:
        g.start()
    topo.wait_gateways()
    # Then each node in turn: a gateway connected to it loses what it confirmed
    # while reconnecting (it is killed before it could publish)
    for n in rng.sample(topo.nodes, 3):
        n.kill()
        time.sleep(rng.uniform(0.03, 0.15))
        for g in topo.gateways:
            g.kill()
        time.sleep(0.3)
        n.start()
        topo.node_up(n)
        for g in topo.gateways:
            g.start()
        time.sleep(rng.uniform(0.5, 1.0))


def control_one_replica(topo, rng):
    for _ in range(1):
        topo.wait_stream_leader()
        leader = topo.stream_leader()
        node = next(n for n in topo.nodes if n.name == leader)
        time.sleep(rng.uniform(0.3, 0.8))
        node.kill()
        # The node is lost with its disk (SIGKILL alone loses nothing:
        # nats-server writes before it acknowledges; 12 kills, 18,366
        # events, none lost). A 3-replica stream survives this.
        shutil.rmtree(node.store)
        time.sleep(0.3)
        node.start()
        topo.node_up(node)
        wait_for(lambda: http_status(topo.gateway_url + "/health") == 200, "health")


def run_control(topo, name, seed, rng, faults):
    for block in range(1, 4):
        faults(topo, rng)
        f = topo.check(name)
        result(name, seed, f, block=block)
        if not passed(f):
            log("%s: the check failed as it must (block %d)" % (name, block))
            return True
        # Not caught yet: more faults on the same stream, producers again
        for p in topo.producers:
            topo.restart_producer(p)
    return False


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    if not os.access(NATS_SERVER, os.X_OK):
        print("1..0 # SKIP nats-server is not installed")
        sys.exit(77)
    seed = int(os.environ.get("EP_RELIABILITY_SEED") or random.SystemRandom().randrange(2 ** 32))
    long_mode = os.environ.get("EP_RELIABILITY") == "long"
    rounds = int(os.environ.get("EP_RELIABILITY_ROUNDS") or (300 if long_mode else 12))
    log("seed %d, %d chaos rounds; reproduce with EP_RELIABILITY_SEED=%d" % (seed, rounds, seed))
    print("1..4", flush=True)

    workdir = tempfile.mkdtemp(prefix="ep-scaleout-")
    topo = Topology(sys.argv[1:], workdir)
    ok = True
    try:
        t0 = time.monotonic()
        topo.start_cluster()
        rng = random.Random(seed)
        topo.setup_scenario("chaos", "EP_CHAOS", 3)
        counts = chaos(topo, rng, rounds)
        f = topo.check("chaos")
        result("chaos", seed, f, rounds=rounds, seconds="%.0f" % (time.monotonic() - t0),
               **{k.replace("-", "_"): v for k, v in counts.items()})
        good = passed(f)
        ok &= good
        print("%s 1 - chaos: every STORED id in the stream once, nothing never sent, "
              "queues empty" % ("ok" if good else "not ok"), flush=True)

        # The control's faults with correct gateways: the check passes, so
        # what the control loses, --confirm-before-ack lost
        t1 = time.monotonic()
        topo.setup_scenario("faults", "EP_FAULTS", 3)
        control_confirm_before_ack(topo, rng)
        f = topo.check("same-faults")
        result("same-faults", seed, f)
        good = passed(f)
        ok &= good
        print("%s 2 - the first control's faults, correct gateways: the check passes (%.0f s)"
              % ("ok" if good else "not ok", time.monotonic() - t1), flush=True)

        t1 = time.monotonic()
        topo.setup_scenario("cba", "EP_CBA", 3, confirm_before_ack=True)
        failed = run_control(topo, "confirm-before-ack", seed, rng, control_confirm_before_ack)
        ok &= failed
        print("%s 3 - control: --confirm-before-ack under gateway kills fails the check "
              "(%.0f s)" % ("ok" if failed else "not ok", time.monotonic() - t1), flush=True)

        t2 = time.monotonic()
        topo.setup_scenario("r1", "EP_R1", 1)
        failed = run_control(topo, "one-replica", seed, rng, control_one_replica)
        ok &= failed
        print("%s 4 - control: a 1-replica stream whose node is killed fails the check "
              "(%.0f s)" % ("ok" if failed else "not ok", time.monotonic() - t2), flush=True)
    except BaseException:
        ok = False
        raise
    finally:
        for p in topo.all_procs():
            try:
                p.kill()
            except Exception:
                pass
        if ok and not os.environ.get("EP_SCALEOUT_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log("logs and stores kept in %s" % workdir)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
