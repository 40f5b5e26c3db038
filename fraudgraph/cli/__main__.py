"""``python -m fraudgraph.cli``: the ``fraudgraph`` command."""

from fraudgraph.cli.app import app

if __name__ == "__main__":
    app()
