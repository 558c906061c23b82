"""Performance metrics of the spec through the metrics port, sampled as D23 says."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    InvalidInputError,
    Metric,
    MetricName,
    Policy,
    Sampler,
    measure,
)
from mlc_progress._telemetry import DIMENSIONS, SAMPLED

CALCULATION = MetricName.PROGRESS_CALCULATION_TIME_MS
AGGREGATION = MetricName.PROGRESS_AGGREGATION_TIME_MS
SNAPSHOT = MetricName.SNAPSHOT_CREATION_TIME_MS

VALID_DIMENSIONS: dict[MetricName, dict[str, str | int]] = {
    CALCULATION: {"calculation_type": "assignment", "step_count": 20},
    AGGREGATION: {"aggregation_scope": "class", "record_count": 30},
    SNAPSHOT: {"snapshot_scope": "assignment"},
}


class ListSink:
    """A metrics sink that keeps what it is given."""

    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def record(self, metric: Metric) -> None:
        self.metrics.append(metric)


def clock(*readings: float) -> Any:
    """A timer returning ``readings`` in order, in seconds."""
    values = iter(readings)
    return lambda: next(values)


def test_the_spec_metrics_and_their_dimensions() -> None:
    """Three metrics, with exactly the spec's dimensions."""
    assert {m.value for m in MetricName} == {
        "progress_calculation_time_ms",
        "progress_aggregation_time_ms",
        "snapshot_creation_time_ms",
    }
    assert dict(DIMENSIONS) == {
        CALCULATION: {"calculation_type", "step_count"},
        AGGREGATION: {"aggregation_scope", "record_count"},
        SNAPSHOT: {"snapshot_scope"},
    }


def test_only_high_frequency_calculations_are_sampled() -> None:
    """D23: calculation metrics are sampled; batch aggregation and snapshots never."""
    assert set(SAMPLED) == {CALCULATION}


def test_a_seeded_sampler_keeps_about_ten_percent_of_calculation_metrics() -> None:
    """With a seeded source, 10 % of 10,000 draws are kept, within 1 point."""
    sampler = Sampler(random=random.Random(20261124).random)
    kept = sum(sampler.keep(CALCULATION) for _ in range(10_000))
    assert 900 <= kept <= 1_100


@pytest.mark.parametrize("name", [AGGREGATION, SNAPSHOT])
def test_aggregation_and_snapshot_metrics_are_always_kept(name: MetricName) -> None:
    """Never sampled: kept whatever the random source says, without asking it."""

    def refuse() -> float:
        raise AssertionError("the random source is not consulted")

    sampler = Sampler(rate=0.0, random=refuse)
    assert all(sampler.keep(name) for _ in range(100))


@pytest.mark.parametrize(
    ("draw", "kept"), [(0.0, True), (0.0999, True), (0.1, False), (0.99, False)]
)
def test_a_calculation_metric_is_kept_when_the_draw_is_below_the_rate(
    draw: float, kept: bool
) -> None:
    """The draw is compared with the rate: kept below it, dropped from it on."""
    assert Sampler(random=lambda: draw).keep(CALCULATION) is kept


def test_the_sampler_takes_the_policy_rate() -> None:
    """Sampler.for_policy uses Policy.metrics_sample_rate (default 10 %)."""
    assert Sampler.for_policy(Policy()).rate == 0.1
    sampler = Sampler.for_policy(Policy(metrics_sample_rate=0.5), random=lambda: 0.4)
    assert sampler.keep(CALCULATION)


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan"), True, "0.1"])
def test_a_rate_outside_zero_to_one_is_refused(rate: object) -> None:
    """D23: a sampling rate is a fraction."""
    with pytest.raises(InvalidInputError) as error:
        Sampler(rate=rate)  # type: ignore[arg-type]
    assert error.value.field == "rate"


@pytest.mark.parametrize("name", list(MetricName))
def test_a_metric_with_its_dimensions_is_valid(name: MetricName) -> None:
    """Each metric is built from its name, a value in ms and its dimensions."""
    metric = Metric(name=name, value_ms=1.25, dimensions=VALID_DIMENSIONS[name])
    assert metric.dimensions == VALID_DIMENSIONS[name]


