"""Users and the audit log (admins only)."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ifnscope.registry import services
from ifnscope.registry.auth import Actor
from ifnscope.registry.services import AuditEntry, UserInfo
from ifnscope.web.api.types import DbId, SafeText, Text80
from ifnscope.web.deps import DbSession, require
from ifnscope.web.openapi import created, set_total

router = APIRouter(tags=["admin"])
log = logging.getLogger("ifnscope.web")

Admin = Annotated[Actor, Depends(require("manage_users"))]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Text80 = Field(min_length=1, max_length=80)
    password: SafeText = Field(min_length=1, max_length=1024, description="Checked by the password policy")
    role: Literal["clinician", "researcher", "admin"]


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool | None = Field(default=None, description="false: deactivate (ends their sessions)")
    password: SafeText | None = Field(
        default=None, min_length=1, max_length=1024, description="A new password (ends their sessions)"
    )
    role: Literal["clinician", "researcher", "admin"] | None = Field(
        default=None, description="A new role (applies from their next request; not your own)"
    )


@router.post("/admin/users", status_code=201, response_model=UserInfo)
def add_user(body: UserIn, actor: Admin, s: DbSession, response: Response) -> UserInfo:
    """Create an active user; the password must meet the policy (``registry.invalid`` says why)."""
    user = services.create_user(s, actor, body.username, body.password, body.role)
    response.headers["Location"] = f"/api/admin/users/{user.id}"
    log.info("user %d created (%s)", user.id, body.role)
    created(response, f"/api/admin/users/{user.id}")
    return user


@router.get("/admin/users", response_model=list[UserInfo])
def list_users(actor: Admin, s: DbSession, response: Response) -> list[UserInfo]:
    """Every user, oldest first, with their latest login (from the audit log) where known."""
    rows = services.list_users(s, actor)
    set_total(response, len(rows))
    return rows


@router.get("/admin/users/{user_id}", response_model=UserInfo)
def get_user(user_id: DbId, actor: Admin, s: DbSession) -> UserInfo:
    return services.get_user(s, actor, user_id)


@router.patch("/admin/users/{user_id}", response_model=UserInfo)
def change_user(user_id: DbId, body: UserPatch, actor: Admin, s: DbSession) -> UserInfo:
    """Deactivate or reactivate a user, change their role, or set a new password (a new
    password or deactivation ends their web sessions). All or nothing: one transaction."""
    services.get_user(s, actor, user_id)  # 404 first, whatever the body
    if body.role is not None:
        services.set_role(s, actor, user_id, body.role)
    if body.password is not None:
        services.set_password(s, actor, user_id, body.password)
    if body.active is not None:
        services.set_active(s, actor, user_id, body.active)
    log.info("user %d changed", user_id)
    return services.get_user(s, actor, user_id)


@router.get("/audit", response_model=list[AuditEntry])
def audit_log(
    actor: Admin,
    s: DbSession,
    response: Response,
    patient_id: Annotated[DbId | None, Query(description="Only events about this patient")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[AuditEntry]:
    """Who read or changed which patient, newest first (ids only, never clinical content)."""
    set_total(response, services.count_audit(s, actor, patient_id=patient_id))
    return services.audit_log(s, actor, patient_id=patient_id, limit=limit)
