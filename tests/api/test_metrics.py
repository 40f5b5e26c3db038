"""The hot path's tallies: folded into Prometheus they expose exactly what observing each
value there would have exposed."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from api.metrics import LATENCY_BUCKETS, ApiMetrics, CounterTally, HistogramTally


def _twins() -> tuple[CollectorRegistry, Histogram, CollectorRegistry, Histogram]:
    folded, direct = CollectorRegistry(), CollectorRegistry()
    h1 = Histogram("t_seconds", "t", ["route"], buckets=LATENCY_BUCKETS, registry=folded)
    h2 = Histogram("t_seconds", "t", ["route"], buckets=LATENCY_BUCKETS, registry=direct)
    return folded, h1, direct, h2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(min_value=0, max_value=20, allow_nan=False),
            st.sampled_from([*LATENCY_BUCKETS, 0.0]),  # values exactly on a bound
        ),
        max_size=200,
    ),
    st.integers(min_value=1, max_value=5),
)
def test_folded_histogram_exposes_what_direct_observation_does(
    values: list[float], folds: int
) -> None:
    """Any durations (bounds included: a value on a bound falls in that bucket), folded in
    any number of rounds: the same buckets, count and sum as observing each one."""
    folded, h1, direct, h2 = _twins()
    tally = HistogramTally(h1.labels("r"))
    h2.labels("r")  # the child exists on both sides, observed or not
    chunk = max(1, len(values) // folds)
    for start in range(0, len(values), chunk):
        for value in values[start : start + chunk]:
            tally.observe(value)
            h2.labels("r").observe(value)
        tally.fold()
    assert _samples(folded) == _samples(direct)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            value = round(sample.value, 9)
            out[(sample.name, tuple(sorted(sample.labels.items())))] = value
    return out


def test_counter_tally_adds_only_when_folded() -> None:
    """Counts wait in the tally, reach the counter on fold, and are not added twice."""
    registry = CollectorRegistry()
    counter = Counter("c", "c", registry=registry)
    tally = CounterTally(counter)
    for _ in range(7):
        tally.add()
    tally.add(5)
    assert b"c_total 0.0" in generate_latest(registry)
    tally.fold()
    tally.fold()
    assert b"c_total 12.0" in generate_latest(registry)


def test_app_metrics_fold_every_tally() -> None:
    """ApiMetrics.fold reaches the latency tallies and the counter tallies it handed out."""
    metrics = ApiMetrics()
    latency = metrics.latency_tally("/r", "GET", "200")
    assert metrics.latency_tally("/r", "GET", "200") is latency
    hits = metrics.counter_tally(metrics.cache_hits.labels("memory"))
    rng = random.Random(1)
    for _ in range(50):
        latency.observe(rng.random() / 100)
        hits.add()
    metrics.fold()
    text = metrics.render().decode()
    assert 'fraudgraph_feature_cache_hits_total{cache="memory"} 50.0' in text
    count = 'fraudgraph_http_request_seconds_count{method="GET",route="/r",status="200"} 50.0'
    assert count in text
