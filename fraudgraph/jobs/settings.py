"""Settings of the batch jobs (``FRAUDGRAPH_JOBS_*``): the ``jobs`` section of the one
settings tree, declared in :mod:`graph_service.settings`."""

from graph_service.settings import JobSettings

__all__ = ["JobSettings"]
