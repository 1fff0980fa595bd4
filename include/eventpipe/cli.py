"""The ``eventpipe`` command, from landing to share: ``generate`` (landing files with their ground truth),
``run`` (a range of arrival hours caught up through the continuous DAGs: load, deliver, dbt, checks; ``--hourly``:
event_pipeline hour by hour), ``demo`` (both, for a day),
``replay-quarantine`` (quarantined lines again, after a fix), ``share plan|apply`` (the Secure Data Share),
``grants plan|apply`` (the Snowflake roles),
``up`` (the Airflow UI, with the Activity Explorer) and ``hec-receiver`` (a local Splunk HEC stand-in).

It wires production code to the local stand-ins (``eventpipe.devtools``): besides ``eventpipe.local``, the only
module that imports them, lazily, in the commands that need them.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta


def _iso(value: str) -> datetime:
    from eventpipe.utc import parse_utc

    return parse_utc(value)


def _fraction(value: str) -> float:
    number = float(value)
    if not 0 <= number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a fraction in [0, 1)")
    return number


HOURLY_HELP = (
    "one event_pipeline run per arrival hour (an Airflow backfill) instead of the default catch-up through the"
    " continuous DAGs (load_events, deliver_events, transform, hourly_checks: a few bounded runs for the whole range)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eventpipe", description=__doc__.split("\n\n")[0])  # the commands
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write realistic, deterministic event logs to a landing zone")
    gen.add_argument("--landing", help="directory or s3://bucket/prefix (default: $EVENTPIPE_HOME/landing)")
    gen.add_argument("--start", type=_iso, required=True, help="first arrival hour, ISO-8601 (UTC if no offset)")
    gen.add_argument("--hours", type=int, default=24)
    gen.add_argument("--orgs", type=int, default=3)
    gen.add_argument("--sessions-per-hour", type=int, default=20, help="sessions started per org per hour")
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--late-fraction", type=_fraction, default=0.05)
    gen.add_argument("--duplicate-fraction", type=_fraction, default=0.02)
    gen.add_argument("--malformed-fraction", type=_fraction, default=0.01)
    gen.add_argument("--files-per-hour", type=int, default=4)
    gen.add_argument("--truth", help="also write the ground truth (expected counts) to this JSON file")

    run = commands.add_parser(
        "run",
        help="catch the arrival hours in [start, end) up through the continuous DAGs (in this process, or through the"
        " scheduler when one is up)",
    )
    run.add_argument("--start", type=_iso, required=True)
    run.add_argument("--end", type=_iso, required=True)
    run.add_argument(
        "--target",
        choices=("duckdb", "snowflake", "snowflake-emulator"),
        default=None,
        help="where to load and build: the embedded DuckDB (default), Snowflake (Airflow Connection "
        "snowflake_default + dbt target snowflake), or the local Snowflake emulator (fakesnow, real connector)",
    )
    run.add_argument("--hourly", dest="continuous", action="store_false", help=HOURLY_HELP)
    # The default since the continuous DAGs became `run`'s path; accepted so older scripts keep working.
    run.add_argument("--continuous", dest="continuous", action="store_true", help="the default (kept for scripts)")
    run.set_defaults(continuous=True)

    demo = commands.add_parser("demo", help="generate a day of events, run it all locally, print what landed")
    demo.add_argument(
        "--start", type=_iso, default=None, help="first arrival hour (default: the last --hours whole hours)"
    )
    demo.add_argument("--hours", type=int, default=24)
    demo.add_argument("--sessions-per-hour", type=int, default=20)
    demo.add_argument("--hourly", dest="continuous", action="store_false", help=HOURLY_HELP)

    up = commands.add_parser("up", help="start the Airflow UI (standalone) with the project's DAGs")
    up.add_argument("--host", default="127.0.0.1", help="the interface the UI binds (default: loopback only)")
    up.add_argument("--port", type=int, default=8080)
    replay = commands.add_parser(
        "replay-quarantine",
        help="after a fix, load the quarantined lines that now pass validation (the rest stay quarantined)",
    )
    replay.add_argument("--reason", help="only lines quarantined for this reason code (default: every reason)")

    hec = commands.add_parser(
        "hec-receiver",
        add_help=False,
        help="a local Splunk HEC-compatible receiver (writes $EVENTPIPE_HOME/received/splunk/); --help for options",
    )
    hec.add_argument("receiver_args", nargs=argparse.REMAINDER)

    from eventpipe.share.commands import add_share_parser  # share plan|apply (argparse only, no heavy imports)

    add_share_parser(commands)
    from eventpipe.grants.commands import add_grants_parser  # grants plan|apply (argparse only)

    add_grants_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["hec-receiver"]:  # its own options (devtools.receivers.hec_cli), passed through as they are
        return cmd_hec_receiver(argparse.Namespace(receiver_args=argv[1:]))
    args = build_parser().parse_args(argv)
    handler = {
        "generate": cmd_generate,
        "run": cmd_run,
        "demo": cmd_demo,
        "up": cmd_up,
        "share": cmd_share,
        "grants": cmd_grants,
        "replay-quarantine": cmd_replay_quarantine,
    }.get(args.command, cmd_hec_receiver)
    return handler(args)


def cmd_hec_receiver(args: argparse.Namespace) -> int:
    from eventpipe.devtools.receivers.hec_cli import serve

    return serve(args.receiver_args)


def cmd_generate(args: argparse.Namespace) -> int:
    from eventpipe import settings
    from eventpipe.devtools.generate.landing import generate

    truth = generate(
        landing=args.landing or settings.landing_url(),
        start=args.start,
        hours=args.hours,
        orgs=args.orgs,
        sessions_per_hour=args.sessions_per_hour,
        seed=args.seed,
        late_fraction=args.late_fraction,
        duplicate_fraction=args.duplicate_fraction,
        malformed_fraction=args.malformed_fraction,
        files_per_hour=args.files_per_hour,
        truth_path=args.truth,
    )
    print(f"wrote {truth.files:,} files, {truth.lines:,} lines to {args.landing or settings.landing_url()}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from eventpipe.local import runner, targets

    hours = runner.hourly_intervals(args.start, args.end)
    if not_over := runner.hours_not_over(hours):
        print(f"eventpipe run: {runner.not_over_message(not_over)}", file=sys.stderr)
        return 2
    with targets.activated(args.target or targets.default_target()):
        failed = _run(args)
        _print_summary()
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from eventpipe import settings
    from eventpipe.devtools.generate.landing import generate
    from eventpipe.utc import hour_floor, utc_now

    landing = settings.landing_url()
    print(f"EVENTPIPE_HOME = {settings.eventpipe_home()}")
    # Recent hours by default: GA4 takes events up to 72 hours old, older ones are dead-lettered too_old.
    args.start = args.start or hour_floor(utc_now()) - timedelta(hours=args.hours)
    truth = generate(
        landing=landing,
        start=args.start,
        hours=args.hours,
        orgs=3,
        sessions_per_hour=args.sessions_per_hour,
        seed=7,
        truth_path=str(settings.eventpipe_home() / "demo_truth.json"),
    )
    print(f"generated {truth.files:,} landing files, {truth.lines:,} lines under {landing}")
    args.end = args.start + timedelta(hours=args.hours)
    failed = _run(args)
    _print_summary()
    print(f"warehouse: {settings.warehouse_path()}  (tables raw.*, ops.*, marts.*)")
    return 1 if failed else 0


def cmd_share(args: argparse.Namespace) -> int:
    from eventpipe.share.commands import run

    return run(args)


def cmd_grants(args: argparse.Namespace) -> int:
    from eventpipe.grants.commands import run

    return run(args)


def cmd_replay_quarantine(args: argparse.Namespace) -> int:
    from eventpipe.ingest.replay import replay_quarantine
    from eventpipe.warehouse import open_warehouse

    with open_warehouse() as target:
        result = replay_quarantine(target, reason=args.reason)
    print(
        f"replayed {result.replayed:,} quarantined lines: {result.loaded:,} loaded, {result.duplicates:,} duplicates,"
        f" {result.still_quarantined:,} still quarantined (batch {result.batch_id})"
    )
    for reason, lines in sorted(result.still_quarantined_by_reason.items()):
        print(f"  still {reason:<24}{lines:>8,}")
    print("They are one load commit: deliver_events sends it and transform builds it at their next run (the sweep")
    print("with a scheduler up, or `eventpipe run` over any closed hour). On the hourly path, Clear the deliver task")
    print("of their hours (event_pipeline): parts already delivered are skipped, the replayed events are sent.")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from eventpipe.local.up import serve

    return serve(args.port, args.host)


def _run(args: argparse.Namespace) -> list:
    """What did not succeed: the continuous DAGs' runs (the default), or the hours of event_pipeline (``--hourly``)."""
    from eventpipe.local.progress import catch_up_with_progress, run_with_progress

    if args.continuous:
        return catch_up_with_progress(args.start, args.end)
    return run_with_progress(args.start, args.end)


def _print_summary() -> None:
    from eventpipe.local import report
    from eventpipe.warehouse import open_warehouse

    with open_warehouse() as target:
        print(report.render(report.summarize(target)))


if __name__ == "__main__":
    sys.exit(main())
