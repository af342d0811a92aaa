"""Demo data for a first look: three users and one patient per example case.

Only with ``demo`` on (``ifnscope serve --demo`` or ``IFNSCOPE_DEMO=1``) and only on a database
whose users table is empty. The demo users share one fixed, documented password
(:data:`DEMO_PASSWORD`): acceptable for a demo only, which is why the server says so when it
creates them. Never turn demo on for a registry with real patients.

Patients come from the shared contract cases (``../shared/cases`` beside the repository, when
present) and the repository's ``examples/*.yaml``, one per case id, with their ``expected:``
blocks stripped. The activity example gets two visits four months apart (the earlier one with
higher CDASI activity), so the timeline shows a trend.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ifnscope.registry import services
from ifnscope.registry.auth import SYSTEM, Actor, Role
from ifnscope.registry.db import Registry

log = logging.getLogger("ifnscope.web")

DEMO_PASSWORD = "ifnscope-demo"  # fixed and documented: demo mode only
DEMO_USERS: tuple[tuple[str, Role], ...] = (
    ("clinician", "clinician"),
    ("researcher", "researcher"),
    ("admin", "admin"),
)
_REPO = Path(__file__).resolve().parents[3]
ACTIVITY_CASE = "activity-cdasi-clasi"
# The earlier activity visit: these CDASI erythema items were higher (+5 activity points).
_EARLIER_ERYTHEMA = {"malar": 3, "rest_of_face": 2, "posterior_neck": 2, "dorsal_hands": 2}


@dataclass
class DemoInfo:
    users: list[str] = field(default_factory=list)
    password: str = DEMO_PASSWORD
    patients: int = 0
    visits: int = 0

    def describe(self) -> str:
        return (
            f"demo users {', '.join(self.users)} with the password '{self.password}' "
            "(a fixed demo password, for demo mode only: do not put real patients in this registry)"
        )


def case_files(folders: list[Path] | None = None) -> list[Path]:
    """Example case files: the shared contract cases first, then the repository's examples."""
    if folders is None:
        folders = [_REPO.parent / "shared" / "cases", _REPO / "examples"]
    out: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            out += sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    return out


def _load(path: Path) -> dict[str, Any] | None:
    """The case document as written (validated first; ``expected:`` stripped).

    The raw document, not ``Case.model_dump``: a dumped case does not always validate again
    (``muscle.biopsy: not_done`` dumps as ``{done: false}``)."""
    from ifnscope.case.reader import load_case, read_document
    from ifnscope.errors import IfnscopeError

    try:
        load_case(path)
    except IfnscopeError as err:
        log.warning("demo: skipped an example case that does not load (%s)", err.code)
        return None
    doc = read_document(path.read_text(encoding="utf-8"), file=str(path))
    doc.pop("expected", None)
    return doc if isinstance(doc, dict) else None


def seed_demo(registry: Registry, folders: list[Path] | None = None) -> DemoInfo | None:
    """Create the demo users and patients if the registry has no users yet; None otherwise."""
    with registry.transaction() as s:
        if services.has_users(s):
            return None
        info = DemoInfo()
        clinician: Actor = SYSTEM
        for username, role in DEMO_USERS:
            user = services.create_user(s, SYSTEM, username, DEMO_PASSWORD, role)
            info.users.append(username)
            if role == "clinician":
                clinician = Actor(user.id, user.username, role, "cli")
        if services.has_patients(s):
            return info  # patients exist already: users only
        today = dt.date.today()
        seen: set[str] = set()
        for n, path in enumerate(case_files(folders), start=1):
            doc = _load(path)
            if doc is None or doc["id"] in seen:
                continue
            seen.add(doc["id"])
            sex = (doc.get("patient") or {}).get("sex")
            age = (doc.get("patient") or {}).get("age_years")
            birth = today.replace(year=today.year - int(age), month=1, day=1) if age else None
            p = services.create_patient(
                s,
                clinician,
                name=f"Demo Patient {n:02d}",
                mrn=f"DEMO-{n:04d}",
                birth_date=birth,
                sex=sex if sex in ("female", "male", "other", "unknown") else None,
            )
            info.patients += 1
            if doc["id"] == ACTIVITY_CASE:
                later = today - dt.timedelta(days=14)
                earlier = later - dt.timedelta(days=120)
                services.add_visit(s, clinician, p.id, _earlier_activity(doc), visit_date=earlier)
                doc = copy.deepcopy(doc)
                baseline = (doc.get("activity") or {}).get("baseline")
                if isinstance(baseline, dict):
                    baseline["date"] = earlier.isoformat()
                services.add_visit(s, clinician, p.id, doc, visit_date=later)
                info.visits += 2
            else:
                services.add_visit(s, clinician, p.id, doc, visit_date=today - dt.timedelta(days=7 * n))
                info.visits += 1
        log.info(
            "demo: created %d users, %d patients, %d visits", len(info.users), info.patients, info.visits
        )
        return info


def _earlier_activity(doc: dict[str, Any]) -> dict[str, Any]:
    """The activity example as it stood at the earlier visit: more erythema, no baseline."""
    earlier = copy.deepcopy(doc)
    activity = earlier.get("activity") or {}
    activity.pop("baseline", None)
    areas = (activity.get("cdasi") or {}).get("areas") or {}
    for area, value in _EARLIER_ERYTHEMA.items():
        if isinstance(areas.get(area), dict):
            areas[area]["erythema"] = value
    return earlier
