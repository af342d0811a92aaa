"""The JSON API, mounted under ``/api``; every router documents itself in /openapi.json."""

from __future__ import annotations

from fastapi import APIRouter

from ifnscope.web.api import admin, assess, auth, cohort, fhir_import, patients, signatures

router = APIRouter(prefix="/api")
for _module in (auth, fhir_import, patients, assess, signatures, cohort, admin):
    router.include_router(_module.router)

__all__ = ["router"]
