#!/usr/bin/env python3
"""Postie beside Postfix on the same machine, at the same durability.

Usage: bench/run [--rounds N] [--workloads a,b,...] [--scale F] [--postie BINARY]

Starts a private Postie and a private Postfix (configuration, queue and Maildirs under one
temporary folder, loopback ports, delivery to <mail root>/example.test/<user>/), runs every
workload against each server, alternating the two in every round, and prints the medians. A
delivery counts only when its file is in the Maildir (or, for relaying, when smtp-sink has the
message); the script checks the count. Everything it starts, it stops.

Workloads (bench/README.md says more):
  a  throughput: smtp-source -d -s 20 -m 20000 -l 4096, one local recipient
  b  churn: 5,000 x 4 KiB, one message per connection, 20 sessions
  c  10 local recipients per message, 2,000 messages, 20 sessions
  d  large: 200 x 10 MiB over 4 sessions
  e  idle: connections that got the greeting and an EHLO reply, held open (2,000; Postie 10,000 too)
  f  latency: 300 sequential messages on one connection, MAIL to the 250 after DATA
  g  relay: 10,000 messages relayed to a local smtp-sink
"""
import argparse, json, os, resource, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# smtp-source -r 10 sends to bench, 2bench, …, 10bench.
USERS = ["bench"] + [f"{i}bench" for i in range(2, 11)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(512)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def proc_cpu(pid, children=False):
    """User + system seconds of a process (and of its reaped children)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_memory(pid):
    """(RSS, PSS) in KiB."""
    rss = pss = 0
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def children_of(pid):
    result = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                result.append(int(entry))
    return result


class Server:
    name = "?"
    port = 0
    mail_root = ""

    def pids(self):
        raise NotImplementedError

    def cpu(self):
        raise NotImplementedError

    def memory(self):
        rss = pss = 0
        for pid in self.pids():
            r, p = proc_memory(pid)
            rss += r
            pss += p
        return rss, pss

    def maildir(self, user):
        return os.path.join(self.mail_root, "example.test", user, "new")

    def count(self, users):
        total = 0
        for u in users:
            try:
                total += len(os.listdir(self.maildir(u)))
            except FileNotFoundError:
                pass
        return total

    def clear(self):
        # Moved aside, not emptied: on ext4 without a journal, every inode freed in the last half
        # minute slows each file creation down (the allocator skips them one by one), which would
        # charge the next workload, of either server, for the clearing. The trash goes with the
        # temporary folder at the end.
        trash = os.path.join(os.path.dirname(self.mail_root), "trash")
        os.makedirs(trash, exist_ok=True)
        for u in USERS:
            d = self.maildir(u)
            if os.path.isdir(d):
                st = os.stat(d)
                os.rename(d, os.path.join(trash, f"{self.name}-{u}-{time.monotonic_ns()}"))
                os.mkdir(d, 0o700)
                os.chown(d, st.st_uid, st.st_gid)


class Postie(Server):
    name = "Postie"
    fsyncs = ("before 250: the message file (a small message written whole with its envelope at its end, "
              "into a file made ahead or reused, whose name is already durable): an fdatasync each for one or two, "
              "one syncfs shared by a larger batch; at delivery: the Maildir file (written once, hard-linked into "
              "further mailboxes), then the new/ folders, batched the same way, before the spool file is released")

    def __init__(self, binary, base, sink_port, dkim=None, verify_dns=None, admin=False):
        self.base = os.path.join(base, "postie")
        self.port = free_port()
        self.mail_root = os.path.join(self.base, "mail")
        os.makedirs(self.base)
        users = ", ".join(f'"{u}"' for u in USERS)
        # --dkim: the load's From: domain (load.test) gets keys, and the load (a trusted network)
        # is signed with them.
        signing = ""
        if dkim:
            selectors = {"rsa": ["rsa"], "ed25519": ["ed25519"], "dual": ["rsa", "ed25519"]}[dkim]
            for algorithm in selectors:
                subprocess.run([binary, "dkim", "keygen", "--domain", "load.test", "--selector", algorithm, "--algorithm", algorithm,
                                "--output", os.path.join(self.base, algorithm + ".pem")], check=True, capture_output=True)
            signing = f'[dkim."load.test"]\nselectors = {json.dumps(selectors)}\nkey_dir = "{self.base}"\n'

        # --verify: the load comes from a stranger (no trusted network), so Postie checks SPF, DKIM,
        # DMARC and ARC of every message against the tests' DNS server (verify_dns: its port).
        if verify_dns:
            relay = f'[relay]\ndns_server = "127.0.0.1:{verify_dns}"\n\n[verify]\nenabled = true\n'
        else:
            relay = f'[relay]\ntrusted_networks = ["127.0.0.0/8"]\nroutes = {{ "sink.test" = "127.0.0.1:{sink_port}" }}\n'
        # --admin: the admin listener on a free port, scraped once a second while the server runs
        # (as Prometheus would); without it, no listener.
        self.admin_port = free_port() if admin else None
        admin_section = f'[admin]\nlisten = ["127.0.0.1:{self.admin_port}"]\n' if admin else '[admin]\nlisten = []\n'
        config = f"""
hostname = "postie.bench.test"
data_dir = "{self.base}/data"
mail_root = "{self.mail_root}"
log_level = "info"

[smtp]
listen = ["127.0.0.1:{self.port}"]
max_connections = 20000
max_connections_per_client = 20000
max_message_size = 52428800
# smtp-source -d hands out messages to its sessions unevenly; Postfix has no such limit.
max_messages_per_connection = 1000000

{relay}

[domains."example.test"]
users = [{users}]

{signing}
{admin_section}"""
        open(os.path.join(self.base, "postie.toml"), "w").write(config)
        self.log = open(os.path.join(self.base, "postie.log"), "w")
        self.process = subprocess.Popen([binary, "serve", "--config", os.path.join(self.base, "postie.toml")],
                                        stdout=self.log, stderr=self.log)
        wait_port(self.port)
        self.scraping = None
        if self.admin_port:
            self.scraping = threading.Event()
            threading.Thread(target=self.scrape, daemon=True).start()

    def scrape(self):
        import urllib.request
        while not self.scraping.wait(1.0):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5).read()
            except OSError:
                pass

    def pids(self):
        return [self.process.pid]

    def cpu(self):
        return proc_cpu(self.process.pid)

    def stop(self):
        if self.scraping:
            self.scraping.set()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Postfix(Server):
    name = "Postfix"
    fsyncs = ("before 250: the queue file (cleanup(8) fsyncs it); at delivery: each Maildir file "
              "(virtual(8) fsyncs it before the rename into new/)")

    def __init__(self, base, sink_port):
        self.base = os.path.join(base, "postfix")
        self.port = free_port()
        self.mail_root = os.path.join(self.base, "mail")
        conf = os.path.join(self.base, "conf")
        for d in ("conf", "queue", "data", "mail"):
            os.makedirs(os.path.join(self.base, d))
        shutil.chown(self.mail_root, "nobody", "nogroup")
        shutil.chown(os.path.join(self.base, "data"), "postfix")
        maps = ", ".join(f"{u}@example.test=example.test/{u}/" for u in USERS)
        open(os.path.join(conf, "main.cf"), "w").write(f"""
compatibility_level = 3.6
queue_directory = {self.base}/queue
data_directory = {self.base}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = sink.test
transport_maps = inline:{{ sink.test=smtp:[127.0.0.1]:{sink_port} }}
virtual_mailbox_domains = example.test
virtual_mailbox_base = {self.mail_root}
virtual_mailbox_maps = inline:{{ {maps} }}
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_dns_support_level = disabled
alias_maps =
alias_database =
local_recipient_maps =
biff = no
maillog_file = {self.base}/maillog
maillog_file_prefixes = {self.base}
message_size_limit = 52428800
virtual_mailbox_limit = 0
default_process_limit = 2500
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
virtual_destination_concurrency_limit = 20
smtp_destination_concurrency_limit = 20
""")
        # The same services as the interop tests' private Postfix.
        services = open(os.path.join(ROOT, "Tests", "Scripts", "postfix_master.cf")).read()
        open(os.path.join(conf, "master.cf"), "w").write(f"127.0.0.1:{self.port} inet n - n - - smtpd\n" + services)
        self.conf = conf
        started = subprocess.run(["postfix", "-c", conf, "start"], capture_output=True, text=True)
        if started.returncode != 0:
            raise RuntimeError(f"postfix did not start: {started.stdout} {started.stderr}")
        pidfile = os.path.join(self.base, "queue", "pid", "master.pid")
        deadline = time.monotonic() + 30
        while not os.path.exists(pidfile) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.master = int(open(pidfile).read().split()[0])
        wait_port(self.port)

    def pids(self):
        return [self.master] + children_of(self.master)

    def cpu(self):
        return proc_cpu(self.master, children=True) + sum(proc_cpu(p) for p in children_of(self.master))

    def stop(self):
        subprocess.run(["postfix", "-c", self.conf, "stop"], capture_output=True)
        deadline = time.monotonic() + 30
        while os.path.exists(f"/proc/{self.master}") and time.monotonic() < deadline:
            time.sleep(0.1)
        if os.path.exists(f"/proc/{self.master}"):
            subprocess.run(["postfix", "-c", self.conf, "abort"], capture_output=True)


class Sampler:
    """Peak RSS and PSS of a server's processes while a workload runs."""

    def __init__(self, server, interval=0.05):
        self.server, self.interval = server, interval
        self.peak_rss = self.peak_pss = 0
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            rss, pss = self.server.memory()
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            time.sleep(self.interval)

    def stop(self):
        self.running = False
        self.thread.join()


def smtp_source(server, sessions, messages, size, to, recipients=1, persistent=False):
    cmd = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size), "-f", "load@load.test", "-t", to,
           "-M", "load.test"]
    if recipients > 1:
        cmd += ["-r", str(recipients)]
    if persistent:
        cmd.append("-d")
    cmd.append(f"127.0.0.1:{server.port}")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


