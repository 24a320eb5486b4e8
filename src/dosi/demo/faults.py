"""Occasional sensor faults of the demo city, repeatable in (source id, time bucket).

Real city sources drop out, send garbage and stick; the demo does too, so the hub's
verdicts, dead-letter store and quality figures have something to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dosi.demo.patterns import unit_noise


@dataclass(frozen=True)
class FaultRates:
    dropout: float = 0.01      # the reading is never sent
    out_of_range: float = 0.005  # a physically impossible value
    malformed: float = 0.003   # a payload that is not valid for the format
    stuck_hour: float = 0.02   # chance per hour that the sensor repeats one value all hour


NO_FAULTS = FaultRates(0.0, 0.0, 0.0, 0.0)
DEFAULT_FAULTS = FaultRates()


def fault_at(source: str, t: datetime, rates: FaultRates, tick_s: int) -> str | None:
    """``"dropout" | "out_of_range" | "malformed" | None`` for one reading."""
    u = (unit_noise(source + "#fault", int(t.timestamp()) // tick_s) + 1) / 2
    for name, rate in (("dropout", rates.dropout), ("out_of_range", rates.out_of_range),
                       ("malformed", rates.malformed)):
        if u < rate:
            return name
        u -= rate
    return None


def stuck_since(source: str, t: datetime, rates: FaultRates) -> datetime | None:
    """The start of the hour when the sensor is stuck this hour, else None."""
    hour = int(t.timestamp()) // 3600
    if (unit_noise(source + "#stuck", hour) + 1) / 2 < rates.stuck_hour:
        return datetime.fromtimestamp(hour * 3600, t.tzinfo)
    return None
