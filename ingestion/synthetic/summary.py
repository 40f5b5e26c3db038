"""What a scenario generator reports back: its summary as JSON-ready values."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from pathlib import Path

__all__ = ["JsonSummary"]


class JsonSummary:
    """Base of the generators' summary dataclasses: :meth:`as_dict` for the CLI's
    ``--json`` and the benchmarks.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Summary(JsonSummary):
    ...     rows: int
    ...     out_dir: Path
    >>> Summary(3, Path("/tmp/x")).as_dict()
    {'rows': 3, 'out_dir': '/tmp/x'}
    """

    def as_dict(self) -> dict[str, object]:
        """The summary as JSON-ready values (paths as strings)."""
        if not is_dataclass(self):
            raise TypeError(f"{type(self).__name__} is not a dataclass")
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out
