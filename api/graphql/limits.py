"""GraphQL hardening: a per-query cost limit, and error codes with masked internals.

Depth, alias and token limits are Strawberry's own extensions (see :mod:`api.graphql.schema`);
this module adds

* :func:`cost_limit_rule` -- a validation rule that prices a document before it runs:
  every field costs 1 times the product of the page sizes (``first``) of the lists above
  it; a list without ``first`` counts as :data:`UNPAGED_LIST_COST` items;
* :class:`ErrorCodes` -- every error leaves with ``extensions.code``: the code of the
  ``FraudGraphError`` behind it, ``invalid_query`` for documents that fail validation
  (limits included), or ``internal_error`` with the message masked. It also sets the HTTP
  status: 4xx when nothing could be answered because of the request, 503/504 when the
  store is down or too slow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Final

from graphql import (
    FieldNode,
    GraphQLError,
    IntValueNode,
    ValidationContext,
    ValidationRule,
    get_nullable_type,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

from graph_service.errors import FraudGraphError

log = logging.getLogger(__name__)

#: Items assumed for a list field that takes no ``first``.
UNPAGED_LIST_COST: Final = 10
#: List fields whose size the parent's ``first`` already priced (connections).
_CONNECTION_LISTS: Final = frozenset({"edges", "nodes"})


def cost_limit_rule(max_cost: int, default_page: int) -> type[ValidationRule]:
    """A validation rule refusing documents that cost more than ``max_cost``.

    Parameters
    ----------
    max_cost : int
    default_page : int
        Items assumed for a ``first`` given as a variable or left out.

    Returns
    -------
    type
        A ``graphql.ValidationRule`` subclass.

    Notes
    -----
    O(fields of the document). Fragment spreads are priced where their definition is
    visited (at the top level), so fragments are priced once, not per use; the depth
    and token limits bound what that leaves out.
    """

    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.multipliers: list[int] = [1]
            self.cost = 0
            self.reported = False

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            multiplier = self.multipliers[-1]
            self.cost += multiplier
            child = multiplier
            first = next((a for a in node.arguments or () if a.name.value == "first"), None)
            field_type = self.context.get_type()
            if first is not None:
                size = (
                    int(first.value.value)
                    if isinstance(first.value, IntValueNode)
                    else default_page
                )
                child = multiplier * max(1, size)
            elif (
                field_type is not None
                and is_list_type(get_nullable_type(field_type))
                and node.name.value not in _CONNECTION_LISTS
            ):
                child = multiplier * UNPAGED_LIST_COST
            self.multipliers.append(child)
            if self.cost > max_cost and not self.reported:
                self.reported = True
                self.report_error(
                    GraphQLError(
                        f"query cost exceeds the limit of {max_cost} (each field counts once "
                        "per item of the lists above it; lower `first` or select fewer fields)",
                        node,
                    )
                )

        def leave_field(self, node: FieldNode, *_: Any) -> None:
            self.multipliers.pop()

    return CostLimit


def _code_and_status(error: GraphQLError) -> tuple[str, int, bool]:
    """``(code, http status, mask)`` of one error."""
    original = error.original_error
    if isinstance(original, FraudGraphError):
        return (
            original.code,
            original.http_status,
            original.http_status >= 500 and (original.code == "internal_error"),
        )
    if original is None:
        return "invalid_query", 400, False
    return "internal_error", 500, True


class ErrorCodes(SchemaExtension):
    """Gives every error a code, masks unexpected ones, and sets the HTTP status."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if not errors:
            return
        processed: list[GraphQLError] = []
        statuses: list[int] = []
        context = self.execution_context.context
        metrics = getattr(context, "metrics", None)
        for error in errors:
            code, status, mask = _code_and_status(error)
            statuses.append(status)
            if metrics is not None:
                metrics.graphql_errors.labels(code).inc()
            if mask:
                log.error("unexpected GraphQL error", exc_info=error.original_error)
                message = "internal error; it has been logged"
            else:
                message = error.message
            processed.append(
                GraphQLError(
                    message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    original_error=None if mask else error.original_error,
                    extensions={**(error.extensions or {}), "code": code},
                )
            )
        result.errors = processed  # type: ignore[union-attr]
        response = getattr(context, "response", None)
        if response is None:
            return
        data = getattr(result, "data", None)
        nothing_answered = data is None or all(v is None for v in data.values())
        unavailable = [s for s in statuses if s in (503, 504)]
        if unavailable:
            response.status_code = unavailable[0]
        elif nothing_answered:
            response.status_code = max(statuses) if max(statuses) >= 500 else statuses[0]
