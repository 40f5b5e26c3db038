"""The model registry: trained GNNs on disk, with what they were trained on.

Layout under the registry root (by default ``STORE/models/gnn``)::

    <version>/model.pt            weights (``state_dict``)
    <version>/manifest.json       version, model kind and sizes, label mode, training data
                                  snapshot id, feature schema, metrics, created_at, label
                                  counts
    <version>/labels_seen.parquet every label the model saw: entity_id, label, ts, author,
                                  split (train / val / test); unlabelled negatives as
                                  label ``unlabelled`` with their reference time
    champion.json                 the version inference uses
    decisions.jsonl               every champion-challenger decision
    drift.jsonl                   score-distribution drift per inference run

A model is loaded only against the feature schema of the data it will score: a different
schema raises :class:`ModelSchemaMismatch`, never a silent wrong score.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pyarrow.parquet as pq
import torch

from gnn.dataset import edge_types, feature_schema
from gnn.models import AccountModel, ModelKind, build_model
from gnn.training import TrainingRun
from graph_service.errors import EntityNotFound, InvalidInput

log = logging.getLogger(__name__)

#: Format marker of manifests.
MANIFEST_FORMAT: Final = "fraudgraph-gnn-model/1"

_VERSION = re.compile(r"^gnn-[a-z0-9]+-\d{8}T\d{6}-[0-9a-f]{8}$")


class ModelSchemaMismatch(InvalidInput):
    """A saved model was trained on other features than the data being scored."""

    code = "model_schema_mismatch"


@dataclass(frozen=True)
class ModelManifest:
    """What the registry knows about one model version.

    Attributes
    ----------
    version : str
    model : str
        Architecture (:class:`~gnn.models.ModelKind`).
    hidden, layers : int
    dropout : float
    snapshot : str
        Fingerprint of the training data (:func:`gnn.dataset.snapshot_id`).
    feature_schema : dict of str to list of str
        Feature names per node type, in order.
    edge_types : list of list of str
    metrics : dict
    config : dict
        The training configuration.
    labels : dict
        Fraud / legit / unlabelled counts per split part, labelled accounts in all, and
        the latest label time seen.
    created_at : str
        ISO 8601, UTC.
    label_mode : str
        ``supervised`` (fraud against legit labels) or ``positive_unlabelled`` (fraud
        against unlabelled accounts); models saved before the mode existed were
        supervised.
    """

    version: str
    model: str
    hidden: int
    layers: int
    dropout: float
    snapshot: str
    feature_schema: dict[str, list[str]]
    edge_types: list[list[str]]
    metrics: dict[str, Any]
    config: dict[str, Any]
    labels: dict[str, Any]
    created_at: str
    label_mode: str = "supervised"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (with the format marker)."""
        return {"format": MANIFEST_FORMAT, **asdict(self)}


