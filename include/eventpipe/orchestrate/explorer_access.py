"""Who may use the Activity Explorer, and which organizations they see: asked of Airflow's auth manager.

- The permission: the custom view ``Activity Explorer``, method ``GET``. With the FAB auth manager (docker-compose.yml)
  that is the permission ``can_read`` on the resource ``Activity Explorer``: Admin gets it from airflow-init
  (``python -m eventpipe.orchestrate.explorer_access grant Admin``); a Viewer lacks it until a role that has it is
  given (``grant Viewer``, or ``airflow roles add-perms <role> -r "Activity Explorer" -a can_read``). With the
  simple auth manager (``eventpipe up`` on a laptop) every signed-in user has it: that manager allows any custom view
  to a Viewer and above.
- The organizations: a user holding roles named ``org:<organizationId>`` sees only those organizations; a user with
  no such role sees all of them. The explorer adds the filter to its queries on the server
  (``eventpipe.explorer``); nothing the browser sends widens it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from fastapi import HTTPException, Request
from fastapi.security import HTTPBearer

RESOURCE = "Activity Explorer"
FAB_ACTION = "can_read"
ORG_ROLE_PREFIX = "org:"

bearer = HTTPBearer(auto_error=False)


def organizations_of(role_names: Iterable[str]) -> frozenset[str] | None:
    """The organizations ``org:<id>`` roles limit a user to; None (every organization) when there are none."""
    limited = frozenset(name.removeprefix(ORG_ROLE_PREFIX) for name in role_names if name.startswith(ORG_ROLE_PREFIX))
    return limited or None


def role_names(user) -> list[str]:
    """The user's role names: FAB users have ``roles``, the simple auth manager's users one ``role``."""
    roles = getattr(user, "roles", None)
    if roles is not None:
        return [role.name for role in roles]
    role = getattr(user, "role", None)
    return [role] if role else []


async def explorer_scope(request: Request) -> frozenset[str] | None:
    """FastAPI dependency: 401 if not signed in, 403 without the permission, else the user's organizations."""
    from airflow.api_fastapi.app import get_auth_manager  # only in the API server, at request time
    from airflow.api_fastapi.core_api.security import get_user

    user = await get_user(request, None, await bearer(request))
    if not get_auth_manager().is_authorized_custom_view(method="GET", resource_name=RESOURCE, user=user):
        raise HTTPException(403, f"Forbidden: the {RESOURCE} needs the {FAB_ACTION} permission on {RESOURCE!r}")
    return organizations_of(role_names(user))


def grant(roles: Iterable[str]) -> None:
    """Creates the FAB permission (``can_read`` on ``Activity Explorer``) and gives it to ``roles``."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        manager = appbuilder.sm
        permission = manager.create_permission(FAB_ACTION, RESOURCE)
        for name in roles:
            role = manager.find_role(name) or manager.add_role(name)
            manager.add_permission_to_role(role, permission)
            print(f"{name}: {FAB_ACTION} on {RESOURCE!r}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] != "grant":
        print("usage: python -m eventpipe.orchestrate.explorer_access grant ROLE [ROLE ...]", file=sys.stderr)
        return 2
    grant(args[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
