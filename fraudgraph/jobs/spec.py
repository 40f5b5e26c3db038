"""What a pipeline run is asked to do: its steps, inputs and options (``PipelineSpec``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from graph_service.errors import InvalidInput
from graph_service.settings import Settings
from scoring.flagging import FLAG_THRESHOLD

__all__ = ["GNN_MODES", "PIPELINE_STEPS", "TRAINING_STEPS", "PipelineSpec"]

#: Steps of a pipeline run, in order.
PIPELINE_STEPS: Final[tuple[str, ...]] = (
    "ingest",
    "gnn_train",
    "gnn_infer",
    "analyse",
    "flag",
    "publish",
    "evaluate",
    "deliver",
)
#: Steps of a scheduled GNN training run.
TRAINING_STEPS: Final[tuple[str, ...]] = ("gnn_train",)
#: ``auto``: infer with the champion, training one first if there is none; ``train``:
#: train (and challenge the champion) first; ``off``: no GNN steps.
GNN_MODES: Final[tuple[str, ...]] = ("auto", "train", "off")


@dataclass(frozen=True)
class PipelineSpec:
    """What a run does (JSON-ready: it travels in task messages).

    Attributes
    ----------
    store_dir : str or None
        The store; default the worker's ``FRAUDGRAPH_STORE_DIR``.
    inputs : tuple of str
        Files or directories to ingest (already ingested files are skipped).
    truth : str or None
        Ground truth to evaluate against.
    threshold : float
        Ring score from which a ring is flagged (default
        :data:`scoring.flagging.FLAG_THRESHOLD`, the alert queue at a 0.5% false-discovery
        rate).
    gnn : str
        One of :data:`GNN_MODES`.
    gnn_epochs : int
        Most epochs when the run trains a GNN.
    gnn_compare : bool
        Also fit the boosting comparators when training.
    publish_redis : bool
        Also publish the snapshot to ``FRAUDGRAPH_JOBS_FEATURE_REDIS_URL`` when set.
    deliver : bool
        POST the flagged clusters to ``FRAUDGRAPH_JOBS_WEBHOOK_URL`` when set.
    force : bool
        Run every step even when the input key is unchanged.
    wait_s : float
        How long to wait for another run's lock before being refused.
    """

    store_dir: str | None = None
    inputs: tuple[str, ...] = ()
    truth: str | None = None
    threshold: float = FLAG_THRESHOLD
    gnn: str = "auto"
    gnn_epochs: int = 40
    gnn_compare: bool = True
    publish_redis: bool = True
    deliver: bool = True
    force: bool = False
    wait_s: float = 0.0
    steps: tuple[str, ...] = field(default=PIPELINE_STEPS)

    def __post_init__(self) -> None:
        if self.gnn not in GNN_MODES:
            raise InvalidInput(f"gnn must be one of {list(GNN_MODES)}, got {self.gnn!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise InvalidInput(f"threshold must be in [0, 1], got {self.threshold}")
        if self.gnn_epochs < 1:
            raise InvalidInput("gnn_epochs must be >= 1")
        unknown = [s for s in self.steps if s not in PIPELINE_STEPS]
        if unknown or not self.steps:
            raise InvalidInput(f"unknown steps {unknown}; steps are {list(PIPELINE_STEPS)}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :meth:`from_dict`)."""
        data = asdict(self)
        data["inputs"] = list(self.inputs)
        data["steps"] = list(self.steps)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineSpec:
        """The spec of :meth:`as_dict`.

        Raises
        ------
        InvalidInput
            For unknown keys or bad values.
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"unknown pipeline options {unknown}")
        values = dict(data)
        for name in ("inputs", "steps"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def settings(self) -> Settings:
        """The store settings: the environment's, with ``store_dir`` applied."""
        base = Settings()
        if self.store_dir is None:
            return base
        return base.model_copy(update={"store_dir": Path(self.store_dir)})

    def with_store(self, settings: Settings) -> PipelineSpec:
        """This spec pinned to ``settings.store_dir`` (absolute)."""
        return replace(self, store_dir=str(Path(settings.store_dir).resolve()))
