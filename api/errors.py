"""Errors to HTTP, in one place: every error body is ``{"error": {"code", "message"}}``.

``FraudGraphError`` subclasses carry their status (``graph_service.errors``); request
validation failures are 422 with the offending fields; unknown routes and methods keep
their 404/405; anything else is a masked 500 (logged with its traceback).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from graph_service.errors import FraudGraphError

log = logging.getLogger(__name__)


def error_body(code: str, message: str, **extra: Any) -> bytes:
    """The API's one error shape, serialised."""
    return orjson.dumps({"error": {"code": code, "message": message, **extra}})


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    """A JSON error response in the API's one error shape."""
    body = error_body(code, message, **extra)
    return Response(body, status_code=status, media_type="application/json")


async def _fraudgraph_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FraudGraphError)
    headers = {}
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = "ApiKey"
    response = error_response(exc.http_status, exc.code, str(exc))
    response.headers.update(headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"location": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    first = details[0] if details else {"location": [], "message": "invalid request"}
    message = f"{'.'.join(first['location'])}: {first['message']}"
    return error_response(422, "invalid_input", message, details=details)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    response = error_response(exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    """Register the API's error mapping on ``app``."""
    app.add_exception_handler(FraudGraphError, _fraudgraph_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
