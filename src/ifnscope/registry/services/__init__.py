"""What the registry does, as functions of a session and an actor: the only way in for the web
pages, the API and the command line.

::

    from ifnscope.registry import services

    with registry.transaction() as s:
        p = services.create_patient(s, actor, name="Jane Roe")
        services.add_visit(s, actor, p.id, case)

Every function checks the actor's permission, writes the audit log for every patient it reads or
changes (``audit.write_audit``; callers never write it themselves), and returns plain pydantic
views (``views``), de-identified for researchers (``deidentify``). Transactions belong to the
caller (``Registry.transaction`` in ``registry.db``): a request either commits everything it did
or nothing. Clinical content never reaches a log: the audit log records who, what action and
which patient id; log messages carry ids and counts only.

One module per aggregate: ``patients`` (records, export, timeline), ``visits``, ``treatments``,
``scores`` (saved references, IFN scores), ``cohorts``, ``users`` (logins, users, API tokens),
``audit``.
"""

from __future__ import annotations

from ifnscope.registry.services.audit import audit_log, count_audit
from ifnscope.registry.services.cohorts import CohortQuery, cohort
from ifnscope.registry.services.patients import (
    SEXES,
    count_patients,
    create_patient,
    delete_patient,
    export_file,
    export_record,
    get_record,
    has_patients,
    list_patients,
    timeline,
    update_patient,
)
from ifnscope.registry.services.scores import (
    compute_scores,
    list_references,
    not_scored,
    prepare_scoring,
    run_notes,
    save_reference,
    score_matrix,
    store_scores,
)
from ifnscope.registry.services.treatments import add_treatment, update_treatment
from ifnscope.registry.services.users import (
    change_password,
    create_token,
    create_user,
    end_session,
    has_users,
    list_tokens,
    list_users,
    login,
    revoke_token,
    session_actor,
    set_active,
    set_password,
    start_session,
    token_actor,
)
from ifnscope.registry.services.views import (
    AuditEntry,
    ExportFile,
    NewToken,
    NotScored,
    PatientRecord,
    PatientSummary,
    ReferenceInfo,
    ScoreUpload,
    ScoreView,
    TokenInfo,
    TreatmentView,
    UserInfo,
    VisitView,
)
from ifnscope.registry.services.visits import add_visit, get_visit, reassess_visit, visit_for_report

__all__ = [
    "SEXES",
    "AuditEntry",
    "CohortQuery",
    "ExportFile",
    "NewToken",
    "NotScored",
    "PatientRecord",
    "PatientSummary",
    "ReferenceInfo",
    "ScoreUpload",
    "ScoreView",
    "TokenInfo",
    "TreatmentView",
    "UserInfo",
    "VisitView",
    "add_treatment",
    "add_visit",
    "audit_log",
    "change_password",
    "cohort",
    "compute_scores",
    "count_audit",
    "count_patients",
    "create_patient",
    "create_token",
    "create_user",
    "delete_patient",
    "end_session",
    "export_file",
    "export_record",
    "get_record",
    "get_visit",
    "has_patients",
    "has_users",
    "list_patients",
    "list_references",
    "list_tokens",
    "list_users",
    "login",
    "not_scored",
    "prepare_scoring",
    "reassess_visit",
    "revoke_token",
    "run_notes",
    "save_reference",
    "score_matrix",
    "session_actor",
    "set_active",
    "set_password",
    "start_session",
    "store_scores",
    "timeline",
    "token_actor",
    "update_patient",
    "update_treatment",
    "visit_for_report",
]
