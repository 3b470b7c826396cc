#!/usr/bin/env python3
"""The floor a store sets under tus in a fleet: `python3 bench/tus_floor.py` (see docs/FLEET.md).

No lora-server here: boto3 alone, against SeaweedFS (`weed mini`, started as bench/fleet.py
starts it), emulates what a fleet node must do for a 500 MiB tus upload in 16 MiB PATCHes
when an acknowledged offset means the bytes are in the bucket:

* A: each "PATCH" sends its 16 MiB as three parts in parallel and waits for them, then the
  multipart upload is completed at a private key and copied to its name (CopyObject);
* B: each "PATCH" is a PutObject of its own, copied in the background (UploadPartCopy)
  into a multipart upload at the name, completed at the end (no copy at the end);

each against boto3's `upload_file` of the same file, twice. Needs boto3 and the release
`make_fixture` example (`cargo build --release -p lora-inspect --features fixtures --example
make_fixture`).
"""
import os, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20
SIZE = 500 * MIB
CH = 16 * MIB
def main():
    with tempfile.TemporaryDirectory() as work:
        weed, endpoint = F.start_weed(work)
        try:
            s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=F.KEY, aws_secret_access_key=F.SECRET, region_name="us-east-1")
            f = os.path.join(work, "f")
            subprocess.run([os.path.join(ROOT, "target/release/examples/make_fixture"), "blob", str(SIZE), f], check=True)
            data = open(f, "rb").read()
            for rnd in range(2):
                # plain multipart (boto3, 8 MiB parts, 10 threads)
                t = time.perf_counter(); s3.upload_file(f, F.BUCKET, f"plain{rnd}"); plain = time.perf_counter() - t
                # A: sequential 16 MiB "PATCHes": each = 3 parts of ~5.3 MiB uploaded in parallel, wait, then next; then copy
                t = time.perf_counter()
                up = s3.create_multipart_upload(Bucket=F.BUCKET, Key=f"a{rnd}")
                parts = []; n = 1
                with ThreadPoolExecutor(4) as ex:
                    for off in range(0, SIZE, CH):
                        chunk = data[off:off+CH]
                        ps = -(-CH // 3); pieces = [chunk[i:i+ps] for i in range(0, len(chunk), ps)]
                        futs = []
                        for p in pieces:
                            futs.append((n, ex.submit(s3.upload_part, Bucket=F.BUCKET, Key=f"a{rnd}", UploadId=up["UploadId"], PartNumber=n, Body=p))); n += 1
                        for num, fu in futs: parts.append({"PartNumber": num, "ETag": fu.result()["ETag"]})
                s3.complete_multipart_upload(Bucket=F.BUCKET, Key=f"a{rnd}", UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
                s3.copy_object(Bucket=F.BUCKET, Key=f"a{rnd}-named", CopySource={"Bucket": F.BUCKET, "Key": f"a{rnd}"})
                a = time.perf_counter() - t
                # B: each 16 MiB PATCH = put_object chunk; background UploadPartCopy into aimed multipart
                t = time.perf_counter()
                up = s3.create_multipart_upload(Bucket=F.BUCKET, Key=f"b{rnd}")
                bg = ThreadPoolExecutor(2); copies = []
                for i, off in enumerate(range(0, SIZE, CH)):
                    key = f"chunks{rnd}/{i}"
                    s3.put_object(Bucket=F.BUCKET, Key=key, Body=data[off:off+CH])
                    copies.append((i+1, bg.submit(s3.upload_part_copy, Bucket=F.BUCKET, Key=f"b{rnd}", UploadId=up["UploadId"], PartNumber=i+1, CopySource={"Bucket": F.BUCKET, "Key": key})))
                parts = [{"PartNumber": n, "ETag": fu.result()["CopyPartResult"]["ETag"]} for n, fu in copies]
                s3.complete_multipart_upload(Bucket=F.BUCKET, Key=f"b{rnd}", UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
                b = time.perf_counter() - t
                print(f"plain {plain:.2f}  A(parts+copy) {a:.2f} ({a/plain:.2f}x)  B(chunks+bg copy) {b:.2f} ({b/plain:.2f}x)")
        finally:
            weed.kill()


if __name__ == "__main__":
    main()
