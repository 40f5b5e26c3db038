"""Webhook deliveries: signatures, retries, refusals and the outbox, against a local receiver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudgraph.jobs.webhook import deliver, sign, verify_signature
from graph_service.errors import InvalidInput
from tests.fraudgraph.conftest import SECRET, Receiver

DOCUMENT = {"version": "v1", "clusters": [{"ring_id": "R1", "score": 0.93}]}


def test_transient_failures_are_retried_with_the_same_delivery_id(
    receiver: Receiver, tmp_path: Path
) -> None:
    """Two 503s then 200: delivered on the third attempt; every attempt signed and carrying
    the same delivery id; nothing left in the outbox."""
    receiver.statuses = [503, 503]
    result = deliver(
        receiver.url, DOCUMENT, secret=SECRET, delivery_id="d-1", outbox=tmp_path, backoff_s=0.01
    )
    assert result.delivered and result.status == 200
    assert [a["status"] for a in result.attempts] == [503, 503, 200]
    assert [r["delivery"] for r in receiver.received] == ["d-1"] * 3
    assert all(r["valid"] for r in receiver.received)
    assert json.loads(receiver.received[-1]["body"]) == DOCUMENT  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_retry_after_is_honoured(receiver: Receiver, tmp_path: Path) -> None:
    """A 429 with Retry-After waits that long before the next attempt."""
    receiver.statuses = [429]
    receiver.retry_after = "0.3"
    result = deliver(
        receiver.url, DOCUMENT, secret=SECRET, delivery_id="d-2", outbox=tmp_path, backoff_s=0.0
    )
    assert result.delivered and len(result.attempts) == 2


def test_a_refusal_is_not_retried_and_is_kept_in_the_outbox(
    receiver: Receiver, tmp_path: Path
) -> None:
    """A 400 means the receiver refused the document: one attempt, kept with the reason."""
    receiver.statuses = [400]
    result = deliver(
        receiver.url, DOCUMENT, secret=SECRET, delivery_id="d-3", outbox=tmp_path, backoff_s=0.01
    )
    assert not result.delivered and result.status == 400 and len(result.attempts) == 1
    kept = json.loads((tmp_path / "d-3.json").read_text())
    assert kept["document"] == DOCUMENT and kept["attempts"][0]["status"] == 400
    assert result.outbox == str(tmp_path / "d-3.json")


def test_an_unreachable_receiver_uses_every_attempt_then_keeps_the_document(
    tmp_path: Path,
) -> None:
    """Connection refused on every attempt: all attempts made, the document kept."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = deliver(
        f"http://127.0.0.1:{port}/alerts",
        DOCUMENT,
        secret=SECRET,
        delivery_id="d-4",
        outbox=tmp_path,
        attempts=3,
        backoff_s=0.01,
        timeout_s=1.0,
    )
    assert not result.delivered and result.status is None
    assert len(result.attempts) == 3 and all(a["error"] for a in result.attempts)
    assert (tmp_path / "d-4.json").exists()


def test_a_later_success_empties_the_outbox(receiver: Receiver, tmp_path: Path) -> None:
    """Sending a kept document again and succeeding removes it from the outbox."""
    receiver.statuses = [400]
    deliver(receiver.url, DOCUMENT, secret=SECRET, delivery_id="d-5", outbox=tmp_path)
    assert (tmp_path / "d-5.json").exists()
    deliver(receiver.url, DOCUMENT, secret=SECRET, delivery_id="d-5", outbox=tmp_path)
    assert not (tmp_path / "d-5.json").exists()


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    """No attempts, a non-http URL or an empty secret are InvalidInput."""
    with pytest.raises(InvalidInput, match="attempts"):
        deliver("http://x", {}, secret=SECRET, delivery_id="d", outbox=tmp_path, attempts=0)
    with pytest.raises(InvalidInput, match="http"):
        deliver("file:///etc/passwd", {}, secret=SECRET, delivery_id="d", outbox=tmp_path)
    with pytest.raises(InvalidInput, match="secret"):
        sign("", 1, b"x")


@given(body=st.binary(max_size=512), timestamp=st.integers(0, 2**33))
def test_a_signature_verifies_its_own_body_and_time(body: bytes, timestamp: int) -> None:
    """verify_signature accepts what sign produced, at that time."""
    signature = sign(SECRET, timestamp, body)
    assert verify_signature(
        SECRET, body=body, timestamp=str(timestamp), signature=signature, now=timestamp
    )


@given(body=st.binary(min_size=1, max_size=256), flip=st.integers(0, 255))
def test_a_tampered_body_fails_verification(body: bytes, flip: int) -> None:
    """Changing any byte of the body makes the signature fail."""
    signature = sign(SECRET, 1_000, body)
    tampered = bytes([body[0] ^ (flip or 1)]) + body[1:]
    assert not verify_signature(
        SECRET, body=tampered, timestamp="1000", signature=signature, now=1_000
    )


def test_stale_wrong_key_and_malformed_headers_fail_verification() -> None:
    """A timestamp outside the tolerance, another key, or missing/garbled headers fail."""
    body = b'{"a":1}'
    good = sign(SECRET, 1_000, body)
    assert not verify_signature(SECRET, body=body, timestamp="1000", signature=good, now=1_400)
    assert not verify_signature("other", body=body, timestamp="1000", signature=good, now=1_000)
    assert not verify_signature(SECRET, body=body, timestamp=None, signature=good)
    assert not verify_signature(SECRET, body=body, timestamp="soon", signature=good)
    assert not verify_signature(SECRET, body=body, timestamp="1000", signature=None)
