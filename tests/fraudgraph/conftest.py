"""Fixtures shared by the CLI and job tests: one small scenario and a webhook receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from fraudgraph.jobs.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)

if TYPE_CHECKING:
    from ingestion.synthetic import ScenarioSummary


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> ScenarioSummary:
    """5,000 accounts with planted rings, enough labels to train a small GNN."""
    from ingestion.synthetic import ScenarioConfig, generate_scenario

    return generate_scenario(
        ScenarioConfig(accounts=5_000, seed=3), tmp_path_factory.mktemp("jobs") / "scenario"
    )


#: The webhook key shared with the test receiver.
SECRET = "case-management-shared-secret"


@dataclass
class Receiver:
    """A local case-management endpoint: answers ``statuses`` in turn, then 200."""

    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None
    received: list[dict[str, object]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A threaded HTTP server on loopback that checks every signature it receives."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(
                {
                    "body": body,
                    "delivery": self.headers[DELIVERY_HEADER],
                    "valid": verify_signature(
                        SECRET,
                        body=body,
                        timestamp=self.headers[TIMESTAMP_HEADER],
                        signature=self.headers[SIGNATURE_HEADER],
                    ),
                }
            )
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            if state.retry_after is not None and status >= 400:
                self.send_header("Retry-After", state.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
