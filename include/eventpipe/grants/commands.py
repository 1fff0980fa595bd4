"""``eventpipe grants plan|apply``: the argument parser and the command (the CLI only wires it in).

stdout carries only the Snowflake SQL (``eventpipe grants plan > grants.sql`` is a script); what the user should
know about it goes to stderr, as for ``eventpipe share plan|apply``.
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Least privilege in Snowflake as code: one role per job, exactly the grants it needs
(docs/production.md, "Snowflake roles and grants").

  loader       writes raw and ops                          (Airflow Connection snowflake_loader)
  transformer  reads raw and ops, builds staging and marts  (snowflake_transformer: dbt)
  share owner  reads marts, creates the share              (snowflake_share)
  reader       SELECT on marts (and ops.load_batch) only    (snowflake_reader: explorer, BI)

  plan   print the statements that bring the roles from their current grants to these (changes nothing)
  apply  run them, then plan again: nothing may remain

Targets:
  local      (default) a recorded state file, $EVENTPIPE_HOME/grants/state.json, STANDS IN FOR THE ACCOUNT;
             apply records the state the statements lead to. Nothing is sent to Snowflake.
  snowflake  a real account, as the admin identity: the Airflow Connection snowflake_admin, else
             snowflake_default, else SNOWFLAKE_* variables, with a role that may create roles and
             manage grants.
"""


def add_grants_parser(commands: argparse._SubParsersAction) -> None:
    grants = commands.add_parser(
        "grants",
        help="plan or apply the Snowflake roles and grants (one role per job)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from eventpipe.share.commands import add_plan_apply

    for action in add_plan_apply(grants, "grants_command", DESCRIPTION):
        action.add_argument("--target", choices=("local", "snowflake"), default="local")
        action.add_argument("--database", default="ANALYTICS", help="holds raw, ops, staging, marts")
        action.add_argument("--warehouse", default="EVENTPIPE", help="the warehouse every role uses")
        action.add_argument("--prefix", default="EVENTPIPE", help="roles are <PREFIX>_LOADER, ...")


def run(args: argparse.Namespace) -> int:
    from eventpipe.grants.roles import GrantsConfig
    from eventpipe.grants.sync import GrantsError, apply_grants, plan_grants
    from eventpipe.share.commands import say, use_airflow_connections
    from eventpipe.share.planner import format_plan

    use_airflow_connections(args.target)
    try:
        config = GrantsConfig(database=args.database, warehouse=args.warehouse, prefix=args.prefix)
        run_it = plan_grants if args.grants_command == "plan" else apply_grants
        done = run_it(config, args.target)
        sys.stdout.write(format_plan(done.statements))
        verb = "would bring" if args.grants_command == "plan" else "brought"
        say(f"{len(done.statements)} statement(s) {verb} the roles {', '.join(config.roles)} to their grants.")
        for grant in done.waiting:
            say(f"waiting: {grant.privilege} on {grant.name} to {grant.role} (the table does not exist yet: run again)")
        if args.target == "local":
            say("(local target: the recorded state stands in for the Snowflake account; nothing is sent)")
        return 0
    except (GrantsError, ValueError, OSError) as error:
        say(f"eventpipe grants {args.grants_command}: {error}")
        return 2
