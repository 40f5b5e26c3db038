"""Settings of the API server (``FRAUDGRAPH_API_*``): the ``api`` section of the one
settings tree, declared in :mod:`graph_service.settings`."""

from graph_service.settings import ApiSettings

__all__ = ["ApiSettings"]
