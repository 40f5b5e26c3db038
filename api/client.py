"""A thin Python client for the feature endpoints, for the real-time scorer.

One ``httpx.Client`` per :class:`FeatureClient` keeps its connections alive between
calls (no TCP or TLS set-up per decision), and an optional local LRU answers repeated
look-ups of the same entity within a short time-to-live without a round trip.

Examples
--------
>>> with FeatureClient("http://127.0.0.1:8000", api_key="dev-scorer") as client:  # doctest: +SKIP
...     client.get("Account", "A000000001")["risk"]
0.87
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
import orjson

from graph_service.errors import FraudGraphError

Feature = dict[str, Any]


class FeatureRequestFailed(FraudGraphError):
    """The feature service answered with an error (the status and code are kept)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.http_status = status
        self.code = code


class _TimedLRU:
    """Least-recently-used map whose entries expire ``ttl_s`` after they were stored."""

    def __init__(self, size: int, ttl_s: float) -> None:
        self.size, self.ttl_s = size, ttl_s
        self._items: OrderedDict[tuple[str, str], tuple[float, Feature | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: tuple[str, str]) -> tuple[bool, Feature | None]:
        with self._lock:
            item = self._items.get(name)
            if item is None or item[0] < time.monotonic():
                return False, None
            self._items.move_to_end(name)
            return True, item[1]

    def put(self, name: tuple[str, str], value: Feature | None) -> None:
        with self._lock:
            self._items[name] = (time.monotonic() + self.ttl_s, value)
            self._items.move_to_end(name)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class FeatureClient:
    """Client of ``/v1/features``.

    Parameters
    ----------
    base_url : str
        E.g. ``"http://fraudgraph-api:8000"``.
    api_key : str
        A key of role ``scorer``.
    timeout_s : float
        Per-request timeout (the scorer's budget for this call).
    cache_size : int
        Entries of the local LRU (0 = no local cache).
    cache_ttl_s : float
        How long a cached answer (a 404 included) is reused.
    max_connections : int
        Connections kept alive to the server.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        timeout_s: float = 0.05,
        cache_size: int = 0,
        cache_ttl_s: float = 5.0,
        max_connections: int = 16,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers={"X-API-Key": api_key, "Accept": "application/json"},
            timeout=timeout_s,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        self._cache = _TimedLRU(cache_size, cache_ttl_s) if cache_size > 0 else None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._http.close()

    @staticmethod
    def _failed(response: httpx.Response) -> FeatureRequestFailed:
        try:
            error = orjson.loads(response.content)["error"]
            return FeatureRequestFailed(response.status_code, error["code"], error["message"])
        except (ValueError, KeyError, TypeError):
            return FeatureRequestFailed(response.status_code, "http_error", response.text[:200])

    def get(self, entity_type: str, key: str) -> Feature | None:
        """The feature of one entity, or ``None`` if the service has none (404).

        Raises
        ------
        FeatureRequestFailed
            On any other error status (401, 403, 400, 503...).
        httpx.HTTPError
            On a transport failure or timeout.
        """
        name = (entity_type, key)
        if self._cache is not None:
            hit, value = self._cache.get(name)
            if hit:
                return value
        path = f"/v1/features/{quote(entity_type, safe='')}/{quote(key, safe='')}"
        response = self._http.get(path)
        if response.status_code == 404:
            found: Feature | None = None
        elif response.status_code == 200:
            found = orjson.loads(response.content)
        else:
            raise self._failed(response)
        if self._cache is not None:
            self._cache.put(name, found)
        return found

    def get_many(self, entities: Sequence[tuple[str, str]]) -> list[Feature | None]:
        """Features of many ``(type, key)`` entities in one call, in order.

        Raises
        ------
        FeatureRequestFailed
            On an error status (413 when over the server's batch cap).
        httpx.HTTPError
            On a transport failure or timeout.
        """
        results: list[Feature | None] = [None] * len(entities)
        wanted: list[int] = []
        for i, name in enumerate(entities):
            if self._cache is not None:
                hit, value = self._cache.get(name)
                if hit:
                    results[i] = value
                    continue
            wanted.append(i)
        if wanted:
            body = {"entities": [{"type": entities[i][0], "key": entities[i][1]} for i in wanted]}
            response = self._http.post(
                "/v1/features/batch",
                content=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
            )
            if response.status_code != 200:
                raise self._failed(response)
            data = orjson.loads(response.content)["data"]
            for i, item in zip(wanted, data, strict=True):
                results[i] = item
                if self._cache is not None:
                    self._cache.put(entities[i], item)
        return results
