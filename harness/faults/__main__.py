"""``python -m harness.faults``: run the embedded fault proxy (the Toxiproxy HTTP API).

How the harness starts it as a child process; ``dualsys proxy`` does the same for users.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.faults.server import run_server


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the server until SIGINT/SIGTERM; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.faults",
        description="Embedded fault proxy speaking the Toxiproxy HTTP API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="API address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8474, help="API port (8474; 0: a free one)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback API address and proxy listen addresses",
    )
    parser.add_argument(
        "--proxy-metrics",
        action="store_true",
        help="serve GET /metrics (Prometheus; Toxiproxy's -proxy-metrics)",
    )
    args = parser.parse_args(argv)
    return run_server(
        args.host, args.port, allow_remote=args.allow_remote, metrics=args.proxy_metrics
    )


if __name__ == "__main__":
    sys.exit(main())
