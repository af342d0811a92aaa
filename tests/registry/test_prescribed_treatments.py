"""A visit's medication recorded as never taken enters the treatment list with that status (issue 12)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ifnscope.registry import services
from tests.helpers import make_case


def test_a_refused_medication_is_listed_as_refused_and_becomes_active_when_started(reg: Any) -> None:
    meds = [{"name": "IVIG", "status": "refused"}, {"name": "hydroxychloroquine", "status": "taking"}]
    case = make_case({"heliotrope_rash": "present"}, age=29, onset=28.5, medications=meds)
    with reg.transaction() as s:
        p = services.create_patient(s, reg.doc, name="Jane Roe")
        services.add_visit(s, reg.doc, p.id, case, dt.date(2025, 1, 10))
    with reg.transaction() as s:
        rows = {t.agent: t for t in services.get_record(s, reg.doc, p.id).treatments}
    assert rows["ivig"].status == "refused"
    assert rows["hydroxychloroquine"].status == "active"
    # a later visit records that IVIG was started after all
    later = make_case(
        {"heliotrope_rash": "present"},
        age=29,
        onset=28.5,
        medications=[{"name": "IVIG", "started": "2025-03"}],
    )
    with reg.transaction() as s:
        services.add_visit(s, reg.doc, p.id, later, dt.date(2025, 4, 1))
    with reg.transaction() as s:
        rows = {t.agent: t for t in services.get_record(s, reg.doc, p.id).treatments}
    assert rows["ivig"].status == "active"
