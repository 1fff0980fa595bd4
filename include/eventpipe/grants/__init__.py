"""Least privilege in Snowflake as code: one role per job and exactly the grants it needs.

``roles`` says what each role may do (``desired``), ``planner`` turns the difference between an account's
state and that into statements (revokes first, then grants), ``sync`` reads the state (a live account, or the
local target's recorded state file) and applies, ``commands`` is ``eventpipe grants plan|apply``. The roles and
every grant are listed in docs/production.md ("Snowflake roles and grants").
"""
