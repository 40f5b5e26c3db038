"""The ceiling our feature GET is measured against: a bare ASGI app on the same server.

Answers every HTTP request with one constant JSON body, with the headers the feature fast
path sends (``content-type``, ``content-length``; uvicorn adds ``date`` and ``server``),
so a benchmark can serve it exactly as ``fraudgraph serve`` serves the API and compare:
whatever the API does beyond this (routing, the key check, the lookup, the JSON) is the
gap between the two. The body is read once per process from the file named by
``FRAUDGRAPH_BARE_BODY_FILE`` (the benchmark stores a real feature body there, so the
sizes match); without it, a 300-byte JSON object.

Usage::

    FRAUDGRAPH_BARE_BODY_FILE=body.json python benchmarks/bare_asgi.py --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

BODY_FILE_ENV = "FRAUDGRAPH_BARE_BODY_FILE"


def _body() -> bytes:
    name = os.environ.get(BODY_FILE_ENV)
    if name:
        return Path(name).read_bytes()
    return b'{"padding":"' + b"x" * 285 + b'"}'


BODY = _body()
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
    ],
}
_BODY = {"type": "http.response.body", "body": BODY}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The whole application: the constant body for HTTP, nothing for lifespan."""
    if scope["type"] == "http":
        await send(_START)
        await send(_BODY)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()

    import uvicorn

    # The options of ``fraudgraph serve`` itself, so both are measured on the same server.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fraudgraph.cli.serving import uvicorn_options

    print(f"bare ASGI app on http://{args.host}:{args.port}: {len(BODY)} bytes", file=sys.stderr)
    uvicorn.run(
        "bare_asgi:app",
        app_dir=str(Path(__file__).resolve().parent),
        host=args.host,
        port=args.port,
        workers=args.workers,
        **uvicorn_options(args.log_level),
    )


if __name__ == "__main__":
    main()
