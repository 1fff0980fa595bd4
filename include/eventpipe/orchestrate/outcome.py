"""What each ``event_pipeline`` task did, as a short table for its log and a compact summary for its return value
(the XCom the UI shows): counts per kind and reason, files quarantined, per destination.

And ``check_volume``: an arrival hour with no landing files, or with far fewer lines than the same hour a week
earlier, is flagged by a task of its own that fails (red in the grid, the run failed) while the data that did
arrive is modelled, reconciled and delivered as usual. Airflow has no "warning" task state, and a task can not set
its own note, so a failed check of its own is the signal a data engineer sees without opening a log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from eventpipe.deliver.run import DeliveryFailed, DeliveryRun
from eventpipe.ingest.load import LoadResult
from eventpipe.ingest.reconcile import Reconciliation
from eventpipe.utc import hour_floor
from eventpipe.warehouse import Warehouse

MIN_RATIO = 0.5  # an hour with fewer lines than this share of the same hour a week earlier is flagged
BASELINE = timedelta(days=7)


def _table(rows: Iterable[tuple[str, Any]], title: str) -> str:
    rows = list(rows)
    width = max(len(label) for label, _ in rows)
    body = [
        f"  {label:<{width}}  {value:>10,}" if isinstance(value, int) else f"  {label:<{width}}  {value}"
        for label, value in rows
    ]
    return "\n".join([title, *body])


def _name(url: str) -> str:
    return PurePosixPath(url).name


# -- load_raw_events ---------------------------------------------------------------------------------------


def load_summary(result: LoadResult) -> dict[str, Any]:
    return {
        "interval": f"{result.interval_start:%Y-%m-%dT%H}:00",
        "files": {
            "landed": result.files_seen,
            "loaded": result.files_loaded,
            "already_loaded": result.files_skipped,
            "quarantined": result.files_quarantined,
        },
        "lines": result.lines,
        "loaded": result.loaded,
        "duplicates": result.duplicates,
        "quarantined": result.quarantined,
        "loaded_by_kind": dict(sorted(result.loaded_by_kind.items())),
        "quarantined_by_reason": dict(sorted(result.quarantined_by_reason.items(), key=lambda item: -item[1])),
        "quarantined_files": [f"{_name(f['source_file'])}: {f['reason']}" for f in result.quarantined_files],
    }


def load_table(result: LoadResult) -> str:
    rows: list[tuple[str, Any]] = [
        ("files landed", result.files_seen),
        ("  loaded now", result.files_loaded),
        ("  loaded before", result.files_skipped),
        ("  quarantined whole", result.files_quarantined),
        ("lines read", result.lines),
        ("  events loaded", result.loaded),
    ]
    rows += [(f"    {kind}", count) for kind, count in sorted(result.loaded_by_kind.items())]
    rows += [("  duplicates dropped", result.duplicates), ("  lines quarantined", result.quarantined)]
    rows += [(f"    {reason}", count) for reason, count in load_summary(result)["quarantined_by_reason"].items()]
    rows += [(f"file quarantined: {_name(f['source_file'])}", f["reason"]) for f in result.quarantined_files]
    return _table(rows, f"load_raw_events {result.interval_start:%Y-%m-%dT%H}:00 (batch {result.batch_id})")


# -- reconcile ---------------------------------------------------------------------------------------------


def reconcile_summary(result: Reconciliation) -> dict[str, Any]:
    return {
        **({"batch": result.batch_id} if result.batch_id else {"interval": f"{result.subject}:00"}),
        "balanced": result.balanced,
        "files": result.files,
        "files_quarantined": result.files_quarantined,
        "lines_landed": result.lines_landed,
        "in_raw": result.rows_in_raw,
        "duplicates": result.duplicates,
        "quarantined": result.rows_in_quarantine,
        "quarantined_files": [_name(entry.split(": ", 1)[0]) for entry in result.quarantined_files],
        "problems": result.problems[:20],
    }


def reconcile_table(result: Reconciliation) -> str:
    verdict = "balanced" if result.balanced else f"NOT BALANCED ({len(result.problems)} problem(s))"
    rows: list[tuple[str, Any]] = [
        ("files landed", result.files),
        ("  quarantined whole", result.files_quarantined),
        ("lines landed", result.lines_landed),
        ("  = rows in raw", result.rows_in_raw),
        ("  + duplicates dropped", result.duplicates),
        ("  + lines quarantined", result.rows_in_quarantine),
    ]
    for entry in result.quarantined_files:  # "<file>: <reason>"
        url, _, reason = entry.partition(": ")
        rows.append((f"file quarantined: {_name(url)}", reason))
    return _table(rows, f"reconcile {result.subject}{'' if result.batch_id else ':00'}: {verdict}")


# -- deliver / resend --------------------------------------------------------------------------------------


def delivery_summary(runs: list[DeliveryRun]) -> dict[str, Any]:
    """Per destination over the runs: events delivered per kind, parts sent / already delivered / found delivered
    after a crash, dead letters (too old among them), possible duplicates, units done and left, and errors."""
    destinations: dict[str, dict[str, Any]] = {}
    for run in runs:
        for outcome in run.outcomes:
            entry = destinations.setdefault(
                outcome.destination.name,
                {"type": outcome.destination.type, "delivered": {}, "parts_sent": 0, "parts_already_delivered": 0,
                 "parts_resolved": 0, "dead_lettered": 0, "too_old": 0, "possible_duplicates": 0, "units": 0,
                 "units_left": 0, "errors": [], "held_by": None},
            )  # fmt: skip
            for kind, events in outcome.delivered.items():
                entry["delivered"][kind] = entry["delivered"].get(kind, 0) + events
            entry["parts_sent"] += outcome.parts_sent
            entry["parts_already_delivered"] += outcome.parts_skipped
            entry["parts_resolved"] += outcome.parts_resolved
            entry["dead_lettered"] += outcome.dead_lettered
            entry["too_old"] += outcome.too_old
            entry["possible_duplicates"] += outcome.possible_duplicates
            entry["units"] += outcome.units
            entry["units_left"] += outcome.units_left
            entry["held_by"] = entry["held_by"] or outcome.held_by
            if outcome.error:
                entry["errors"].append(outcome.error[:500])
    return {
        "through_commit": max((run.through for run in runs), default=0),
        "failed": sum(bool(entry["errors"]) for entry in destinations.values()),
        "destinations": destinations,
    }


def delivery_table(runs: list[DeliveryRun]) -> str:
    summary = delivery_summary(runs)
    title = f"deliveries through commit {summary['through_commit']}"
    if not summary["destinations"]:
        return f"{title}: no destination enabled"
    width = max(len("destination"), *(len(name) for name in summary["destinations"]))
    lines = [
        title,
        f"  {'destination':<{width}}  {'kind':<9} {'events':>9} {'sent':>5} {'skip':>5} {'dead':>5} {'old':>5}"
        f" {'dup?':>5} {'left':>5}  status",
    ]
    for name, entry in summary["destinations"].items():
        if entry["errors"]:
            status = "FAILED: " + entry["errors"][0]
        elif entry["held_by"]:
            status = f"skipped: {entry['held_by']}"
        else:
            status = "ok"
        counts = (
            f"{entry['parts_sent']:>5} {entry['parts_already_delivered'] + entry['parts_resolved']:>5}"
            f" {entry['dead_lettered']:>5} {entry['too_old']:>5} {entry['possible_duplicates']:>5}"
            f" {entry['units_left']:>5}  {status}"
        )
        kinds = entry["delivered"] or {"-": 0}
        for index, (kind, events) in enumerate(sorted(kinds.items())):
            label, tail = (name, counts) if index == 0 else ("", "")
            lines.append(f"  {label:<{width}}  {kind:<9} {events:>9,} {tail}".rstrip())
    return "\n".join(lines)


def finish_deliveries(runs: list[DeliveryRun], log: Any) -> dict[str, Any]:
    """Log the deliveries' table (at WARNING when a destination failed), then raise DeliveryFailed if one did,
    after every destination was tried; else the summary for the task's return value."""
    table = delivery_table(runs)
    failed = [run for run in runs if run.failed]
    (log.warning if failed else log.info)("%s", table)
    if failed:
        raise DeliveryFailed(
            "\n".join(
                f"{len(run.failed)} of {len(run.outcomes)} destinations failed (through commit {run.through}): "
                + "; ".join(f"{o.destination.name}: {o.error}" for o in run.failed)
                for run in failed
            )
        ) from None
    return delivery_summary(runs)


