#!/usr/bin/env python3
"""The service's benchmark: `python3 bench/run.py` (see docs/PERFORMANCE.md).

Builds the release server, starts it on a temporary data directory, generates every
input, and measures in one run: uploads (100 MiB, 500 MiB; median of 5) with curl and the
server's peak RSS; three rounds of 2000 versioned 256 KiB uploads and 2000 listings at
10,000+ files with oha (c=8); evaluation of a ~216 MiB SDXL LoRA; doomed 500 MiB uploads;
and the machine's own limits on the same file (sha256, write+fsync, loopback upload to a
discarding sink; median of 5). The disk is synced before each timed step, so no step pays
for the previous one's write-back. Prints a Markdown table and writes
target/bench/results.json. Needs curl, openssl, dd and oha (`cargo install oha --locked`).
Bounded: every request has a timeout.
"""
import json, os, shutil, socket, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20
SECRET = "bench-secret-" + os.urandom(8).hex()


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def median(xs):
    return statistics.median(xs)


def curl_upload(url, token, path, extra=()):
    out = run(["curl", "-s", "-o", "/dev/null", "--max-time", "120", "-w",
               "%{http_code} %{time_total} %{size_upload}", "-H", f"Authorization: Bearer {token}",
               "-F", f"file=@{path}", *extra, url]).stdout.split()
    return int(out[0]), float(out[1]), int(out[2])


def settle():
    """Lets the disk finish what the previous step wrote, so each figure starts quiet."""
    os.sync()
    time.sleep(0.5)


def reset_hwm(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def read_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])  # KiB
    return 0


