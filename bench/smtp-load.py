#!/usr/bin/env python3
"""Send N small messages over C concurrent SMTP sessions and print messages per second.

Usage: smtp-load.py HOST PORT [--messages N] [--sessions C] [--size BYTES] [--to ADDRESS]

Each session keeps its connection and sends its share of messages one after another (like
Postfix's smtp-source -s C -m N). The figure counts from the first connection to the last 250.
"""
import argparse, smtplib, threading, time

p = argparse.ArgumentParser()
p.add_argument("host")
p.add_argument("port", type=int)
p.add_argument("--messages", type=int, default=1000)
p.add_argument("--sessions", type=int, default=20)
p.add_argument("--size", type=int, default=4096)
p.add_argument("--to", default="carolyn@xyz.com")
a = p.parse_args()

line = b"x" * 76 + b"\r\n"
body = b"Subject: load\r\n\r\n" + line * max(1, a.size // len(line))
errors = []
latencies = []
lock = threading.Lock()

def session(count):
    try:
        s = smtplib.SMTP(a.host, a.port, timeout=60)
        s.ehlo("load.example")
        for _ in range(count):
            t = time.perf_counter()
            s.sendmail("load@load.example", [a.to], body)
            with lock:
                latencies.append(time.perf_counter() - t)
        s.quit()
    except Exception as e:
        with lock:
            errors.append(repr(e))

shares = [a.messages // a.sessions + (1 if i < a.messages % a.sessions else 0) for i in range(a.sessions)]
threads = [threading.Thread(target=session, args=(n,)) for n in shares]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.perf_counter() - start
latencies.sort()
done = len(latencies)
print(f"messages={done} sessions={a.sessions} size={len(body)} seconds={elapsed:.3f} "
      f"msgs_per_sec={done / elapsed:.0f} p50_ms={1000 * latencies[done // 2]:.2f} "
      f"p99_ms={1000 * latencies[min(done - 1, done * 99 // 100)]:.2f} errors={len(errors)}")
if errors:
    print(errors[:3])
