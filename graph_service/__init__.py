"""The entity graph: node and link types, the ``GraphStore`` protocol and its backends.

``graph_service`` owns the graph model (``model``), the storage contract
(``store.GraphStore``), settings, errors and the backends (``embedded``: DuckDB + an
in-memory CSR; ``neo4j``: the official driver + Graph Data Science). It imports no other
package of this project.
"""

from graph_service.errors import (
    BackendUnavailable,
    EntityNotFound,
    FraudGraphError,
    InvalidInput,
    LimitExceeded,
    QueryTimeout,
    StoreLocked,
)
from graph_service.model import LINK_ENDPOINTS, LinkType, NodeType
from graph_service.store import GraphStore, open_store

__all__ = [
    "LINK_ENDPOINTS",
    "BackendUnavailable",
    "EntityNotFound",
    "FraudGraphError",
    "GraphStore",
    "InvalidInput",
    "LimitExceeded",
    "LinkType",
    "NodeType",
    "QueryTimeout",
    "StoreLocked",
    "open_store",
]
