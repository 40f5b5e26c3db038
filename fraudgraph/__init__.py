"""The composition root: the ``fraudgraph`` CLI (and, later, the Celery wiring).

The only package that may import all the others; it holds no domain logic of its own.
"""
