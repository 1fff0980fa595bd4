"""The organizations, apps, branches, deploys and users that generated events refer to.

The catalog is drawn first from the generator's seeded RNG, so it depends only on the seed and the
number of organizations: two runs over different hour ranges describe the same orgs and apps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# (app name, pages a Journey walks through in order, actions the app runs)
APP_TEMPLATES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "Order Status",
        ("Welcome", "Find Order", "Order Details", "Delivery Options", "Confirmation"),
        ("Lookup Order", "Update Address", "Send Tracking SMS", "Create Ticket"),
    ),
    (
        "Claims Intake",
        ("Start Claim", "Policy Lookup", "Incident Details", "Upload Photos", "Review", "Submitted"),
        ("Verify Policy", "Upload Document", "Submit Claim", "Notify Adjuster"),
    ),
    (
        "Appointment Scheduler",
        ("Welcome", "Choose Service", "Pick Time", "Contact Details", "Confirmed"),
        ("Fetch Availability", "Book Slot", "Send Reminder", "Sync Calendar"),
    ),
    (
        "Payment Portal",
        ("Sign In", "Balance", "Payment Method", "Review Payment", "Receipt"),
        ("Authenticate", "Fetch Balance", "Charge Card", "Email Receipt"),
    ),
    (
        "Customer Feedback",
        ("Intro", "Rating", "Comments", "Thank You"),
        ("Save Response", "Create Follow-up", "Sync CRM"),
    ),
)

ORG_NAMES = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell", "soylent")
FIRST_NAMES = ("ana", "ben", "chloe", "dev", "elif", "farid", "grace", "hiro", "ines", "jon", "kemal", "lena")
ROLE_NAMES = ("admin", "builder", "analyst", "viewer")


@dataclass(frozen=True, slots=True)
class Branch:
    branch_id: str
    name: str
    deploy_ids: tuple[str, ...]  # oldest first; most sessions run the newest


@dataclass(frozen=True, slots=True)
class Action:
    action_id: str
    name: str


@dataclass(frozen=True, slots=True)
class App:
    app_id: str
    name: str
    slug: str
    branches: tuple[Branch, ...]  # the production branch first
    pages: tuple[str, ...]
    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    email: str
    role_id: str


@dataclass(frozen=True, slots=True)
class Org:
    org_id: str
    domain: str
    apps: tuple[App, ...]
    users: tuple[User, ...]
    role_ids: tuple[str, ...]
    api_key_ids: tuple[str, ...]
    group_ids: tuple[str, ...]  # platform connection groups


# A random UUID's fixed bits: version 4 (hex digit 12) and the RFC 4122 variant (top bits of hex digit 16).
_UUID_FIXED_BITS = (0xF << 76) | (0xC << 60)
_UUID4_BITS = (0x4 << 76) | (0x8 << 60)


def random_id(rng: random.Random) -> str:
    """A version-4 UUID string from the seeded RNG (``uuid.uuid4`` would not be reproducible, nor as fast)."""
    h = f"{rng.getrandbits(128) & ~_UUID_FIXED_BITS | _UUID4_BITS:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def build_catalog(rng: random.Random, orgs: int) -> tuple[Org, ...]:
    return tuple(_org(rng, index) for index in range(orgs))


def _org(rng: random.Random, index: int) -> Org:
    name = ORG_NAMES[index % len(ORG_NAMES)] + (str(index // len(ORG_NAMES)) if index >= len(ORG_NAMES) else "")
    domain = f"{name}.example.com"
    role_ids = tuple(random_id(rng) for _ in ROLE_NAMES)
    templates = rng.sample(APP_TEMPLATES, rng.randint(2, 3))
    return Org(
        org_id=random_id(rng),
        domain=domain,
        apps=tuple(_app(rng, template) for template in templates),
        users=tuple(_user(rng, domain, role_ids, n) for n in range(rng.randint(3, 8))),
        role_ids=role_ids,
        api_key_ids=tuple(random_id(rng) for _ in range(rng.randint(1, 3))),
        group_ids=tuple(random_id(rng) for _ in range(2)),
    )


def _app(rng: random.Random, template: tuple[str, tuple[str, ...], tuple[str, ...]]) -> App:
    name, pages, action_names = template
    branch_names = ("main", "staging", "dev")[: rng.randint(2, 3)]
    return App(
        app_id=random_id(rng),
        name=name,
        slug=name.lower().replace(" ", "-"),
        branches=tuple(_branch(rng, branch_name) for branch_name in branch_names),
        pages=pages,
        actions=tuple(Action(random_id(rng), action_name) for action_name in action_names),
    )


def _branch(rng: random.Random, name: str) -> Branch:
    return Branch(random_id(rng), name, tuple(random_id(rng) for _ in range(rng.randint(1, 3))))


def _user(rng: random.Random, domain: str, role_ids: tuple[str, ...], n: int) -> User:
    first = FIRST_NAMES[n % len(FIRST_NAMES)]
    return User(random_id(rng), f"{first}.{n}@{domain}", rng.choice(role_ids))
