"""One file transfer through the official Python SDK's sync `FileSystem` (wired as `Sandbox.fs`),
timed in-process (interpreter start-up excluded); prints `{"secs": …}`.

usage: sdk_fs.py URL upload LOCAL REMOTE | sdk_fs.py URL download REMOTE LOCAL
"""

import json
import sys
import time

import httpx
from daytona._sync.filesystem import FileSystem
from daytona_toolbox_api_client import ApiClient, Configuration, FileSystemApi

url, op, src, dst = sys.argv[1:5]
client = ApiClient(Configuration(host=url))
client.default_headers.update({"X-Daytona-Source": "sdk-python", "X-Daytona-SDK-Version": "0.226.1"})
with httpx.Client(timeout=None) as http:
    fs = FileSystem(FileSystemApi(client), http_client=http)
    started = time.perf_counter()
    if op == "upload":
        fs.upload_file(src, dst)
    elif op == "download":
        fs.download_file(src, dst)
    else:
        sys.exit(f"unknown op {op!r}")
    print(json.dumps({"secs": time.perf_counter() - started}))
