"""Records that can be corrected, through the API on SQLite and PostgreSQL: PATCH and DELETE
with a reason, versions (clinicians only), the 409 on a likely duplicate patient, the 422 on an
empty visit, and treatments reconciled and denied by the payer."""

from __future__ import annotations

from typing import Any

import httpx

from tests.web.test_api import (  # the module's app and sessions (fixtures), on both databases
    SEED,
    Session,
    app,
    boss,
    case_doc,
    doc,
    new_patient,
    res,
)

__all__ = ["app", "boss", "doc", "res"]  # fixtures used by name


def error_of(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == code, err
    assert err["message"]
    assert "Traceback" not in r.text
    return err


def test_patch_and_delete_a_visit_keep_versions(doc: Session, res: Session) -> None:
    p = new_patient(doc, name="Api Versions")
    v = doc.post(f"/api/patients/{p['id']}/visits", json={"visit_date": "2025-02-01", "case": case_doc(SEED)})
    assert v.status_code == 201, v.text
    vid = v.json()["id"]
    err = error_of(
        doc.send("PATCH", f"/api/visits/{vid}", json={"visit_date": "2025-02-02"}), 422, "request.invalid"
    )
    assert err["field"] == "body.reason"
    err = error_of(
        doc.send("PATCH", f"/api/visits/{vid}", json={"visit_date": "2025-02-02", "reason": "  "}),
        422,
        "registry.invalid",
    )
    assert err["field"] == "reason"
    blank = {"format": "ifnscope-case/1", "id": "x", "patient": {"age_years": 30}}
    error_of(doc.send("PATCH", f"/api/visits/{vid}", json={"case": blank, "reason": "x"}), 422, "case.empty")
    r = doc.send(
        "PATCH", f"/api/visits/{vid}", json={"visit_date": "2025-02-02", "reason": "typed the wrong day"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["visit_date"] == "2025-02-02"
    listed = doc.get(f"/api/visits/{vid}/versions").json()
    assert [(x["version"], x["action"], x["reason"]) for x in listed] == [
        (1, "update", "typed the wrong day")
    ]
    one = doc.get(f"/api/visits/{vid}/versions/1").json()
    assert one["snapshot"]["visit_date"] == "2025-02-01"
    error_of(res.get(f"/api/visits/{vid}/versions"), 403, "registry.forbidden")
    error_of(res.get(f"/api/visits/{vid}/versions/1"), 403, "registry.forbidden")
    error_of(res.get(f"/api/patients/{p['id']}/versions"), 403, "registry.forbidden")
    error_of(doc.get(f"/api/visits/{vid}/versions/9"), 404, "registry.not-found")

    error_of(doc.send("DELETE", f"/api/visits/{vid}"), 422, "request.invalid")
    error_of(res.send("DELETE", f"/api/visits/{vid}", json={"reason": "x"}), 403, "registry.forbidden")
    assert doc.send("DELETE", f"/api/visits/{vid}", json={"reason": "wrong patient"}).status_code == 204
    error_of(doc.get(f"/api/visits/{vid}"), 404, "registry.not-found")
    record = doc.get(f"/api/patients/{p['id']}").json()
    assert record["visits"] == []
    assert record["patient"]["last_visit"] is None
    assert doc.get(f"/api/patients/{p['id']}/timeline").json()["visits"] == []
    assert [x["action"] for x in doc.get(f"/api/visits/{vid}/versions").json()] == ["update", "delete"]
    history = doc.get(f"/api/patients/{p['id']}/versions").json()
    assert [(x["entity"], x["version"]) for x in history] == [("visit", 2), ("visit", 1)]


def test_an_empty_visit_is_refused(doc: Session) -> None:
    p = new_patient(doc, name="Api Empty")
    blank = {"format": "ifnscope-case/1", "id": "blank", "medications": [{"name": "methotrexate"}]}
    err = error_of(doc.post(f"/api/patients/{p['id']}/visits", json={"case": blank}), 422, "case.empty")
    assert "nothing to assess" in err["message"]
    assert doc.get(f"/api/patients/{p['id']}").json()["visits"] == []


def test_patient_duplicates_corrections_and_deletion(doc: Session, res: Session) -> None:
    first = new_patient(doc, name="Amalia Zwilling", mrn="MRN-API-DUP", birth_date="1975-07-08")
    err = error_of(
        doc.post("/api/patients", json={"name": "X", "mrn": "MRN-API-DUP"}), 409, "registry.conflict"
    )
    assert err["existing_patient_id"] == first["id"]
    same = {"name": "ZWILLING, amalia", "birth_date": "1975-07-08"}
    err = error_of(doc.post("/api/patients", json=same), 409, "registry.duplicate")
    assert err["existing_patient_id"] == first["id"]
    assert err["duplicates"] == [first["id"]]
    twin = new_patient(doc, **same, confirm_duplicate=True)
    assert twin["id"] != first["id"]
    err = error_of(
        doc.send("PATCH", f"/api/patients/{twin['id']}", json={"sex": "female"}), 422, "request.invalid"
    )
    assert err["field"] == "body.reason"
    r = doc.send(
        "PATCH", f"/api/patients/{twin['id']}", json={"birth_date": "1975-07-09", "reason": "wrong day"}
    )
    assert r.status_code == 200, r.text
    assert doc.get(f"/api/patients/{twin['id']}/versions/1").json()["snapshot"]["birth_date"] == "1975-07-08"
    error_of(
        res.send("PATCH", f"/api/patients/{twin['id']}", json={"reason": "x", "sex": "male"}),
        403,
        "registry.forbidden",
    )
    assert doc.send("DELETE", f"/api/patients/{twin['id']}", json={"reason": "test"}).status_code == 204
    ids = [x["id"] for x in doc.get("/api/patients", params={"limit": 500}).json()]
    assert twin["id"] not in ids
    assert first["id"] in ids
    assert doc.get(f"/api/patients/{twin['id']}/versions").json()[0]["action"] == "delete"


def test_treatments_reconciled_denied_and_corrected(doc: Session, res: Session) -> None:
    p = new_patient(doc, name="Api Meds")
    for date in ("2025-01-05", "2025-03-05"):
        r = doc.post(f"/api/patients/{p['id']}/visits", json={"visit_date": date, "case": case_doc(SEED)})
        assert r.status_code == 201, r.text
    again = doc.post(f"/api/patients/{p['id']}/treatments", json={"name": "MTX", "dose": "15 mg weekly"})
    assert again.status_code == 201, again.text
    treatments = doc.get(f"/api/patients/{p['id']}").json()["treatments"]
    assert [t["agent"] for t in treatments].count("methotrexate") == 1
    assert len(treatments) == 4  # the seed's four medications, recorded twice and by hand
    ivig = doc.post(
        f"/api/patients/{p['id']}/treatments",
        json={
            "name": "IVIG",
            "status": "denied_by_payer",
            "denied_on": "2025-03-20",
            "denial_reason": "Not on formulary",
        },
    ).json()
    assert (ivig["status"], ivig["denied_on"], ivig["denial_reason"]) == (
        "denied_by_payer",
        "2025-03-20",
        "Not on formulary",
    )
    seen = {t["id"]: t for t in res.get(f"/api/patients/{p['id']}").json()["treatments"]}
    assert seen[ivig["id"]]["denial_reason"] is None
    assert seen[ivig["id"]]["denied_on"] is None  # researchers get no dates, not even years
    error_of(
        doc.send("PATCH", f"/api/treatments/{ivig['id']}", json={"status": "granted"}), 422, "request.invalid"
    )
    err = error_of(
        doc.send("PATCH", f"/api/treatments/{ivig['id']}", json={"denial_reason": None}),
        422,
        "registry.invalid",
    )
    assert err["field"] == "reason"
    r = doc.send(
        "PATCH",
        f"/api/treatments/{ivig['id']}",
        json={"status": "active", "started": "2025-05", "reason": "appeal won"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    assert [x["reason"] for x in doc.get(f"/api/treatments/{ivig['id']}/versions").json()] == ["appeal won"]
    error_of(doc.send("DELETE", f"/api/treatments/{ivig['id']}", json={}), 422, "request.invalid")
    assert doc.send("DELETE", f"/api/treatments/{ivig['id']}", json={"reason": "x"}).status_code == 204
    assert ivig["id"] not in [t["id"] for t in doc.get(f"/api/patients/{p['id']}").json()["treatments"]]
