"""``eventpipe share plan|apply``: the argument parser and the command (the CLI only wires it in).

stdout carries only the Snowflake SQL (``eventpipe share plan > plan.sql`` is a script); what the
user should know about it (target, consumers file, counts, rows visible per consumer) goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
The Secure Data Share as code, from a consumers file (consumer account -> organizations, PII or not).

  plan   print the Snowflake statements that bring the target from its current state to the file's
         (nothing is changed; nothing is printed when there is nothing to do)
  apply  run them, then plan again: nothing may remain

Targets:
  local      (default) the embedded environment. There is no Snowflake account here: a recorded state
             file, $EVENTPIPE_HOME/share/state.json, STANDS IN FOR THE ACCOUNT (as Terraform's state
             does). plan diffs the consumers file against it and prints valid Snowflake SQL; apply
             rebuilds the local DuckDB share on the warehouse (one schema per consumer,
             share_<account>, same six views, same isolation and masking) and records the state the
             statements lead to, so the next plan is empty. No statement is sent to Snowflake.
  snowflake  a real account: the state is read live (SHOW ...), apply runs the statements, as the
             share owner: the Airflow Connection snowflake_share, else snowflake_default, else
             SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY),
             SNOWFLAKE_ROLE, SNOWFLAKE_WAREHOUSE (docs/production.md, "Snowflake roles and grants").

Consumers file: --consumers, else $EVENTPIPE_SHARE_CONSUMERS, else config/consumers.yml if present,
else config/consumers.example.yml. The share_sync DAG runs the same plan and apply from Airflow.
See docs/querying-the-share.md.
"""


def add_plan_apply(command: argparse.ArgumentParser, dest: str, description: str) -> list[argparse.ArgumentParser]:
    """The ``plan`` and ``apply`` actions of an as-code command (``share``, ``grants``), for their options."""
    actions = command.add_subparsers(dest=dest, required=True)
    return [
        actions.add_parser(
            name, help=text, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        for name, text in (
            ("plan", "print the Snowflake statements the target needs (changes nothing)"),
            ("apply", "run them on the target, then check that a new plan is empty"),
        )
    ]


def add_share_parser(commands: argparse._SubParsersAction) -> None:
    share = commands.add_parser(
        "share",
        help="plan or apply the Secure Data Share from a consumers file (local state or a Snowflake account)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for action in add_plan_apply(share, "share_command", DESCRIPTION):
        action.add_argument("--consumers", help="consumers YAML (default: see above)")
        action.add_argument(
            "--target",
            choices=("local", "snowflake"),
            default="local",
            help="local: recorded state + the DuckDB share (default); snowflake: a real account",
        )


def say(message: str) -> None:
    """What the user should know about the SQL on stdout: to stderr."""
    print(message, file=sys.stderr)


def use_airflow_connections(target: str) -> None:
    """On the snowflake target the credentials come from Airflow Connections first: outside Airflow, look them up in
    the embedded Airflow's environment, as `eventpipe run` does."""
    if target == "snowflake" and "AIRFLOW_HOME" not in os.environ:
        from eventpipe.orchestrate import airflow_env

        airflow_env.apply_airflow_environ()


def run(args: argparse.Namespace) -> int:
    from eventpipe.share.planner import format_plan
    from eventpipe.share.sync import ShareSyncError, apply_share, format_row_counts, load_consumers, plan_share

    use_airflow_connections(args.target)
    try:
        path, config = load_consumers(args.consumers)
        if args.share_command == "plan":
            planned = plan_share(config, args.target)
            if planned.note:
                say(planned.note)
            if not planned.statements:
                say(f"No changes: the {args.target} share matches {path}.")
                return 0
            sys.stdout.write(format_plan(planned.statements))
            say(f"{len(planned.statements)} statement(s) would bring the {args.target} share to {path}.")
            if args.target == "local":
                say("(local target: the recorded state stands in for the Snowflake account; nothing is sent)")
            return 0
        applied = apply_share(config, path, args.target)
        sys.stdout.write(format_plan(applied.ran))
        say(f"applied {len(applied.ran)} statement(s) on the {args.target} share from {path}; re-plan: no changes.")
        if args.target == "local":
            say(f"recorded state: {applied.state_file} (stands in for the Snowflake account)")
            say("rows visible per consumer in the local DuckDB share (schema share_<account>):")
            say(format_row_counts(applied.rows))
        return 0
    except (ShareSyncError, ValueError, OSError) as error:
        say(f"eventpipe share {args.share_command}: {error}")
        return 2
