"""Pipeline specs and the data fingerprint behind a run's input key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudgraph.jobs.steps import GNN_MODES, PIPELINE_STEPS, PipelineSpec, data_fingerprint
from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import InvalidInput
from graph_service.model import NodeType
from tests.conftest import GOOD_EVENTS, write_rows


@given(
    inputs=st.lists(st.text(min_size=1, max_size=20), max_size=3),
    threshold=st.floats(0.0, 1.0),
    gnn=st.sampled_from(GNN_MODES),
    epochs=st.integers(1, 500),
    force=st.booleans(),
    steps=st.lists(st.sampled_from(PIPELINE_STEPS), min_size=1, max_size=8, unique=True),
)
def test_a_spec_survives_its_message_form(
    inputs: list[str], threshold: float, gnn: str, epochs: int, force: bool, steps: list[str]
) -> None:
    """as_dict -> from_dict gives the same spec (specs travel in task messages as JSON)."""
    spec = PipelineSpec(
        inputs=tuple(inputs),
        threshold=threshold,
        gnn=gnn,
        gnn_epochs=epochs,
        force=force,
        steps=tuple(steps),
    )
    assert PipelineSpec.from_dict(spec.as_dict()) == spec


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gnn": "sometimes"}, "gnn must be one of"),
        ({"threshold": 1.5}, "threshold"),
        ({"gnn_epochs": 0}, "gnn_epochs"),
        ({"steps": ("ingest", "bake")}, "unknown steps"),
        ({"steps": ()}, "unknown steps"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    """Every bad option is an InvalidInput naming it."""
    with pytest.raises(InvalidInput, match=message):
        PipelineSpec(**options)  # type: ignore[arg-type]


def test_unknown_message_keys_are_refused() -> None:
    """A message from a newer or broken sender is refused, not half understood."""
    with pytest.raises(InvalidInput, match="unknown pipeline options"):
        PipelineSpec.from_dict({"inputs": [], "colour": "red"})


def test_the_fingerprint_changes_with_data_and_labels_only(tmp_path: Path) -> None:
    """Same data, same fingerprint; a new label or new events change it."""
    store = EmbeddedStore(tmp_path / "store")
    from ingestion.loader import Ingestor

    ingestor = Ingestor(store, quarantine_dir=tmp_path / "q")
    ingestor.run([write_rows(tmp_path / "a.csv", GOOD_EVENTS[:3])])
    first = data_fingerprint(store)
    assert data_fingerprint(store) == first
    store.add_label(
        NodeType.ACCOUNT, "A1", label="fraud", source="investigation", author="ana", reason="test"
    )
    labelled = data_fingerprint(store)
    assert labelled != first and labelled["labels"] == first["labels"] + 1
    ingestor.run([write_rows(tmp_path / "b.csv", GOOD_EVENTS[3:])])
    ingestor.close()
    assert data_fingerprint(store)["sources"] != labelled["sources"]
    store.close()
