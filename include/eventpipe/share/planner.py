"""The planner: the statements that take an account from its current share state to the config's.

Order matters for what consumers can see while a plan runs, so access is narrowed before it is
widened: accounts leaving the share are removed first, mapping rows are deleted before rows are
inserted, and new accounts are added last, once every view they will query exists and is granted.
Planning against the state a plan produces yields no statements (tested with ``apply_to_state``).
"""

from __future__ import annotations

from collections import defaultdict

from eventpipe.share import snowflake as sf
from eventpipe.share.config import ShareConfig
from eventpipe.share.state import AccessRow, ShareState
from eventpipe.share.views import VIEWS


def plan(current: ShareState, desired: ShareConfig) -> list[str]:
    config, target = desired, sf.desired_state(desired)
    statements: list[str] = []

    # Containers: the database, the private and the shared schema, the mapping table.
    if not current.database_exists:
        statements.append(sf.create_database(config))
    schemas = current.schemas if current.database_exists else frozenset()
    for schema in (config.private_schema, config.schema):
        if schema not in schemas:
            statements.append(sf.create_schema(config, schema))
    table_exists = current.mapping_table_exists and config.private_schema in schemas
    if not table_exists:
        statements.append(sf.create_mapping_table(config))

    # Narrow first: accounts that leave, then grants the share must not have.
    share_exists = current.share_exists
    accounts = current.accounts if share_exists else frozenset()
    grants = set(current.grants) if share_exists else set()
    if accounts - target.accounts:
        statements.append(sf.remove_accounts(config, sorted(accounts - target.accounts)))
    for extra in sorted(grants - target.grants, key=sf.grant_order, reverse=True):
        statements.append(sf.revoke(config, extra))
        grants.discard(extra)
        if extra.object_type == "DATABASE" and extra.privilege == "USAGE":
            # Snowflake revokes everything in a database from a share with the database's USAGE.
            grants = {g for g in grants if not g.name.startswith(f"{extra.name}.")}

    statements += _mapping_changes(config, current.mapping if table_exists else (), target.mapping)

    # Views: drop the ones the config does not define, (re)create stale or missing ones.
    views = current.views if config.schema in schemas else {}
    for name in sorted(set(views) - set(target.views)):
        statements.append(sf.drop_view(config, name))
        grants.discard(sf.Grant("SELECT", "VIEW", f"{config.database}.{config.schema}.{name}"))
    for view in VIEWS:
        if views.get(view.name) != target.views[view.name]:
            statements.append(sf.create_view(config, view))
            # Do not count on COPY GRANTS carrying a share's grant over: grant again (a no-op if it did).
            grants.discard(sf.Grant("SELECT", "VIEW", sf.view_name(config, view)))

    # Widen last: the share, its grants, then the accounts that join.
    if not share_exists:
        statements.append(sf.create_share(config))
    for missing in sorted(target.grants - grants, key=sf.grant_order):
        statements.append(sf.grant(config, missing))
    if target.accounts - accounts:
        statements.append(sf.add_accounts(config, sorted(target.accounts - accounts)))
    return statements


def _mapping_changes(config: ShareConfig, current: tuple[AccessRow, ...], target: tuple[AccessRow, ...]) -> list[str]:
    """DELETE, UPDATE, INSERT on sharing_access, one statement per account (and kind), deletes first."""
    rows_by_key: dict[tuple[str, str], list[AccessRow]] = defaultdict(list)
    for row in current:
        rows_by_key[(row.organization_id, row.snowflake_account)].append(row)
    wanted = {(row.organization_id, row.snowflake_account): row for row in target}
    deletes: dict[str, list[str]] = defaultdict(list)
    updates: dict[tuple[str, bool], list[str]] = defaultdict(list)
    inserts: list[AccessRow] = []
    for key, rows in sorted(rows_by_key.items()):
        org, account = key
        if key not in wanted or len(rows) > 1:
            # A duplicated key would duplicate the account's rows in every view: delete and insert once.
            deletes[account].append(org)
        elif rows[0].pii_allowed != wanted[key].pii_allowed:
            # In place: deleting and re-inserting would hide the organization's rows in between.
            updates[(account, wanted[key].pii_allowed)].append(org)
    for key, row in sorted(wanted.items()):
        if key not in rows_by_key or len(rows_by_key[key]) > 1:
            inserts.append(row)
    statements = [sf.delete_access(config, account, orgs) for account, orgs in sorted(deletes.items())]
    statements += [sf.update_access(config, acc, orgs, pii) for (acc, pii), orgs in sorted(updates.items())]
    if inserts:
        statements.append(sf.insert_access(config, inserts))
    return statements


def format_plan(statements: list[str]) -> str:
    """Statements as a script (``;`` terminated, a blank line between), as ``share plan`` prints it."""
    return "".join(f"{statement};\n\n" for statement in statements).rstrip("\n") + "\n" if statements else ""
