"""Performance metrics of the spec, sampled as D23 says.

``progress_calculation_time_ms`` is a high-frequency metric: it is sampled at
``Policy.metrics_sample_rate`` (10 % by default) with an injectable random
source. ``progress_aggregation_time_ms`` (batch) and
``snapshot_creation_time_ms`` are never sampled, like every event.
"""

from __future__ import annotations

import enum
import random as _random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

import attrs

from . import _validate as v
from ._errors import InvalidInputError
from ._policy import Policy

__all__ = [
    "Metric",
    "MetricName",
    "MetricsSink",
    "Sampler",
    "measure",
]


class MetricName(enum.StrEnum):
    """The spec's performance metrics."""

    PROGRESS_CALCULATION_TIME_MS = "progress_calculation_time_ms"
    PROGRESS_AGGREGATION_TIME_MS = "progress_aggregation_time_ms"
    SNAPSHOT_CREATION_TIME_MS = "snapshot_creation_time_ms"


#: Dimensions each metric must carry (spec: Performance Metrics).
DIMENSIONS: Mapping[MetricName, frozenset[str]] = {
    MetricName.PROGRESS_CALCULATION_TIME_MS: frozenset(
        {"calculation_type", "step_count"}
    ),
    MetricName.PROGRESS_AGGREGATION_TIME_MS: frozenset(
        {"aggregation_scope", "record_count"}
    ),
    MetricName.SNAPSHOT_CREATION_TIME_MS: frozenset({"snapshot_scope"}),
}

#: Allowed values of the enumerated dimensions.
_ALLOWED: Mapping[str, frozenset[str]] = {
    "calculation_type": frozenset({"step", "assignment", "sequence", "student"}),
    "aggregation_scope": frozenset({"class", "organization", "system"}),
    "snapshot_scope": frozenset({"step", "assignment", "sequence"}),
}

#: Metrics sampled as high-frequency calculations (D23); the rest never are.
SAMPLED: frozenset[MetricName] = frozenset({MetricName.PROGRESS_CALCULATION_TIME_MS})


@attrs.frozen(kw_only=True)
class Metric:
    """One measurement: the spec's metric name, its value and dimensions.

    >>> Metric(name=MetricName.SNAPSHOT_CREATION_TIME_MS, value_ms=0.4,
    ...        dimensions={"snapshot_scope": "assignment"}).name.value
    'snapshot_creation_time_ms'
    """

    name: MetricName = attrs.field(validator=v.enum_of(MetricName))
    value_ms: float = attrs.field(validator=v.ratio)
    dimensions: Mapping[str, str | int] = attrs.field(hash=False)

    def __attrs_post_init__(self) -> None:
        wanted = DIMENSIONS[self.name]
        if set(self.dimensions) != wanted:
            raise InvalidInputError(
                "dimensions",
                dict(self.dimensions),
                f"{self.name.value} has exactly {sorted(wanted)}",
            )
        for key, value in self.dimensions.items():
            allowed = _ALLOWED.get(key)
            if allowed is not None and value not in allowed:
                raise InvalidInputError(key, value, f"one of {sorted(allowed)}")
            if allowed is None and not (
                isinstance(value, int) and not isinstance(value, bool) and value >= 0
            ):
                raise InvalidInputError(key, value, "a non-negative integer")


class MetricsSink(Protocol):
    """Port: where metrics go (the monitoring service).

    ``record`` must not raise for a well-formed metric; a sink that cannot
    deliver drops the metric rather than fail the progress update.
    """

    def record(self, metric: Metric) -> None: ...


def _fraction(_: object, attribute: attrs.Attribute[float], value: object) -> None:
    if not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value <= 1
    ):
        raise InvalidInputError(attribute.name, value, "D23: a rate in [0, 1]")


@attrs.frozen(kw_only=True)
class Sampler:
    """Decides which metrics are kept (D23).

    ``random`` returns a float in [0, 1); inject a seeded or fixed source in
    tests. Metrics outside ``SAMPLED`` are always kept.

    >>> Sampler(rate=0.1, random=lambda: 0.05).keep(
    ...     MetricName.PROGRESS_CALCULATION_TIME_MS)
    True
    >>> Sampler(rate=0.1, random=lambda: 0.5).keep(
    ...     MetricName.PROGRESS_AGGREGATION_TIME_MS)
    True
    """

    rate: float = attrs.field(default=0.1, validator=_fraction)
    random: Callable[[], float] = attrs.field(default=_random.random, eq=False)

    @classmethod
    def for_policy(
        cls, policy: Policy, *, random: Callable[[], float] = _random.random
    ) -> Sampler:
        """A sampler at the policy's ``metrics_sample_rate`` (D23).

        >>> from mlc_progress import Policy
        >>> Sampler.for_policy(Policy(metrics_sample_rate=0.25)).rate
        0.25
        """
        return cls(rate=policy.metrics_sample_rate, random=random)

    def keep(self, name: MetricName) -> bool:
        """Whether to record a measurement of ``name``: always for metrics
        outside ``SAMPLED``, else when the random draw is below ``rate``."""
        if name not in SAMPLED:
            return True
        return self.random() < self.rate


@contextmanager
def measure(
    sink: MetricsSink | None,
    name: MetricName,
    dimensions: Mapping[str, str | int],
    *,
    sampler: Sampler | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> Iterator[None]:
    """Time the block and record it to ``sink`` if the sampler keeps it.

    The sampling decision is taken first, so a dropped measurement costs
    one random number. With no sink, nothing is measured; a block that
    raises is not recorded. ``timer`` returns seconds.

    >>> recorded = []
    >>> class Sink:
    ...     def record(self, metric): recorded.append(metric)
    >>> ticks = iter([1.0, 1.0025])
    >>> with measure(Sink(), MetricName.SNAPSHOT_CREATION_TIME_MS,
    ...              {"snapshot_scope": "assignment"}, timer=lambda: next(ticks)):
    ...     pass
    >>> round(recorded[0].value_ms, 6)
    2.5
    """
    if sink is None or not (sampler or Sampler()).keep(name):
        yield
        return
    start = timer()
    yield
    elapsed = (timer() - start) * 1000.0
    sink.record(Metric(name=name, value_ms=max(elapsed, 0.0), dimensions=dimensions))
