"""Errors specific to the Neo4j backend (leaves of :class:`FraudGraphError`)."""

from __future__ import annotations

from graph_service.errors import FraudGraphError


class QueryTimeout(FraudGraphError):
    """A Neo4j query ran past its timeout and was terminated by the server.

    The transaction was rolled back; nothing it wrote is kept. Raised for the
    ``Neo.ClientError.Transaction.TransactionTimedOut*`` status codes.
    """

    http_status = 504
    code = "query_timeout"
