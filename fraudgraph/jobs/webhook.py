"""Flagged clusters to the case-management system: signed POSTs with retries, and an outbox.

A delivery is one JSON document (the run's flagged-cluster report). It is signed with
HMAC-SHA256 over ``"<timestamp>.<body>"`` and sent with::

    Content-Type: application/json
    X-Fraudgraph-Delivery: <delivery id>         the same on every retry of the delivery
    X-Fraudgraph-Timestamp: <UNIX seconds>
    X-Fraudgraph-Signature: sha256=<hex digest>

The receiver checks the signature with :func:`verify_signature` (which also refuses
stale timestamps, against replays) and drops a delivery id it has seen (a re-delivered
job sends the same id). Connection errors, timeouts, 408, 429 and 5xx are retried with
exponential backoff (``Retry-After`` honoured); other 4xx are not, the receiver having
refused the document. A delivery that fails for good is kept in the outbox
(``STORE/jobs/outbox/<delivery id>.json``, with the reason) to be sent again with
``fraudgraph jobs deliver``; nothing is dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from graph_service.errors import FraudGraphError, InvalidInput

__all__ = [
    "DeliveryResult",
    "WebhookRefused",
    "deliver",
    "sign",
    "verify_signature",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Fraudgraph-Signature"
TIMESTAMP_HEADER: Final = "X-Fraudgraph-Timestamp"
DELIVERY_HEADER: Final = "X-Fraudgraph-Delivery"
_RETRIED_STATUSES: Final = frozenset({408, 425, 429})


class WebhookRefused(FraudGraphError):
    """The receiver could not be reached or refused the delivery after every attempt
    (HTTP 502: the document is in the outbox)."""

    http_status = 502


@dataclass
class DeliveryResult:
    """How one delivery went.

    Attributes
    ----------
    delivery_id : str
    delivered : bool
    status : int or None
        The last HTTP status (``None`` when no answer came).
    attempts : list of dict
        ``{status, error, seconds}`` per attempt.
    outbox : str or None
        Where the document was kept when it was not delivered.
    """

    delivery_id: str
    delivered: bool
    status: int | None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    outbox: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "delivery_id": self.delivery_id,
            "delivered": self.delivered,
            "status": self.status,
            "attempts": self.attempts,
            "outbox": self.outbox,
        }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value of ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    if not secret:
        raise InvalidInput("a webhook secret must not be empty")
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str,
    *,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """Whether a received delivery is authentic and fresh (for receivers and tests).

    Parameters
    ----------
    secret : str
    body : bytes
        The raw request body.
    timestamp, signature : str or None
        The ``X-Fraudgraph-Timestamp`` and ``X-Fraudgraph-Signature`` headers.
    tolerance_s : float
        Oldest (or most in the future) a timestamp may be.
    now : float, optional
        The current UNIX time (default ``time.time()``).

    Returns
    -------
    bool
        False for a missing or malformed header, a stale timestamp or a wrong signature
        (compared in constant time).
    """
    if not timestamp or not signature:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


def deliver(
    url: str,
    document: dict[str, Any],
    *,
    secret: str,
    delivery_id: str,
    outbox: Path,
    attempts: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 10.0,
    client: httpx.Client | None = None,
) -> DeliveryResult:
    """POST ``document`` to ``url``, signed, retrying transient failures.

    Parameters
    ----------
    url : str
    document : dict
        JSON-serialisable.
    secret : str
        HMAC key.
    delivery_id : str
        Sent on every attempt so the receiver can drop duplicates.
    outbox : Path
        Folder where an undelivered document is kept (``<delivery_id>.json``); a
        delivered one is removed from it.
    attempts : int
        Attempts in all (>= 1).
    backoff_s : float
        Wait before the second attempt, doubled each time (capped at 60 s), unless the
        receiver sends ``Retry-After``.
    timeout_s : float
        Per attempt.
    client : httpx.Client, optional

    Returns
    -------
    DeliveryResult
        ``delivered`` False when every attempt failed or the receiver refused (4xx other
        than 408/425/429); the document is then in the outbox.

    Raises
    ------
    InvalidInput
        For an empty secret, a non-http(s) URL or ``attempts`` below 1.
    """
    if attempts < 1:
        raise InvalidInput("webhook attempts must be >= 1")
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"webhook URL must be http(s), got {url!r}")
    body = json.dumps(document, default=str, separators=(",", ":")).encode()
    result = DeliveryResult(delivery_id=delivery_id, delivered=False, status=None)
    own = client is None
    http = client or httpx.Client(timeout=timeout_s)
    try:
        for attempt in range(attempts):
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                DELIVERY_HEADER: delivery_id,
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(secret, timestamp, body),
            }
            started = time.perf_counter()
            retry_after: float | None = None
            try:
                response = http.post(url, content=body, headers=headers, timeout=timeout_s)
            except httpx.HTTPError as exc:
                result.attempts.append(
                    {
                        "status": None,
                        "error": f"{type(exc).__name__}: {exc}",
                        "seconds": _since(started),
                    }
                )
                retryable = True
            else:
                result.status = response.status_code
                result.attempts.append(
                    {"status": response.status_code, "error": None, "seconds": _since(started)}
                )
                if response.is_success:
                    result.delivered = True
                    break
                retryable = response.status_code >= 500 or response.status_code in _RETRIED_STATUSES
                retry_after = _retry_after(response.headers.get("Retry-After"))
            if not retryable or attempt == attempts - 1:
                break
            time.sleep(
                retry_after if retry_after is not None else min(60.0, backoff_s * 2**attempt)
            )
    finally:
        if own:
            http.close()
    kept = outbox / f"{delivery_id}.json"
    if result.delivered:
        kept.unlink(missing_ok=True)
        log.info(
            "webhook delivered", extra={"delivery": delivery_id, "attempts": len(result.attempts)}
        )
    else:
        outbox.mkdir(parents=True, exist_ok=True)
        tmp = kept.with_name(f".{kept.name}.tmp")
        tmp.write_text(
            json.dumps(
                {
                    "url": url,
                    "delivery_id": delivery_id,
                    "attempts": result.attempts,
                    "document": document,
                },
                default=str,
                indent=1,
            )
        )
        tmp.replace(kept)
        result.outbox = str(kept)
        log.error(
            "webhook not delivered; kept in the outbox",
            extra={"delivery": delivery_id, "status": result.status, "outbox": str(kept)},
        )
    return result


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 4)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return min(60.0, max(0.0, float(value)))
    except ValueError:
        return None
