#!/usr/bin/env python3
"""Installs from a URL: `python3 bench/install.py` (see docs/PERFORMANCE.md).

Serves a 500 MiB LoRA from a local HTTP server (Python, `sendfile`, ranges and an
`ETag`), and measures, in the same run:

* `curl -o` of the URL against an install of it through a release `lora-server`
  (POST /api/v1/admin/lora/install, polled every 20 ms until `done`: the download, the
  SHA-256, the content check, the fsync and the publish), alternately, 7 rounds: the
  install's throughput as a fraction of curl's (target >= 0.8), of the medians and of the
  best runs (a shared 2-core machine adds seconds-long stalls to either now and then, and
  the install, which keeps both cores busy, feels them more). Each starts after a `sync`,
  so neither pays for the other's dirty pages (curl's own are never synced);
* an install whose connection the server cuts once at 60 % of the file: the bytes the
  server sent beyond one copy of the file, i.e. fetched again after the cut (target
  <= 1 MiB).

Prints a Markdown table and writes target/bench/install.json. Needs curl;
`--no-build` uses the binaries already in target/release.
"""
import argparse, http.client, http.server, json, os, statistics, subprocess, sys, tempfile, threading, time

# The same way of starting the server as the fleet benchmark's.
from fleet import serve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20


class Source:
    """The file behind http://127.0.0.1:{port}/{name}, and what it sent."""

    def __init__(self, path):
        self.path = path
        self.size = os.path.getsize(path)
        self.sent = 0
        self.cut_at = None  # cut the next response after this many bytes of the file
        self.lock = threading.Lock()
        source = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[len("bytes="):].split("-")[0])
                etag = f'"v-{source.size}"'
                if self.headers.get("If-Range") not in (None, etag):
                    start = 0
                self.send_response(206 if start else 200)
                self.send_header("ETag", etag)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(source.size - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{source.size - 1}/{source.size}")
                self.end_headers()
                with source.lock:
                    cut, source.cut_at = source.cut_at, None
                count = None if cut is None else max(cut - start, 0)
                with open(source.path, "rb") as f:
                    try:
                        sent = self.connection.sendfile(f, offset=start, count=count)
                    except OSError:
                        sent = 0
                with source.lock:
                    source.sent += sent
                if cut is not None:
                    self.close_connection = True
                    self.connection.close()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start_server(work):
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    env = dict(PATH=os.environ["PATH"], LORA_DATA_DIR=data, LORA_BIND="127.0.0.1:0", RUST_LOG="warn",
               LORA_MAX_UPLOAD_BYTES=str(600 * MIB), LORA_INSTALL_ALLOW_HTTP="true",
               LORA_INSTALL_ALLOW_PRIVATE="true")
    return serve(env)


def call(addr, token, method, path, body=None):
    conn = http.client.HTTPConnection(addr)
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    answer = json.loads(r.read() or b"null")
    conn.close()
    return r.status, answer


def install(addr, token, url, name):
    """Seconds from the POST to `done`, and the job."""
    t = time.perf_counter()
    status, job = call(addr, token, "POST", "/api/v1/admin/lora/install",
                       {"url": url, "entity_type": "styles", "filename": name})
    assert status == 202, job
    while True:
        _, job = call(addr, token, "GET", f"/api/v1/admin/lora/install/{job['id']}")
        if job["status"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.02)
    elapsed = time.perf_counter() - t
    assert job["status"] == "done", job
    return elapsed, job


def curl(url, out):
    t = time.perf_counter()
    subprocess.run(["curl", "-sf", "-o", out, url], check=True)
    elapsed = time.perf_counter() - t
    os.remove(out)
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "lora-server"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "lora-inspect", "--features",
                        "fixtures", "--example", "make_fixture"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory(prefix="lora-install-bench-", dir=os.path.join(ROOT, "target")) as work:
        f500 = os.path.join(work, "f500.safetensors")
        make = os.path.join(ROOT, "target/release/examples/make_fixture")
        subprocess.run([make, "blob", str(500 * MIB), f500], check=True)
        source = Source(f500)
        url = f"http://127.0.0.1:{source.port}/f500.safetensors"
        proc, addr, token = start_server(work)
        try:
            plain, through = [], []
            for i in range(args.rounds):
                # Alternate which goes first: neither always meets a warm or cold cache.
                order = [0, 1] if i % 2 == 0 else [1, 0]
                for which in order:
                    os.sync()
                    if which == 0:
                        plain.append(curl(url, os.path.join(work, "curl.out")))
                    else:
                        through.append(install(addr, token, url, f"f{i}.safetensors")[0])
            os.sync()
            with source.lock:
                source.sent = 0
                source.cut_at = int(source.size * 0.6)
            _, job = install(addr, token, url, "cut.safetensors")
            refetched = source.sent - source.size
        finally:
            proc.kill()
            source.server.shutdown()
    size_mib = 500
    c, s = statistics.median(plain), statistics.median(through)
    results = {
        "curl_seconds": plain, "install_seconds": through,
        "curl_mib_s": size_mib / c, "install_mib_s": size_mib / s,
        "ratio": c / s, "best_ratio": min(plain) / min(through),
        "cut_attempts": job["attempts"], "refetched_bytes": refetched,
    }
    print("| measure | value |\n|---|---|")
    print(f"| curl -o, 500 MiB (median of {args.rounds}) | {c:.2f} s ({size_mib / c:.0f} MiB/s) |")
    print(f"| install, 500 MiB (median of {args.rounds}) | {s:.2f} s ({size_mib / s:.0f} MiB/s) |")
    print(f"| install throughput / curl's (target >= 0.8) | {c / s:.2f} of the medians, "
          f"{min(plain) / min(through):.2f} of the best runs |")
    print(f"| runs: curl, install (s) | {', '.join(f'{x:.2f}' for x in plain)}; "
          f"{', '.join(f'{x:.2f}' for x in through)} |")
    print(f"| cut at 60 %: attempts, bytes fetched again (target <= 1 MiB) | {job['attempts']}, {refetched} |")
    os.makedirs(os.path.join(ROOT, "target/bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target/bench/install.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
