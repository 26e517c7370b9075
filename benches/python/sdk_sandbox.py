"""create -> first exec("true") through the official Python SDK (daytona==0.226.1) against a
sandboxd, configured only with api_url and api_key. One JSON line per sample on stdout:
{"create_exec_us": float}. The first create is a warm-up (imports, connection pool) and is not
reported. Every sandbox is deleted after its sample."""

import argparse
import json
import sys
import time

from daytona import Daytona, DaytonaConfig


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--n", type=int, default=10)
    args = parser.parse_args()
    daytona = Daytona(DaytonaConfig(api_url=args.api_url, api_key=args.api_key))
    for i in range(args.n + 1):
        started = time.perf_counter()
        sandbox = daytona.create()
        result = sandbox.process.exec("true")
        took = time.perf_counter() - started
        try:
            if result.exit_code != 0:
                print(f"sdk_sandbox: exec(true) exited {result.exit_code}", file=sys.stderr)
                return 1
        finally:
            daytona.delete(sandbox)
        if i > 0:
            print(json.dumps({"create_exec_us": took * 1e6}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