# -- check_volume ------------------------------------------------------------------------------------------


@dataclass
class VolumeCheck:
    interval_start: datetime
    files_loaded: int
    lines: int
    files_quarantined: int
    baseline_files: int
    baseline_lines: int
    min_ratio: float = MIN_RATIO

    @property
    def problem(self) -> str | None:
        """Why the hour is flagged, or None."""
        hour, week = f"{self.interval_start:%Y-%m-%dT%H}:00", f"{self.interval_start - BASELINE:%Y-%m-%dT%H}:00"
        if self.files_loaded + self.files_quarantined == 0:
            before = f" (a week earlier, {week}: {self.baseline_files} files, {self.baseline_lines:,} lines)"
            return f"arrival hour {hour}: no landing files{before if self.baseline_files else ''}"
        if self.lines == 0:
            return (
                f"arrival hour {hour}: {self.files_loaded + self.files_quarantined} landing file(s) but no line loaded"
                f" ({self.files_quarantined} quarantined whole)"
            )
        if self.baseline_lines and self.lines < self.min_ratio * self.baseline_lines:
            return (
                f"arrival hour {hour}: {self.lines:,} lines, {self.lines / self.baseline_lines:.0%} of the"
                f" {self.baseline_lines:,} of {week} (a week earlier); flagged below {self.min_ratio:.0%}"
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "interval": f"{self.interval_start:%Y-%m-%dT%H}:00",
            "files": self.files_loaded + self.files_quarantined,
            "files_quarantined": self.files_quarantined,
            "lines": self.lines,
            "week_before": {"files": self.baseline_files, "lines": self.baseline_lines},
            "ratio": round(self.lines / self.baseline_lines, 3) if self.baseline_lines else None,
            "flagged": self.problem,
        }


def check_volume(warehouse: Warehouse, interval_start: datetime, min_ratio: float = MIN_RATIO) -> VolumeCheck:
    """The hour's files and lines by the ledgers, against the same hour ``BASELINE`` earlier."""
    interval_start = hour_floor(interval_start)

    def volume(hour: datetime) -> tuple[int, int, int]:
        files, lines, quarantined = warehouse.fetchall("hour_volume", {"interval_start": hour})[0]
        return int(files or 0), int(lines or 0), int(quarantined or 0)

    files, lines, quarantined = volume(interval_start)
    before_files, before_lines, before_quarantined = volume(interval_start - BASELINE)
    return VolumeCheck(
        interval_start, files, lines, quarantined, before_files + before_quarantined, before_lines, min_ratio
    )
