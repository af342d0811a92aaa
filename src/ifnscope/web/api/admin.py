"""Users and the audit log (admins only)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ifnscope.registry import service
from ifnscope.registry.auth import Actor, create_user
from ifnscope.registry.models import User
from ifnscope.web.deps import DbSession, require

router = APIRouter(tags=["admin"])
log = logging.getLogger("ifnscope.web")

Admin = Annotated[Actor, Depends(require("manage_users"))]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=10, max_length=1024)
    role: Literal["clinician", "researcher", "admin"]


class UserInfo(BaseModel):
    id: int
    username: str
    role: str
    active: bool
    created_at: dt.datetime


class AuditEntry(BaseModel):
    at: str
    user: str | None
    action: str
    patient_id: int | None
    detail: str | None
    via: str | None


def _info(u: User) -> UserInfo:
    return UserInfo(id=u.id, username=u.username, role=u.role, active=u.active, created_at=u.created_at)


@router.post("/admin/users", status_code=201, response_model=UserInfo)
def add_user(body: UserIn, actor: Admin, s: DbSession) -> UserInfo:
    user = create_user(s, body.username, body.password, body.role)
    service.audit(s, actor, "create_user", None, f"user {user.id}")
    log.info("user %d created (%s)", user.id, body.role)
    return _info(user)


@router.get("/admin/users", response_model=list[UserInfo])
def list_users(actor: Admin, s: DbSession) -> list[UserInfo]:
    return [_info(u) for u in s.scalars(select(User).order_by(User.id))]


@router.get("/audit", response_model=list[AuditEntry])
def audit_log(
    actor: Admin,
    s: DbSession,
    patient_id: Annotated[int | None, Query(description="Only events about this patient")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[dict[str, Any]]:
    """Who read or changed which patient, newest first (ids only, never clinical content)."""
    return service.audit_log(s, actor, patient_id=patient_id, limit=limit)
