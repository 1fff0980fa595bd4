"""Incremental marts benchmark: one new hour over 30 days of history, against a full refresh.

    uv run python bench/dbt_incremental.py [--sessions-per-hour 1500] [--days 30] [--max-late-hours 72]

1. History: ``--days`` x 24 arrival hours written straight into the raw tables by DuckDB SQL
   (``range()`` x 15 events per session, plus audit and platform events: 1,500 sessions an hour give
   ~16.2M session, ~3.2M audit and ~3.2M platform events, 22.7M in all). The generator would take
   hours at this volume; the SQL takes a minute. Each arrival hour is one load commit (``_commit_seq``,
   with its ``ops.load_commit`` row); rows are inserted in commit order, as the hourly loader appends
   them, and 2% of events arrive 1 to ``--max-late-hours`` hours late.
2. ``dbt run`` builds the marts over that history (not timed against anything: it is the set-up).
3. One new arrival hour: its own sessions plus late events (a ``session_end`` / page view / CSAT for
   2% of the sessions of the last ``--max-late-hours`` hours, and late platform and audit events).
   The warehouse file is copied: the copy is for the full refresh.
4. Timed, each a fresh ``dbt`` process: the incremental ``dbt run`` on the original; ``dbt run
   --full-refresh`` on the copy; every mart compared (``EXCEPT ALL`` both ways); the incremental run
   again with nothing new; and dbt's bare start-up (``dbt run --select`` of nothing), for scale.

Prints the figures with the targets beside them: incremental <= 0.1x full refresh, marts equal,
nothing-new close to bare start-up. Work files go under ``bench/out/dbt_incremental/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

OUT = Path(__file__).parent / "out" / "dbt_incremental"
REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "dbt_project"
MARTS = [
    "fct_session_events",
    "fct_sessions",
    "fct_custom_metric_values",
    "fct_audit_events",
    "fct_platform_events",
    "agg_app_daily",
    "agg_platform_daily",
]
BASE = "2026-10-01 00:00:00"
EVENTS_PER_SESSION = 15

# One session's 15 events, k = 0..14. Columns not listed stay null.
SESSION_EVENTS_SQL = """
insert into raw.session_event (
    event_id, organization_id, event_time, event_type, app_id, branch_id, deploy_id, session_id,
    device_class, duration_millis, action_id, action_name, custom_metric_key, custom_metric_field,
    custom_metric_value, payload, _source_file, _line_number, _batch_id, _loaded_at, _commit_seq
)
with events as (
    select
        s, k, s // {sph} as start_hour,
        timestamp '{base}' + to_hours(s // {sph}) + to_seconds(s * 37 % 3000 + k * 20) as event_time,
        case when (s * 15 + k) % 50 = 0 then 1 + (s * 7 + k) % {late} else 0 end as late_hours
    from range({first_session}, {last_session}) as sessions (s), range(15) as ks (k)
),
typed as (
    select
        *,
        case
            when k = 0 then 'session_start'
            when k = 14 and s % 10 <> 0 then 'session_end'
            when k = 13 then 'custom_metric'
            when k in (3, 7, 11) then 'action_run'
            when k = 9 and s % 7 = 0 then 'action_error'
            when k = 5 then 'message_sent'
            when k = 6 then 'message_received'
            else 'page_view'
        end as event_type,
        least(s // {sph} + 1 + late_hours, {max_load_hour}) as load_hour
    from events
)
select
    'e-' || s || '-' || k,
    'org-' || s % 20,
    event_time,
    event_type,
    'app-' || s % 50,
    'branch-1',
    'deploy-1',
    'sess-' || s,
    case when k = 0 then ['desktop', 'mobile', 'tablet'][s % 3 + 1] end,
    case when event_type = 'action_run' then (s * 13 + k) % 5000 end,
    case when event_type in ('action_run', 'action_error') then 'act-' || k % 4 end,
    case when event_type in ('action_run', 'action_error') then 'Action ' || k % 4 end,
    case when k = 13 then case when s % 3 = 0 then 'CSAT' else 'time_on_page' end end,
    case when k = 13 then 'value' end,
    case when k = 13 then to_json(s % 5 + 1) end,
    json_object('eventId', 'e-' || s || '-' || k, 'kind', 'Session'),
    'bench/hour=' || load_hour,
    k,
    'batch-' || load_hour,
    timestamp '{base}' + to_hours(load_hour) + interval 5 minute,
    load_hour
from typed
order by load_hour, s, k
"""

# Audit and platform events: {per_hour} an hour each, 2% of them late.
OTHER_EVENTS_SQL = {
    "audit_event": """
insert into raw.audit_event (
    event_id, organization_id, event_time, event_type, app_id, user_id, email, payload,
    _source_file, _line_number, _batch_id, _loaded_at, _commit_seq
)
with events as (
    select
        i, i // {per_hour} as hour,
        {load_hour} as load_hour
    from range({first}, {last}) as t (i)
    where {where}
)
select
    '{prefix}' || i, 'org-' || i % 20, timestamp '{base}' + to_hours(hour) + to_seconds(i * 31 % 3600),
    ['user_login', 'user_logout', 'app_deployed', 'new_resource'][i % 4 + 1], 'app-' || i % 50,
    'user-' || i % 500, 'user' || i % 500 || '@example.com', json_object('eventId', '{prefix}' || i),
    'bench/hour=' || load_hour, i, 'batch-' || load_hour, timestamp '{base}' + to_hours(load_hour) + interval 5 minute,
    load_hour
from events
order by load_hour, i
""",
    "platform_event": """
insert into raw.platform_event (
    event_id, organization_id, event_time, event_type, app_id, service, status, duration_millis,
    payload, _source_file, _line_number, _batch_id, _loaded_at, _commit_seq
)
with events as (
    select
        i, i // {per_hour} as hour,
        {load_hour} as load_hour
    from range({first}, {last}) as t (i)
    where {where}
)
select
    '{prefix}' || i, 'org-' || i % 20, timestamp '{base}' + to_hours(hour) + to_seconds(i * 31 % 3600),
    'connection_request', 'app-' || i % 50, ['http', 'db', 'queue', 'auth', 'ai'][i % 5 + 1],
    case when i % 23 = 0 then 'error' when i % 97 = 0 then 'timeout' else 'ok' end, i * 17 % 2000,
    json_object('eventId', '{prefix}' || i), 'bench/hour=' || load_hour, i, 'batch-' || load_hour,
    timestamp '{base}' + to_hours(load_hour) + interval 5 minute, load_hour
from events
order by load_hour, i
""",
}

# Late events of the new hour for old sessions: the session_end of an open session, a page view,
# a CSAT, for 2% of the sessions of the last {late} hours.
LATE_SESSION_EVENTS_SQL = """
insert into raw.session_event (
    event_id, organization_id, event_time, event_type, app_id, branch_id, deploy_id, session_id,
    custom_metric_key, custom_metric_field, custom_metric_value, payload, _source_file, _line_number,
    _batch_id, _loaded_at, _commit_seq
)
select
    'late-' || s || '-' || k, 'org-' || s % 20,
    timestamp '{base}' + to_hours(s // {sph}) + to_seconds(s * 37 % 3000 + (15 + k) * 20),
    ['session_end', 'page_view', 'custom_metric'][k + 1], 'app-' || s % 50, 'branch-1', 'deploy-1', 'sess-' || s,
    case when k = 2 then 'CSAT' end, case when k = 2 then 'value' end, case when k = 2 then to_json(1) end,
    json_object('eventId', 'late-' || s || '-' || k), 'bench/hour=' || {new_load_hour}, k,
    'batch-' || {new_load_hour}, timestamp '{base}' + to_hours({new_load_hour}) + interval 5 minute, {new_load_hour}
from range({first_session}, {last_session}) as sessions (s), range(3) as ks (k)
where s % 50 = 0
order by s, k
"""


def other_events_sql(
    table: str, first_hour: int, last_hour: int, per_hour: int, late: int, max_load_hour: int, late_copy: bool = False
) -> str:
    """Audit or platform events of hours [first_hour, last_hour); ``late_copy``: 1% of them again under
    new ids, all arriving at ``max_load_hour`` (late events of the new hour)."""
    prefix = table[0] + ("-late-" if late_copy else "-")
    if late_copy:
        load_hour, where = str(max_load_hour), "i % 97 = 0"
    else:
        load_hour = f"least(i // {per_hour} + 1 + case when i % 50 = 0 then 1 + i % {late} else 0 end, {max_load_hour})"
        where = "true"
    return OTHER_EVENTS_SQL[table].format(
        per_hour=per_hour,
        base=BASE,
        first=first_hour * per_hour,
        last=last_hour * per_hour,
        load_hour=load_hour,
        where=where,
        prefix=prefix,
    )


def dbt(home: Path, *args: str) -> dict:
    """One fresh dbt process on ``home``'s warehouse; returns wall seconds and dbt's own elapsed."""
    target = home / "target"
    env = dict(os.environ, EVENTPIPE_HOME=str(home), DBT_SEND_ANONYMOUS_USAGE_STATS="False", DO_NOT_TRACK="1")
    command = [sys.executable, "-m", "dbt.cli.main", *args, "--project-dir", str(PROJECT)]
    command += ["--profiles-dir", str(PROJECT), "--target-path", str(target), "--log-path", str(home / "logs")]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"dbt {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    results = target / "run_results.json"
    elapsed = json.loads(results.read_text())["elapsed_time"] if results.exists() else None
    results.unlink(missing_ok=True)
    return {"wall": wall, "dbt": elapsed}


def create_history(home: Path, sph: int, hours: int, late: int) -> int:
    from eventpipe.sql import load_sql

    home.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute(load_sql("duckdb", "create_tables"))
        # Hour by hour blocks keep memory bounded; within each, rows go in commit order (one commit per load hour).
        step = 24
        for first_hour in range(0, hours, step):
            last_hour = min(first_hour + step, hours)
            con.execute(
                SESSION_EVENTS_SQL.format(
                    sph=sph,
                    base=BASE,
                    late=late,
                    first_session=first_hour * sph,
                    last_session=last_hour * sph,
                    max_load_hour=hours,
                )
            )
            for table in OTHER_EVENTS_SQL:
                con.execute(other_events_sql(table, first_hour, last_hour, sph * 3, late, hours))
        # The loader appends each commit after the one before; late rows generated above with earlier
        # blocks belong to later commits, so restore that order once, as years of hourly appends have it.
        for table in ("session_event", "audit_event", "platform_event"):
            con.execute(f"create or replace table raw.{table} as select * from raw.{table} order by _commit_seq")
        record_commits(con, 1, hours)
        return sum(
            con.execute(f"select count(*) from raw.{table}").fetchone()[0]
            for table in ("session_event", "audit_event", "platform_event")
        )


def add_new_hour(home: Path, sph: int, hours: int, late: int) -> int:
    new_load_hour = hours + 1
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        before = con.execute("select count(*) from raw.session_event").fetchone()[0]
        # the new hour's own sessions, loaded at hour + 1 (their own late events clamp into it)
        con.execute(
            SESSION_EVENTS_SQL.format(
                sph=sph,
                base=BASE,
                late=late,
                first_session=hours * sph,
                last_session=(hours + 1) * sph,
                max_load_hour=new_load_hour,
            )
        )
        con.execute(
            LATE_SESSION_EVENTS_SQL.format(
                sph=sph,
                base=BASE,
                first_session=(hours - late) * sph,
                last_session=hours * sph,
                new_load_hour=new_load_hour,
            )
        )
        for table in OTHER_EVENTS_SQL:
            # the new hour's own events, then late ones: 1% of the last `late` hours' events, new ids
            con.execute(other_events_sql(table, hours, hours + 1, sph * 3, late, new_load_hour))
            con.execute(
                other_events_sql(
                    table,
                    hours - late,
                    hours,
                    sph * 3,
                    late,
                    new_load_hour,
                    late_copy=True,
                )
            )
        record_commits(con, new_load_hour, new_load_hour)
        after = con.execute("select count(*) from raw.session_event").fetchone()[0]
        return after - before


def record_commits(con: duckdb.DuckDBPyConnection, first: int, last: int) -> None:
    """The ops.load_commit rows of load hours ``first`` to ``last``: load hour h is commit h, as the loader numbers
    its commits (the marts read the last one; ``ops.load_sequence`` is the loader's, not read by dbt)."""
    con.execute(
        "insert into ops.load_commit (commit_seq, batch_id, commit_kind, files, lines, loaded, duplicates,"
        " quarantined, committed_at) select h, 'batch-' || h, 'load', 0, 0, 0, 0, 0,"
        f" timestamp '{BASE}' + to_hours(h) + interval 5 minute from range({first}, {last} + 1) as t (h)"
    )


def compare(incremental: Path, full: Path) -> dict[str, bool]:
    equal = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{incremental}' as inc (read_only)")
        con.execute(f"attach '{full}' as ful (read_only)")
        for mart in MARTS:
            a, b = f"inc.marts.{mart}", f"ful.marts.{mart}"
            missing = con.execute(f"select count(*) from (select * from {a} except all select * from {b})").fetchone()[
                0
            ]
            extra = con.execute(f"select count(*) from (select * from {b} except all select * from {a})").fetchone()[0]
            equal[mart] = missing == 0 and extra == 0
    return equal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions-per-hour", type=int, default=1500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--max-late-hours", type=int, default=72)
    parser.add_argument("--reuse", action="store_true", help="reuse the built history under --out if there")
    parser.add_argument("--out", type=Path, default=OUT, help=f"work folder (default {OUT})")
    args = parser.parse_args()
    out = args.out.resolve()  # dbt resolves a relative --target-path against the project dir
    sph, hours, late = args.sessions_per_hour, args.days * 24, args.max_late_hours

    history, home, full_home = out / "history", out / "incremental", out / "full"
    marker = history / "built.json"
    if not (args.reuse and marker.exists()):
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        events = create_history(history, sph, hours, late)
        generated = time.perf_counter() - started
        print(f"history: {events:,} raw events over {args.days} days generated in SQL in {generated:.1f}s", flush=True)
        initial = dbt(history, "run")
        print(f"history: initial dbt run (marts built over it) {initial['wall']:.1f}s", flush=True)
        marker.write_text(json.dumps({"events": events}))
    events = json.loads(marker.read_text())["events"]
    for path in (home, full_home):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        shutil.copy(history / "warehouse.duckdb", path / "warehouse.duckdb")
    new_session_events = add_new_hour(home, sph, hours, late)
    shutil.copy(home / "warehouse.duckdb", full_home / "warehouse.duckdb")
    print(f"new hour: {new_session_events:,} session events (late ones included) + audit + platform", flush=True)

    load = os.getloadavg()
    # A first run in each target dir leaves dbt's partial-parse state, as every hourly run finds it.
    for path in (home, full_home):
        dbt(path, "run", "--select", "tag:no_such_tag")
    bare = dbt(home, "run", "--select", "tag:no_such_tag")
    incremental = dbt(home, "run")
    full = dbt(full_home, "run", "--full-refresh")
    equal = compare(home / "warehouse.duckdb", full_home / "warehouse.duckdb")
    nothing = dbt(home, "run")
    load_after = os.getloadavg()

    ratio = incremental["wall"] / full["wall"]
    print(f"\nraw history {events:,} events; load average {load[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"{'':34}{'wall s':>9}{'dbt s':>9}")
    for name, figure in (
        ("full refresh (dbt run --full-refresh)", full),
        ("incremental, one new hour", incremental),
        ("incremental, nothing new", nothing),
        ("bare dbt start-up (selects nothing)", bare),
    ):
        print(f"{name:<40}{figure['wall']:>9.2f}{figure['dbt'] or 0:>9.2f}")
    print(f"incremental / full refresh: {ratio:.3f}x   (target <= 0.1x: {'holds' if ratio <= 0.1 else 'MISSED'})")
    print(f"nothing new / bare start-up: {nothing['wall'] / bare['wall']:.2f}x   (target: close to 1x)")
    for mart, same in equal.items():
        print(f"  {mart:<28}{'equal' if same else 'DIFFERENT'} to the full refresh")
    print(f"all marts equal: {all(equal.values())}")


if __name__ == "__main__":
    main()
