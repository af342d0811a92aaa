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
``scores`` (saved references, IFN scores), ``versions`` (earlier versions of corrected
records), ``cohorts``, ``users`` (logins, users, API tokens), ``cds`` (CDS Hooks calls,
their cards and feedback),
``audit``.
"""

from __future__ import annotations

from ifnscope.registry.services.audit import audit_log, count_audit
from ifnscope.registry.services.cohorts import CohortQuery, cohort, cohort_csv
from ifnscope.registry.services.patients import (
    SEXES,
    count_patients,
    create_patient,
    delete_patient,
    export_file,
    export_record,
    find_duplicates,
    get_record,
    has_patients,
    list_patients,
    timeline,
    update_patient,
)
from ifnscope.registry.services.prepare import Prepared, prepare_visit, require_content
from ifnscope.registry.services.reports import VisitReport, visit_report
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
from ifnscope.registry.services.treatments import (
    TREATMENT_STATUSES,
    add_treatment,
    delete_treatment,
    update_treatment,
)
from ifnscope.registry.services.users import (
    VerifiedLogin,
    change_password,
    check_login,
    create_token,
    create_user,
    end_session,
    find_user_id,
    finish_login,
    get_user,
    has_users,
    list_tokens,
    list_users,
    login,
    login_lookup,
    own_password,
    prepare_password_change,
    revoke_token,
    session_actor,
    set_active,
    set_password,
    set_role,
    start_session,
    store_password_change,
    token_actor,
)
from ifnscope.registry.services.versions import get_version, list_versions, patient_versions
from ifnscope.registry.services.views import (
    AuditEntry,
    DuplicateCandidate,
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
    VersionInfo,
    VersionView,
    VisitView,
)
from ifnscope.registry.services.visits import (
    add_visit,
    delete_visit,
    get_visit,
    letter_for_visit,
    reassess_visit,
    update_visit,
    visit_for_report,
)

__all__ = [
    "SEXES",
    "TREATMENT_STATUSES",
    "AuditEntry",
    "CohortQuery",
    "DuplicateCandidate",
    "ExportFile",
    "NewToken",
    "NotScored",
    "PatientRecord",
    "PatientSummary",
    "Prepared",
    "ReferenceInfo",
    "ScoreUpload",
    "ScoreView",
    "TokenInfo",
    "TreatmentView",
    "UserInfo",
    "VerifiedLogin",
    "VersionInfo",
    "VersionView",
    "VisitReport",
    "VisitView",
    "add_treatment",
    "add_visit",
    "audit_log",
    "change_password",
    "check_login",
    "cohort",
    "cohort_csv",
    "compute_scores",
    "count_audit",
    "count_patients",
    "create_patient",
    "create_token",
    "create_user",
    "delete_patient",
    "delete_treatment",
    "delete_visit",
    "end_session",
    "export_file",
    "export_record",
    "find_duplicates",
    "find_user_id",
    "finish_login",
    "get_record",
    "get_user",
    "get_version",
    "get_visit",
    "has_patients",
    "has_users",
    "letter_for_visit",
    "list_patients",
    "list_references",
    "list_tokens",
    "list_users",
    "list_versions",
    "login",
    "login_lookup",
    "not_scored",
    "own_password",
    "patient_versions",
    "prepare_password_change",
    "prepare_scoring",
    "prepare_visit",
    "reassess_visit",
    "require_content",
    "revoke_token",
    "run_notes",
    "save_reference",
    "score_matrix",
    "session_actor",
    "set_active",
    "set_password",
    "set_role",
    "start_session",
    "store_password_change",
    "store_scores",
    "timeline",
    "token_actor",
    "update_patient",
    "update_treatment",
    "update_visit",
    "visit_for_report",
    "visit_report",
]