def sink_server():
    """An HTTP sink on loopback that reads whole bodies and discards them."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve():
        while True:
            conn, _ = srv.accept()
            with conn:
                buf = bytearray(4 * MIB)
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(65536)
                header, rest = head.split(b"\r\n\r\n", 1)
                length = 0
                expect = False
                for line in header.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                    if line.lower().startswith(b"expect:"):
                        expect = True
                if expect:
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                left = length - len(rest)
                view = memoryview(buf)
                while left > 0:
                    n = conn.recv_into(view, min(left, len(buf)))
                    if n == 0:
                        break
                    left -= n
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def oha(args):
    out = run(["oha", "--no-tui", "--output-format", "json", *args]).stdout
    data = json.loads(out)
    summary = data["summary"]
    lat = data["latencyPercentiles"]
    statuses = data.get("statusCodeDistribution", {})
    return {
        "req_per_s": round(summary["requestsPerSec"], 1),
        "p50_ms": round(lat["p50"] * 1000, 2),
        "p99_ms": round(lat["p99"] * 1000, 2),
        "statuses": statuses,
    }


def main():
    print("building release binaries…", file=sys.stderr)
    run(["cargo", "build", "--release", "--locked", "-p", "lora-server"], cwd=ROOT)
    run(["cargo", "build", "--release", "--locked", "-p", "lora-inspect", "--features", "fixtures",
         "--example", "make_fixture"], cwd=ROOT)
    server_bin = os.path.join(ROOT, "target/release/lora-server")
    make = os.path.join(ROOT, "target/release/examples/make_fixture")

    work = tempfile.mkdtemp(prefix="lora-bench-", dir=os.environ.get("BENCH_DIR", ROOT + "/target"))
    data = os.path.join(work, "data")
    inputs = os.path.join(work, "in")
    os.makedirs(inputs)
    results = {"machine": {"cores": os.cpu_count()}}
    try:
        print("generating inputs…", file=sys.stderr)
        f100, f500, f256 = (os.path.join(inputs, n) for n in ("f100.safetensors", "f500.safetensors", "f256.safetensors"))
        sdxl = os.path.join(inputs, "sdxl.safetensors")
        run([make, "blob", str(100 * MIB), f100])
        run([make, "blob", str(500 * MIB), f500])
        run([make, "blob", str(256 * 1024), f256])
        run([make, "sdxl", "216", sdxl])

        # The machine's own limits on the same 500 MiB file.
        sha = []
        for _ in range(5):
            t = time.perf_counter(); run(["openssl", "dgst", "-sha256", f500]); sha.append(time.perf_counter() - t)
        os.makedirs(data, exist_ok=True)
        dd = []
        for _ in range(5):
            settle()
            t = time.perf_counter()
            run(["dd", f"if={f500}", f"of={data}/dd.tmp", "bs=1M", "conv=fsync"])
            dd.append(time.perf_counter() - t)
            os.remove(f"{data}/dd.tmp")
        sink = sink_server()
        loop = [curl_upload(f"http://127.0.0.1:{sink}/", "x", f500)[1] for _ in range(5)]
        limits = {"sha256_s": median(sha), "write_fsync_s": median(dd), "loopback_upload_s": median(loop)}
        runs = {"sha256_s": sha, "write_fsync_s": dd, "loopback_upload_s": loop}
        results["limits"] = {k: {"seconds": round(v, 3), "mib_per_s": round(500 / v, 1),
                                 "runs_s": [round(x, 3) for x in runs[k]]} for k, v in limits.items()}
        slowest = max(limits.values())

        port = free_port()
        env = dict(os.environ, LORA_BIND=f"127.0.0.1:{port}", LORA_DATA_DIR=data, LORA_JWT_SECRET=SECRET,
                   RUST_LOG="warn")
        admin = run([server_bin, "token", "--role", "admin", "--sub", "bench"], env=env).stdout.strip()
        user = run([server_bin, "token", "--role", "user", "--sub", "bench"], env=env).stdout.strip()
        proc = subprocess.Popen([server_bin, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                run(["curl", "-fs", f"{base}/api/v1/evaluation/health"]); break
            except subprocess.CalledProcessError:
                time.sleep(0.05)
        auth = ["-H", f"Authorization: Bearer {admin}"]
        try:
            # Big uploads.
            for label, path, mib in (("upload_100mib", f100, 100), ("upload_500mib", f500, 500)):
                times, peaks = [], []
                for i in range(5):
                    settle()
                    reset_hwm(proc.pid)
                    code, t, _ = curl_upload(f"{base}/api/v1/admin/lora/upload", admin, path,
                                             ("-F", "entity_type=styles"))
                    assert code == 200, code
                    peaks.append(read_status(proc.pid, "VmHWM:"))
                    times.append(t)
                    name = os.path.basename(path)
                    run(["curl", "-fs", "-X", "DELETE", *auth, "-d", json.dumps({"partial_path": f"styles/{name}"}),
                         f"{base}/api/v1/admin/lora"])
                    run(["curl", "-fs", *auth, "-d", '{"before": "2999-01-01T00:00:00Z"}', f"{base}/api/v1/admin/bin/purge"])
                t = median(times)
                results[label] = {"median_s": round(t, 3), "mib_per_s": round(mib / t, 1),
                                  "runs_s": [round(x, 3) for x in times],
                                  "peak_rss_mib": round(max(peaks) / 1024, 1)}
            results["upload_500mib"]["share_of_slowest_limit"] = round(slowest / results["upload_500mib"]["median_s"], 3)

            # Doomed uploads: refused from the headers.
            doomed = {}
            for label, token, url in (("bad_token", "not-a-token", "/api/v1/lora/upload"),
                                      ("user_on_admin_route", user, "/api/v1/admin/lora/upload")):
                code, t, sent = curl_upload(base + url, token, f500)
                doomed[label] = {"status": code, "seconds": round(t, 4), "body_bytes_sent": sent}
            results["doomed_500mib"] = doomed

            # 2000 versioned 256 KiB uploads, c=8.
            boundary = "benchboundary"
            body = os.path.join(inputs, "body256.bin")
            with open(body, "wb") as out, open(f256, "rb") as src:
                out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"entity_type\"\r\n\r\nproduct\r\n"
                          f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.safetensors\"\r\n\r\n".encode())
                out.write(src.read())
                out.write(f"\r\n--{boundary}--\r\n".encode())

            def one_upload():
                # curl's own clock: the request, without starting a curl process.
                r = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", *auth, "-H",
                         f"Content-Type: multipart/form-data; boundary={boundary}", "--data-binary", f"@{body}",
                         f"{base}/api/v1/admin/lora/upload"]).stdout.split()
                assert r[0] == "200", r
                return float(r[1])
            settle()
            one_upload()  # the plain name
            early = [one_upload() for _ in range(5)]  # v2 … v6
            rounds = []
            for _ in range(3):  # v7 … v6006, in three rounds of 2000
                settle()
                rounds.append(oha(["-n", "2000", "-c", "8", "-m", "POST", "-H", f"Authorization: Bearer {admin}",
                                   "-T", f"multipart/form-data; boundary={boundary}", "-D", body,
                                   f"{base}/api/v1/admin/lora/upload"]))
            settle()
            late = [one_upload() for _ in range(5)]  # past v6000
            load = sorted(rounds, key=lambda r: r["req_per_s"])[1]
            load["rounds_req_per_s"] = [r["req_per_s"] for r in rounds]
            load["single_upload_v2_to_v6_ms"] = round(median(early) * 1000, 2)
            load["single_upload_past_v6000_ms"] = round(median(late) * 1000, 2)
            results["versioned_256kib_c8"] = load

            # Listing at 10,000 files placed by hand.
            for e in ("clothes", "faces", "identities", "product", "styles"):
                d = os.path.join(data, "models/loras", e)
                for i in range(2000):
                    open(os.path.join(d, f"hand_{i:05}.safetensors"), "wb").close()
            time.sleep(2.5)  # past the listing cache's racy window
            total = json.loads(run(["curl", "-fs", *auth, f"{base}/api/v1/admin/lora?limit=1"]).stdout)["total"]
            listing = oha(["-n", "2000", "-c", "8", "-H", f"Authorization: Bearer {admin}", f"{base}/api/v1/admin/lora?limit=100"])
            listing["files"] = total
            results["listing_c8"] = listing

            settle()
            # Evaluation of the SDXL LoRA: uploaded through the API as the backend does (the
            # store then knows its SHA-256), and placed by hand (hashed while evaluated).
            code, _, _ = curl_upload(f"{base}/api/v1/admin/lora/upload", admin, sdxl,
                                     ("-F", "entity_type=styles"))
            assert code == 200, code
            uploaded = f"styles/{os.path.basename(sdxl)}"

            def evaluate(body):
                # curl's own clock, like the uploads: request sent to response read, without
                # the tens of milliseconds of starting a curl process.
                out = run(["curl", "-fs", "-o", "/dev/null", "-w", "%{time_total}", *auth,
                           "-d", json.dumps(body), f"{base}/api/v1/evaluation/"]).stdout
                return float(out)

            evals = [evaluate({"partial_path": uploaded}) for _ in range(5)]
            with_tensor = [evaluate({"partial_path": uploaded, "tensor_hash": True}) for _ in range(3)]
            placed = []
            for i in range(3):
                shutil.copy(sdxl, os.path.join(data, f"models/loras/styles/placed_{i}.safetensors"))
                placed.append(evaluate({"partial_path": f"styles/placed_{i}.safetensors"}))
            results["evaluation_sdxl"] = {
                "file_mib": round(os.path.getsize(sdxl) / MIB, 1),
                "median_s": round(median(evals), 3),
                "with_tensor_hash_median_s": round(median(with_tensor), 3),
                "hand_placed_first_median_s": round(median(placed), 3),
            }
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    os.makedirs(os.path.join(ROOT, "target/bench"), exist_ok=True)
    out = os.path.join(ROOT, "target/bench/results.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    l = results["limits"]
    rows = [
        ("machine: sha256 of 500 MiB (openssl)", f"{l['sha256_s']['seconds']} s ({l['sha256_s']['mib_per_s']} MiB/s)"),
        ("machine: write+fsync 500 MiB (dd)", f"{l['write_fsync_s']['seconds']} s ({l['write_fsync_s']['mib_per_s']} MiB/s)"),
        ("machine: loopback upload 500 MiB to a sink (curl)", f"{l['loopback_upload_s']['seconds']} s ({l['loopback_upload_s']['mib_per_s']} MiB/s)"),
    ]
    for k in ("upload_100mib", "upload_500mib"):
        r = results[k]
        rows.append((k.replace("_", " "), f"{r['median_s']} s ({r['mib_per_s']} MiB/s), peak RSS {r['peak_rss_mib']} MiB"))
    rows.append(("500 MiB upload vs slowest machine limit", f"{results['upload_500mib']['share_of_slowest_limit'] * 100:.0f} %"))
    v = results["versioned_256kib_c8"]
    rows.append(("3 rounds of 2000 × 256 KiB uploads of one name (→ v6006), c=8; median round",
                 f"{v['req_per_s']} req/s, p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms (rounds: "
                 f"{', '.join(str(r) for r in v['rounds_req_per_s'])} req/s); one upload at v2–v6 "
                 f"{v['single_upload_v2_to_v6_ms']} ms, past v6000 {v['single_upload_past_v6000_ms']} ms"))
    ls = results["listing_c8"]
    rows.append((f"listing limit=100 at {ls['files']} files, 2000 req c=8", f"{ls['req_per_s']} req/s, p50 {ls['p50_ms']} ms, p99 {ls['p99_ms']} ms"))
    ev = results["evaluation_sdxl"]
    rows.append((f"evaluation of an uploaded {ev['file_mib']} MiB SDXL LoRA (HTTP)", f"{ev['median_s']} s"))
    rows.append(("same, with tensor_hash", f"{ev['with_tensor_hash_median_s']} s"))
    rows.append(("same file placed by hand, first evaluation (hashes it)", f"{ev['hand_placed_first_median_s']} s"))
    for k, d in results["doomed_500mib"].items():
        rows.append((f"doomed 500 MiB upload, {k.replace('_', ' ')}", f"{d['status']} in {d['seconds'] * 1000:.1f} ms, {d['body_bytes_sent']} body bytes sent"))
    print("| measurement | result |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
