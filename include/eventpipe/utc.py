"""Time as the warehouse stores it: naive datetimes that mean UTC. Every module converts here, once.

``naive_utc`` turns an aware datetime into naive UTC (a naive one is taken as UTC already), ``parse_utc`` reads
ISO-8601 (``Z`` or an offset; none means UTC), ``hour_floor`` is the arrival hour holding a moment (the load
interval), and ``utc_now`` is the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as naive UTC. A time whose UTC falls outside years 1-9999 (``0001-01-01T00:00+01:00``) is a
    ValueError saying so, not an OverflowError."""
    if not moment.tzinfo:
        return moment
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside the representable UTC range (years 1 to 9999)") from None


def parse_utc(value: str | datetime) -> datetime:
    """An ISO-8601 string (``Z``, an offset, or none for UTC) or a datetime, as naive UTC."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return naive_utc(moment)


def hour_floor(moment: datetime) -> datetime:
    """The UTC arrival hour containing ``moment``, as naive UTC (how the warehouse stores time)."""
    return naive_utc(moment).replace(minute=0, second=0, microsecond=0)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