SETTLE_SECONDS = 10.0


def settle():
    """What the previous run left behind (the disk's write-back, Postfix removing its queue files)
    finishes before the next run, not during it, whichever server comes next."""
    os.sync()
    time.sleep(SETTLE_SECONDS)
    os.sync()


def run_delivery(server, label, expected, users, start_client, timeout):
    """Runs a client, waits until `expected` files are in the Maildirs; returns the figures."""
    server.clear()
    settle()
    cpu0 = server.cpu()
    idle_rss, idle_pss = server.memory()
    sampler = Sampler(server)
    t0 = time.monotonic()
    client = start_client()
    deadline = t0 + timeout
    count = 0
    while time.monotonic() < deadline:
        # Listing a Maildir of thousands of files costs milliseconds of the CPUs the servers run
        # on: rarely while the client is still sending, often once it is done.
        running = client.poll() is None
        if not running and client.returncode != 0:
            raise RuntimeError(f"{server.name} {label}: client failed: {client.stderr.read().decode()[-500:]}")
        count = server.count(users)
        if count >= expected:
            break
        if running:
            try:
                client.wait(timeout=0.25)  # returns as soon as the client is done
            except subprocess.TimeoutExpired:
                pass
        else:
            time.sleep(0.01)
    elapsed = time.monotonic() - t0
    client.wait()
    sampler.stop()
    cpu = server.cpu() - cpu0
    if count != expected:
        raise RuntimeError(f"{server.name} {label}: {count} of {expected} delivered after {timeout} s")
    return {"rate": expected / elapsed, "cpu_per_1000": cpu / expected * 1000, "rss": sampler.peak_rss,
            "pss": sampler.peak_pss, "rss_above_idle": sampler.peak_rss - idle_rss, "seconds": elapsed}