@pytest.mark.parametrize(
    ("name", "dimensions", "field"),
    [
        (CALCULATION, {"calculation_type": "step"}, "dimensions"),
        (
            CALCULATION,
            {"calculation_type": "step", "step_count": 1, "x": 1},
            "dimensions",
        ),
        (
            CALCULATION,
            {"calculation_type": "class", "step_count": 1},
            "calculation_type",
        ),
        (CALCULATION, {"calculation_type": "step", "step_count": -1}, "step_count"),
        (CALCULATION, {"calculation_type": "step", "step_count": True}, "step_count"),
        (
            AGGREGATION,
            {"aggregation_scope": "student", "record_count": 1},
            "aggregation_scope",
        ),
        (
            AGGREGATION,
            {"aggregation_scope": "class", "record_count": "9"},
            "record_count",
        ),
        (SNAPSHOT, {"snapshot_scope": "student"}, "snapshot_scope"),
    ],
    ids=[
        "missing",
        "extra",
        "bad-calculation-type",
        "negative-count",
        "boolean-count",
        "bad-aggregation-scope",
        "text-count",
        "student-snapshot-scope",
    ],
)
def test_a_metric_refuses_dimensions_outside_the_spec(
    name: MetricName, dimensions: dict[str, Any], field: str
) -> None:
    """Dimensions are exactly the spec's, with the spec's values."""
    with pytest.raises(InvalidInputError) as error:
        Metric(name=name, value_ms=1.0, dimensions=dimensions)
    assert error.value.field == field


@pytest.mark.parametrize("value", [-1.0, float("inf"), float("nan")])
def test_a_metric_value_is_a_finite_non_negative_number(value: float) -> None:
    """A duration in ms is finite and not negative."""
    with pytest.raises(InvalidInputError) as error:
        Metric(name=SNAPSHOT, value_ms=value, dimensions={"snapshot_scope": "step"})
    assert error.value.field == "value_ms"


def test_measure_records_the_elapsed_time_of_the_block() -> None:
    """The injected timer's difference, in ms, goes to the sink with the dimensions."""
    sink = ListSink()
    with measure(
        sink,
        AGGREGATION,
        VALID_DIMENSIONS[AGGREGATION],
        timer=clock(10.0, 10.125),
    ):
        pass
    [metric] = sink.metrics
    assert (metric.name, metric.value_ms) == (AGGREGATION, 125.0)
    assert metric.dimensions == VALID_DIMENSIONS[AGGREGATION]


def test_measure_drops_a_calculation_the_sampler_does_not_keep_without_timing() -> None:
    """A dropped measurement never reads the timer and records nothing."""
    sink = ListSink()

    def timer() -> float:
        raise AssertionError("the timer is not read")

    with measure(
        sink,
        CALCULATION,
        VALID_DIMENSIONS[CALCULATION],
        sampler=Sampler(random=lambda: 0.5),
        timer=timer,
    ):
        pass
    assert sink.metrics == []


def test_measure_keeps_a_calculation_the_sampler_keeps() -> None:
    """A kept calculation metric is recorded like any other."""
    sink = ListSink()
    with measure(
        sink,
        CALCULATION,
        VALID_DIMENSIONS[CALCULATION],
        sampler=Sampler(random=lambda: 0.05),
        timer=clock(1.0, 1.002),
    ):
        pass
    [metric] = sink.metrics
    assert metric.value_ms == pytest.approx(2.0)


def test_measure_without_a_sink_runs_the_block_only() -> None:
    """No sink: the block runs and nothing is timed."""
    ran = []
    with measure(None, SNAPSHOT, {"snapshot_scope": "step"}, timer=clock()):
        ran.append(True)
    assert ran == [True]


def test_measure_records_nothing_when_the_block_raises() -> None:
    """A failed calculation is no performance measurement; the error propagates."""
    sink = ListSink()
    with (
        pytest.raises(KeyError),
        measure(sink, SNAPSHOT, {"snapshot_scope": "step"}, timer=clock(0.0, 1.0)),
    ):
        raise KeyError("boom")
    assert sink.metrics == []


def test_a_timer_that_runs_backwards_records_zero() -> None:
    """A non-monotonic clock never yields a negative duration."""
    sink = ListSink()
    with measure(sink, SNAPSHOT, {"snapshot_scope": "step"}, timer=clock(5.0, 4.0)):
        pass
    assert sink.metrics[0].value_ms == 0.0


@given(
    rate=st.floats(min_value=0, max_value=1),
    draws=st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), max_size=50),
)
def test_never_sampled_metrics_are_kept_at_any_rate(
    rate: float, draws: list[float]
) -> None:
    """Whatever the rate and the draws, aggregation and snapshot metrics are kept,
    and a calculation metric is kept exactly when its draw is below the rate."""
    source = iter(draws)
    sampler = Sampler(rate=rate, random=lambda: next(source))
    for draw in draws:
        assert sampler.keep(AGGREGATION)
        assert sampler.keep(SNAPSHOT)
        assert sampler.keep(CALCULATION) is (draw < rate)
