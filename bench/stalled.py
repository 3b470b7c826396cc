#!/usr/bin/env python3
"""How many stalled uploads the server carries while health stays fast.

Starts the release binary on a temporary data directory with a high upload cap, opens
stalled uploads in steps (headers plus 4 KiB of a 50 MiB body, then nothing), and at each
step times `GET /api/v1/evaluation/health` (median and max of 50), and reads the server's
RSS and open descriptors from /proc. Usage: python3 bench/stalled.py [--no-build]
"""
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "release", "lora-server")
STEPS = [100, 500, 1000, 2000, 4000]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_ms(port, n=50):
    times = []
    for _ in range(n):
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /api/v1/evaluation/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data[:80]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def proc_stats(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss / 1024, fds


def main():
    if "--no-build" not in sys.argv:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "lora-server"], cwd=ROOT, check=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    data = tempfile.mkdtemp(prefix="lora-stalled-")
    port = free_port()
    secret = "stalled-bench-secret-0123456789abcdef"
    env = dict(os.environ, LORA_BIND=f"127.0.0.1:{port}", LORA_DATA_DIR=data, LORA_JWT_SECRET=secret,
               LORA_MAX_CONCURRENT_UPLOADS="100000", RUST_LOG="warn")
    server = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        token = subprocess.run([BIN, "token", "--role", "user", "--sub", "bench"], env=env,
                               capture_output=True, text=True, check=True).stdout.strip()
        for _ in range(100):
            try:
                health_ms(port, 1)
                break
            except OSError:
                time.sleep(0.05)
        boundary = "stalled"
        head = (f"POST /api/v1/lora/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {50 << 20}\r\n\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.safetensors\"\r\n\r\n").encode()
        rss0, fds0 = proc_stats(server.pid)
        p50, worst = health_ms(port)
        rows = [{"stalled": 0, "health_p50_ms": round(p50, 2), "health_max_ms": round(worst, 2),
                 "rss_mib": round(rss0, 1), "fds": fds0}]
        print(json.dumps(rows[-1]), flush=True)
        sockets = []
        for step in STEPS:
            while len(sockets) < step:
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(head + b"\x07" * 4096)
                sockets.append(s)
            time.sleep(1.0)
            p50, worst = health_ms(port)
            rss, fds = proc_stats(server.pid)
            staged = len(os.listdir(os.path.join(data, ".lora-server", "staging")))
            rows.append({"stalled": step, "staging_files": staged, "health_p50_ms": round(p50, 2),
                         "health_max_ms": round(worst, 2), "rss_mib": round(rss, 1), "fds": fds})
            print(json.dumps(rows[-1]), flush=True)
        for s in sockets:
            s.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