class ModelRegistry:
    """Saved models, the champion pointer and the decision and drift logs.

    Parameters
    ----------
    root : Path
        Registry directory (created on first write).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- models ---------------------------------------------------------------------
    def register(
        self, run: TrainingRun, *, extra_metrics: dict[str, Any] | None = None
    ) -> ModelManifest:
        """Save a trained model with its manifest and the labels it saw.

        Parameters
        ----------
        run : TrainingRun
        extra_metrics : dict, optional
            Merged into the manifest's metrics (e.g. the boosting comparison).

        Returns
        -------
        ModelManifest

        Notes
        -----
        Written to a temporary folder and renamed, so a crash leaves no half model.
        """
        created = datetime.now(UTC)
        digest = hashlib.sha256()
        for tensor in run.model.state_dict().values():
            digest.update(tensor.detach().cpu().numpy().tobytes())
        digest.update(run.snapshot.encode())
        version = f"gnn-{run.config.model.value}-{created:%Y%m%dT%H%M%S}-{digest.hexdigest()[:8]}"
        labels = run.split.labels
        manifest = ModelManifest(
            version=version,
            model=run.config.model.value,
            hidden=run.config.hidden,
            layers=run.config.layers,
            dropout=run.config.dropout,
            snapshot=run.snapshot,
            feature_schema=feature_schema(),
            edge_types=[list(t) for t in edge_types()],
            metrics={**run.metrics, **(extra_metrics or {})},
            config=run.config.as_dict(),
            labels={
                "counts": run.split.counts(),
                "total": run.split.labelled_rows(),
                "latest_ts_us": int(labels.column("ts").to_numpy().max())
                if labels.num_rows
                else None,
            },
            created_at=created.isoformat(),
            label_mode=run.split.mode.value,
        )
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".{version}.partial"
        staging.mkdir()
        torch.save(run.model.state_dict(), staging / "model.pt")
        pq.write_table(labels, staging / "labels_seen.parquet")
        (staging / "manifest.json").write_text(json.dumps(manifest.as_dict(), indent=2))
        staging.replace(self.root / version)
        log.info("gnn model registered", extra={"version": version})
        return manifest

    def versions(self) -> list[str]:
        """Registered versions, oldest first."""
        if not self.root.exists():
            return []
        found = [p.name for p in self.root.iterdir() if p.is_dir() and _VERSION.match(p.name)]
        return sorted(found, key=lambda v: (self.manifest(v).created_at, v))

    def manifest(self, version: str) -> ModelManifest:
        """The manifest of ``version``.

        Raises
        ------
        InvalidInput
            If ``version`` is not a model version name.
        EntityNotFound
            If no such model is registered.
        """
        folder = self._folder(version)
        payload = json.loads((folder / "manifest.json").read_text())
        if payload.pop("format", None) != MANIFEST_FORMAT:
            raise InvalidInput(f"{folder} holds no {MANIFEST_FORMAT} manifest")
        return ModelManifest(**payload)

    def load(
        self, version: str, *, expected_schema: dict[str, list[str]] | None = None
    ) -> AccountModel:
        """The model of ``version``, ready to score (eval mode, CPU).

        Parameters
        ----------
        version : str
        expected_schema : dict, optional
            The feature schema of the data to score (default: the current one,
            :func:`gnn.dataset.feature_schema`).

        Returns
        -------
        AccountModel

        Raises
        ------
        ModelSchemaMismatch
            If the model was trained on another feature schema.
        EntityNotFound
            If no such model is registered.
        """
        manifest = self.manifest(version)
        expected = expected_schema if expected_schema is not None else feature_schema()
        if manifest.feature_schema != expected:
            differences = []
            for node_type in sorted(set(expected) | set(manifest.feature_schema)):
                saved = manifest.feature_schema.get(node_type, [])
                wanted = expected.get(node_type, [])
                if saved != wanted:
                    missing = sorted(set(saved) - set(wanted))
                    extra = sorted(set(wanted) - set(saved))
                    differences.append(
                        f"{node_type}: model needs {missing or 'the same names'} "
                        f"in its order, data has extra {extra}"
                    )
            raise ModelSchemaMismatch(
                f"model {version} was trained on another feature schema: " + "; ".join(differences)
            )
        in_dims = {t: len(names) for t, names in manifest.feature_schema.items()}
        model = build_model(
            ModelKind(manifest.model),
            in_dims,
            [(a, b, c) for a, b, c in manifest.edge_types],
            hidden=manifest.hidden,
            layers=manifest.layers,
            dropout=manifest.dropout,
        )
        state = torch.load(self._folder(version) / "model.pt", weights_only=True)
        model.load_state_dict(state)
        model.eval()
        return model

    def labels_seen(self, version: str) -> Any:
        """The labels ``version`` was trained, validated and tested on (Arrow table)."""
        return pq.read_table(self._folder(version) / "labels_seen.parquet")

    # -- champion -------------------------------------------------------------------
    def champion(self) -> str | None:
        """The version inference uses, or ``None`` before the first promotion."""
        path = self.root / "champion.json"
        if not path.exists():
            return None
        version: str = json.loads(path.read_text())["version"]
        return version

    def set_champion(self, version: str) -> None:
        """Make ``version`` the champion (atomically)."""
        self._folder(version)
        self._write_json(
            "champion.json", {"version": version, "since": datetime.now(UTC).isoformat()}
        )

    # -- logs -----------------------------------------------------------------------
    def append(self, log_name: str, record: dict[str, Any]) -> None:
        """Append one JSON record to ``decisions`` or ``drift``."""
        if log_name not in ("decisions", "drift"):
            raise InvalidInput(f"unknown registry log {log_name!r}")
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{log_name}.jsonl").open("a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")

    def replace_records(self, log_name: str, records: list[dict[str, Any]]) -> None:
        """Rewrite ``decisions`` or ``drift`` with ``records`` (atomically: temp + rename)."""
        if log_name not in ("decisions", "drift"):
            raise InvalidInput(f"unknown registry log {log_name!r}")
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{log_name}.jsonl"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in records))
        tmp.replace(path)

    def records(self, log_name: str) -> list[dict[str, Any]]:
        """Every record of ``decisions`` or ``drift``, oldest first."""
        path = self.root / f"{log_name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def _folder(self, version: str) -> Path:
        if not _VERSION.match(version):
            raise InvalidInput(f"{version!r} is not a model version (gnn-<kind>-<time>-<hash>)")
        folder = self.root / version
        if not (folder / "manifest.json").exists():
            raise EntityNotFound(f"no model {version} in {self.root}")
        return folder

    def _write_json(self, name: str, payload: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".{name}.partial"
        staging.write_text(json.dumps(payload, indent=2))
        staging.replace(self.root / name)


def default_registry_root(store_dir: Path) -> Path:
    """Where a store's GNN registry lives: ``STORE/models/gnn``."""
    return Path(store_dir) / "models" / "gnn"