def workload_relay(server, messages, sink_port):
    cmd = ["smtp-sink", "-M", str(messages)] + (["-u", "nobody"] if os.geteuid() == 0 else []) + [f"127.0.0.1:{sink_port}", "256"]
    sink = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)
    if sink.poll() is not None:
        raise RuntimeError(f"smtp-sink did not start: {sink.stderr.read().decode()}")
    try:
        cpu0 = server.cpu()
        sampler = Sampler(server)
        t0 = time.monotonic()
        client = smtp_source(server, 20, messages, 4096, "user@sink.test", persistent=True)
        sink.wait(timeout=max(120, messages / 20))
        elapsed = time.monotonic() - t0
        if sink.returncode != 0:
            raise RuntimeError(f"{server.name} g: smtp-sink failed: {sink.stderr.read().decode()[-300:]}")
        client.wait()
        sampler.stop()
        cpu = server.cpu() - cpu0
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait()
            raise RuntimeError(f"{server.name} g: smtp-sink did not get all {messages} messages")
    return {"rate": messages / elapsed, "cpu_per_1000": cpu / messages * 1000, "rss": sampler.peak_rss,
            "pss": sampler.peak_pss, "seconds": elapsed}


def workload_idle(server, connections):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < connections + 100:
        raise RuntimeError(f"open files limit {soft} is below {connections + 100}")
    before_rss, before_pss = server.memory()
    socks = []
    errors = 0
    try:
        for _ in range(connections):
            try:
                s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                f = s.makefile("rb")
                if not f.readline().startswith(b"220"):
                    errors += 1
                s.sendall(b"EHLO idle.test\r\n")
                while True:
                    line = f.readline()
                    if not line or line[3:4] != b"-":
                        break
                if not line.startswith(b"250"):
                    errors += 1
                socks.append((s, f))
            except OSError:
                errors += 1
        time.sleep(1)
        after_rss, after_pss = server.memory()
        # Every connection still answers.
        for s, f in socks:
            try:
                s.sendall(b"NOOP\r\n")
                if not f.readline().startswith(b"250"):
                    errors += 1
            except OSError:
                errors += 1
    finally:
        for s, f in socks:
            try:
                s.sendall(b"QUIT\r\n")
            except OSError:
                pass
            f.close()
            s.close()
    time.sleep(1)
    return {"connections": connections, "errors": errors,
            "kib_per_conn_pss": (after_pss - before_pss) / connections,
            "kib_per_conn_rss": (after_rss - before_rss) / connections}


