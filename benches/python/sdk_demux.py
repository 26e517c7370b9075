"""The official Daytona Python SDK's stdout/stderr demux, timed on a muxed log file.

Feeds the file, cut into fixed-size chunks, to ``daytona._utils.stream._std_demux_loop`` (the
body of ``std_demux_stream_aio`` / ``std_demux_stream_httpx_ws``) through an async ``recv()``
that returns the chunks, with callbacks that only count characters. Stops after the last whole
chunk that started within the time budget (the SDK's cost is super-linear in the chunk size, so
a budget keeps the run bounded). Prints one JSON line: bytes fed, seconds, characters per stream.

Usage: python sdk_demux.py FILE --chunk BYTES --budget-s SECONDS --label NAME
"""

import argparse
import asyncio
import json
import time

from daytona._utils.stream import _std_demux_loop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--chunk", type=int, required=True)
    ap.add_argument("--budget-s", type=float, required=True)
    ap.add_argument("--label", required=True)
    args = ap.parse_args()

    with open(args.file, "rb") as f:
        data = f.read()
    chunks = [data[i : i + args.chunk] for i in range(0, len(data), args.chunk)]
    counts = {"stdout": 0, "stderr": 0}
    fed = 0
    deadline = 0.0

    async def recv():
        nonlocal fed
        if fed >= len(chunks) or time.perf_counter() > deadline:
            return None
        fed += 1
        return chunks[fed - 1]

    def on_stdout(text: str) -> None:
        counts["stdout"] += len(text)

    def on_stderr(text: str) -> None:
        counts["stderr"] += len(text)

    async def run() -> float:
        nonlocal deadline
        start = time.perf_counter()
        deadline = start + args.budget_s
        await _std_demux_loop(recv, on_stdout, on_stderr)
        return time.perf_counter() - start

    seconds = asyncio.run(run())
    fed_bytes = sum(len(c) for c in chunks[:fed])
    print(
        json.dumps(
            {
                "label": args.label,
                "chunk": args.chunk,
                "bytes": fed_bytes,
                "seconds": seconds,
                "stdout_chars": counts["stdout"],
                "stderr_chars": counts["stderr"],
            }
        )
    )


if __name__ == "__main__":
    main()
