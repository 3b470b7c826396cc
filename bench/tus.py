#!/usr/bin/env python3
"""Resumable uploads' benchmark: `python3 bench/tus.py` (see docs/PERFORMANCE.md).

Starts the release server on a temporary data directory and sends the same 500 MiB LoRA
(make_fixture's `blob`) five times through the multipart admin route and five times
through tus in 16 MiB PATCHes, interleaved, with one client for both (Python's
http.client on one keep-alive connection, the file streamed in 1 MiB pieces: the client
costs the same either way, so the difference is the server's); prints the medians, the
overhead of tus, and writes target/bench/tus.json. `--no-build` uses the binaries already
in target/release; TUS_CHUNK_MIB changes the PATCH size.
"""
import argparse, base64, http.client, json, os, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20
SECRET = "bench-secret-" + os.urandom(8).hex()
CHUNK = int(os.environ.get("TUS_CHUNK_MIB", "16")) * MIB


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sync():
    subprocess.run(["sync"], check=True)


PIECE = MIB


def send_file(conn, f, length):
    """Streams `length` bytes of `f` in 1 MiB pieces."""
    left = length
    while left:
        piece = f.read(min(PIECE, left))
        conn.send(piece)
        left -= len(piece)


def multipart(addr, token, path, name):
    sync()
    size = os.path.getsize(path)
    boundary = "bench"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"entity_type\"\r\n\r\nstyles\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    host, port = addr.split(":")
    t = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    conn.putrequest("POST", "/api/v1/admin/lora/upload")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as f:
        send_file(conn, f, size)
    conn.send(tail)
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"multipart answered {r.status}")
    return time.perf_counter() - t


def tus(addr, token, path, name):
    sync()
    size = os.path.getsize(path)
    b64 = lambda s: base64.b64encode(s.encode()).decode()
    host, port = addr.split(":")
    t = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    conn.request("POST", "/api/v1/admin/lora/uploads", headers={
        **auth, "Upload-Length": str(size),
        "Upload-Metadata": f"filename {b64(name)},entity_type {b64('styles')}"})
    r = conn.getresponse()
    r.read()
    if r.status != 201:
        sys.exit(f"tus creation answered {r.status}")
    url = r.getheader("Location")
    offset = 0
    with open(path, "rb") as f:
        while offset < size:
            length = min(CHUNK, size - offset)
            conn.putrequest("PATCH", url)
            for k, v in {**auth, "Upload-Offset": str(offset), "Content-Length": str(length),
                         "Content-Type": "application/offset+octet-stream"}.items():
                conn.putheader(k, v)
            conn.endheaders()
            send_file(conn, f, length)
            r = conn.getresponse()
            r.read()
            if r.status != 204:
                sys.exit(f"PATCH answered {r.status}")
            offset = int(r.getheader("Upload-Offset"))
    if not r.getheader("Lora-Partial-Path"):
        sys.exit("the last PATCH did not publish")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--data-parent", default=None,
                    help="where the data directory goes (e.g. /dev/shm, to take the disk's noise out)")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "lora-server"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "lora-inspect", "--features",
                        "fixtures", "--example", "make_fixture"], cwd=ROOT, check=True)
    server_bin = os.path.join(ROOT, "target/release/lora-server")
    with tempfile.TemporaryDirectory(prefix="lora-tus-bench-") as work, \
            tempfile.TemporaryDirectory(prefix="lora-tus-data-", dir=args.data_parent) as data_parent:
        data = os.path.join(data_parent, "data")
        f500 = os.path.join(work, "f500.safetensors")
        subprocess.run([os.path.join(ROOT, "target/release/examples/make_fixture"), "blob",
                        str(500 * MIB), f500], check=True)
        port = free_port()
        env = dict(PATH=os.environ["PATH"], LORA_DATA_DIR=data, LORA_BIND=f"127.0.0.1:{port}",
                   LORA_JWT_SECRET=SECRET, RUST_LOG="warn", LORA_MAX_UPLOAD_BYTES=str(600 * MIB))
        token = subprocess.run([server_bin, "token", "--role", "admin", "--sub", "bench"], env=env,
                               capture_output=True, text=True, check=True).stdout.strip()
        server = subprocess.Popen([server_bin, "serve"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        sys.exit("the server did not start")
                    time.sleep(0.05)
            addr = f"127.0.0.1:{port}"
            m, t = [], []
            styles = os.path.join(data, "models/loras/styles")
            for i in range(5):
                m.append(multipart(addr, token, f500, f"m{i}.safetensors"))
                t.append(tus(addr, token, f500, f"t{i}.safetensors"))
                # Each run starts from the same state: the stored copies go.
                for name in os.listdir(styles):
                    os.remove(os.path.join(styles, name))
        finally:
            server.kill()
    result = {"patch_mib": CHUNK // MIB, "multipart_500mib_s": statistics.median(m),
              "tus_500mib_16mib_patches_s": statistics.median(t)}
    result["tus_overhead_pct"] = 100 * (result["tus_500mib_16mib_patches_s"] / result["multipart_500mib_s"] - 1)
    os.makedirs(os.path.join(ROOT, "target/bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target/bench/tus.json"), "w") as f:
        json.dump(result, f, indent=2)
    print("| measurement | value |\n| --- | --- |")
    print(f"| 500 MiB, multipart admin route (median of 5) | {result['multipart_500mib_s']:.2f} s |")
    print(f"| 500 MiB, tus, {CHUNK // MIB} MiB PATCHes on one connection (median of 5) | {result['tus_500mib_16mib_patches_s']:.2f} s |")
    print(f"| tus overhead | {result['tus_overhead_pct']:+.1f} % |")


if __name__ == "__main__":
    main()