def workload_latency(server, messages):
    import smtplib
    line = b"x" * 76 + b"\r\n"
    body = b"From: <load@load.test>\r\nSubject: latency\r\n\r\n" + line * (4096 // len(line))
    server.clear()
    settle()
    s = smtplib.SMTP("127.0.0.1", server.port, timeout=60)
    s.ehlo("latency.test")
    times = []
    for _ in range(messages):
        t = time.perf_counter()
        code, _ = s.mail("load@load.test")
        assert code == 250, code
        code, _ = s.rcpt("bench@example.test")
        assert code == 250, code
        code, _ = s.data(body)
        assert code == 250, code
        times.append(time.perf_counter() - t)
    s.quit()
    times.sort()
    deadline = time.monotonic() + 60
    while server.count(["bench"]) < messages and time.monotonic() < deadline:
        time.sleep(0.05)
    if server.count(["bench"]) != messages:
        raise RuntimeError(f"{server.name} f: {server.count(['bench'])} of {messages} delivered")
    return {"p50_ms": 1000 * times[len(times) // 2], "p99_ms": 1000 * times[min(len(times) - 1, len(times) * 99 // 100)]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postie", default=os.path.join(ROOT, ".build", "release", "postie"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workloads", default="a,b,c,d,e,f,g")
    p.add_argument("--scale", type=float, default=1.0, help="multiply message and connection counts (CI: 0.02)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, configuration)")
    p.add_argument("--settle", type=float, default=10.0, help="seconds of quiet before each run (CI: 0)")
    p.add_argument("--dkim", choices=["rsa", "ed25519", "dual"], help="Postie DKIM-signs the load with a key of this kind (or both)")
    p.add_argument("--admin", action="store_true", help="Postie's admin listener on, its /metrics scraped once a second")
    p.add_argument("--verify", action="store_true",
                   help="Postie checks the load as a stranger's mail (SPF, DMARC; a private DNS server); workloads a-f only")
    a = p.parse_args()
    global SETTLE_SECONDS
    SETTLE_SECONDS = a.settle
    workloads = a.workloads.split(",")
    n = lambda x: max(4, int(x * a.scale))

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    base = tempfile.mkdtemp(prefix="postie-bench-")
    os.chmod(base, 0o755)
    sink_port = free_port()
    servers = []
    results = {}  # (workload, server) -> [figures]
    verify_dns = None
    dns = None
    if a.verify:
        zone = os.path.join(base, "zone.json")
        json.dump({"load.test": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
                   "_dmarc.load.test": {"TXT": ["v=DMARC1; p=reject"]}}, open(zone, "w"))
        dns = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests", "Scripts", "dns_server.py"), zone],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        verify_dns = int(dns.stdout.readline().split()[1])
    try:
        servers.append(Postie(a.postie, base, sink_port, a.dkim, verify_dns, a.admin))
        servers.append(Postfix(base, sink_port))
        for rnd in range(a.rounds):
            if rnd > 0:
                # Every round starts from fresh servers (each in a folder of its own): what one
                # round left running, such as Postfix's delivery agents idling for 100 seconds,
                # must not weigh on the next.
                for s in servers:
                    s.stop()
                servers = []
                round_base = os.path.join(base, f"round{rnd + 1}")
                os.makedirs(round_base)
                servers.append(Postie(a.postie, round_base, sink_port, a.dkim, verify_dns, a.admin))
                servers.append(Postfix(round_base, sink_port))
            order = servers if rnd % 2 == 0 else list(reversed(servers))
            for w in workloads:
                for server in order:
                    if w == "a":
                        count = n(20000)
                        r = run_delivery(server, w, count, ["bench"],
                                         lambda: smtp_source(server, 20, count, 4096, "bench@example.test", persistent=True),
                                         timeout=600)
                    elif w == "b":
                        count = n(5000)
                        r = run_delivery(server, w, count, ["bench"],
                                         lambda: smtp_source(server, 20, count, 4096, "bench@example.test"), timeout=600)
                    elif w == "c":
                        count = n(2000)
                        r = run_delivery(server, w, count * 10, USERS,
                                         lambda: smtp_source(server, 20, count, 4096, "bench@example.test", recipients=10,
                                                             persistent=True), timeout=600)
                        r["rate"] /= 10  # messages (of 10 recipients each) per second
                        r["cpu_per_1000"] *= 10
                    elif w == "d":
                        count = max(4, int(200 * a.scale))
                        r = run_delivery(server, w, count, ["bench"],
                                         lambda: smtp_source(server, 4, count, 10 * 1024 * 1024, "bench@example.test",
                                                             persistent=True), timeout=1200)
                    elif w == "e":
                        r = workload_idle(server, n(2000))
                    elif w == "e10k":
                        if server.name != "Postie":
                            continue
                        r = workload_idle(server, n(10000))
                    elif w == "f":
                        r = workload_latency(server, n(300))
                    elif w == "g":
                        r = workload_relay(server, n(10000), sink_port)
                    else:
                        raise SystemExit(f"unknown workload {w}")
                    results.setdefault((w, server.name), []).append(r)
                    print(f"round {rnd + 1} {w} {server.name}: " + " ".join(
                        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()), flush=True)
    finally:
        for s in servers:
            s.stop()
        if dns:
            dns.stdin.close()
            dns.wait()
        if a.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)

    def med(w, name, key):
        values = [r[key] for r in results.get((w, name), []) if key in r]
        return statistics.median(values) if values else None

    print()
    print(f"Medians of {a.rounds} rounds (scale {a.scale}); Postie/Postfix ratio in brackets.")
    print(f"{'workload':<10} {'server':<8} {'msgs/s':>9} {'CPU s/1000':>11} {'peak RSS MiB':>13} {'peak PSS MiB':>13}")
    for w in workloads:
        if w in ("e", "e10k", "f"):
            continue
        for name in ("Postie", "Postfix"):
            rate, cpu = med(w, name, "rate"), med(w, name, "cpu_per_1000")
            rss, pss = med(w, name, "rss"), med(w, name, "pss")
            if rate is None:
                continue
            print(f"{w:<10} {name:<8} {rate:>9.0f} {cpu:>11.3f} {rss / 1024:>13.1f} {pss / 1024:>13.1f}")
        pr, fr = med(w, "Postie", "rate"), med(w, "Postfix", "rate")
        pc, fc = med(w, "Postie", "cpu_per_1000"), med(w, "Postfix", "cpu_per_1000")
        if pr and fr:
            print(f"{w:<10} {'ratio':<8} {pr / fr:>8.2f}x {pc / fc:>10.2f}x")
        if w == "d":
            above = med(w, "Postie", "rss_above_idle")
            print(f"{w:<10} Postie peak RSS above idle: {above / 1024:.1f} MiB")
    for w in ("e", "e10k"):
        for name in ("Postie", "Postfix"):
            # The allocator keeps memory from the round's earlier workloads and reuses it, which
            # can hide the growth: the largest figure of the rounds is the honest one.
            per = max((r["kib_per_conn_pss"] for r in results.get((w, name), [])), default=None)
            if per is not None:
                errors = max(r["errors"] for r in results[(w, name)])
                conns = results[(w, name)][0]["connections"]
                rss = max(r["kib_per_conn_rss"] for r in results[(w, name)])
                print(f"{w:<10} {name:<8} {conns} idle connections: {per:.1f} KiB PSS each ({rss:.1f} KiB RSS), {errors} errors")
    if "f" in workloads:
        for name in ("Postie", "Postfix"):
            if med("f", name, "p50_ms") is not None:
                print(f"{'f':<10} {name:<8} latency p50 {med('f', name, 'p50_ms'):.2f} ms, p99 {med('f', name, 'p99_ms'):.2f} ms")
    print()
    for s in (Postie, Postfix):
        print(f"{s.name} fsyncs {s.fsyncs}.")


if __name__ == "__main__":
    main()
