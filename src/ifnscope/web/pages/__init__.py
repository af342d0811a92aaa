"""The clinicians' web pages: server-rendered Jinja2 with htmx (vendored, no CDN, no request
leaves the server's origin).

``install(app)`` (called by the app factory) includes the page router, mounts ``/static`` and
sets the HTML error renderer (a login redirect for 401, an error page otherwise).

========================================  ======================================================
``GET/POST /login``, ``POST /logout``      the session cookie (CSRF token in every form)
                                           (``auth``)
``GET /``, ``POST /patients/search``       patient list; the search text goes in a POST body,
                                           never in a URL (so never in a log) (``patients``)
``GET/POST /patients/new``                 a new patient (clinicians)
``GET /patients/{id}``                     summary, timeline plot, visits, treatments, scores
``POST /patients/{id}/treatments``,        record a treatment / its stop date / correct or delete
``POST /treatments/{id}/stop``,            it (with a reason)
``POST /treatments/{id}/{edit,delete}``
``POST /patients/{id}/{edit,delete}``      correct or delete the patient (with a reason)
``GET /patients/{id}/history``,            earlier versions of the patient, its visits and
``GET /versions/{entity}/{id}/{n}``        treatments (clinicians and admins)
``POST /patients/{id}/samples/upload``     score an expression matrix, store and show the scores
                                           (``upload``)
``GET/POST /patients/{id}/visits/new``     the case form (``visits``)
``POST /patients/{id}/visits/upload``      the same from a pasted or uploaded case file
``GET /fragments/{lesion,medication}-row/{n}``  one more form row (htmx)
``POST /visits/live``                      the case form's live assessment panel (htmx; nothing
                                           saved) (``live``)
``GET /visits/{id}``                       the assessment
``POST /visits/{id}/reassess``             assess the stored case with the running rules (explicit)
``GET/POST /visits/{id}/edit``,            correct (the case as YAML) or delete the visit, with a
``POST /visits/{id}/delete``               reason; ``GET /visits/{id}/history`` its versions
``GET /visits/{id}/letter.html?agent=``    the report with a draft letter of medical necessity
``GET /visits/{id}/report.{html,pdf}``     the clinician's report of the stored assessment (``reports``)
``GET/POST /cohort``                       cohort query (``cohorts``)
``GET/POST /admin/users``,                 users: list, create; deactivate/reactivate, role,
``POST /admin/users/{id}/{active,role,password}``  password (admins; ``admin``)
========================================  ======================================================

Every read and change goes through ``registry.services`` (permissions, de-identification for
researchers, the audit log); the pages only hide what a role may not do. Responses carry a
Content-Security-Policy that allows this origin's scripts only, and ``Cache-Control: no-store``
(``common``: templates, form helpers, ``render``, the error renderer).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from ifnscope.web.pages import admin, auth, cohorts, fhir_import, live, patients, reports, upload, visits
from ifnscope.web.pages.common import STATIC, render_error

router = APIRouter(include_in_schema=False)
# Order matters where paths overlap: /patients/new and /patients/import are matched before
# /patients/{patient_id}.
for _module in (auth, fhir_import, patients, upload, live, visits, reports, cohorts, admin):
    router.include_router(_module.router)


def install(app: FastAPI) -> None:
    """Include the pages, mount ``/static`` and set the HTML error renderer."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.state.html_error_renderer = render_error


__all__ = ["install", "router"]
