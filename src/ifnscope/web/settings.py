"""Server settings, from arguments or the environment.

=============================  ===========================================================
``IFNSCOPE_DATABASE_URL``      the registry database (default: a SQLite file in the user
                               data directory, ``registry.db.default_url``)
``IFNSCOPE_SECRET_KEY``        signs session cookies; without it a random key is created
                               once in a file ``secret_key`` (mode 0600) next to the SQLite
                               file, or in the user data directory for other databases
``IFNSCOPE_MAX_UPLOAD_MB``     the largest request body accepted (default 50)
``IFNSCOPE_DEMO``              ``1``: on first start, create demo users and patients
``IFNSCOPE_COOKIE_SECURE``     ``1``: send the session cookie over HTTPS only (set it when
                               the server sits behind TLS)
``IFNSCOPE_SESSION_HOURS``     how long a login lasts (default 8)
``IFNSCOPE_SESSION_IDLE_MINUTES``  a login ends after this long without a request (default 30)
``IFNSCOPE_DB_CONNECT_TIMEOUT``    PostgreSQL: seconds to wait for a connection (default 5;
                                   0: wait as long as the system does)
``IFNSCOPE_DB_STATEMENT_TIMEOUT``  PostgreSQL: seconds one statement may run, lock waits
                                   included (default 30; 0: no limit)
``IFNSCOPE_API_DOCS``           ``0``: no interactive API docs at ``/docs`` (default 1: served
                               from vendored files, nothing from a CDN)
``IFNSCOPE_LOGIN_FAILURES_PER_ACCOUNT``  failed logins for one username within the window
                               before further tries get 429 (default 5; 0: no limit)
``IFNSCOPE_LOGIN_FAILURES_PER_ADDRESS``  the same per client address (default 20; 0: no limit)
``IFNSCOPE_LOGIN_WINDOW_MINUTES``  the sliding window of those counts (default 15); the
                               counts are kept in memory, per server process
``IFNSCOPE_KEEP_ALIVE_SECONDS``  how long an idle client connection is kept open (default 75)
``IFNSCOPE_CDS_CLIENTS``       CDS Hooks: a YAML file of the EHRs trusted to call (issuer and
                               JWK Set, ``ifnscope.cds.trust``); unset: no EHR may call
``IFNSCOPE_FHIR_SERVERS``      FHIR server base URLs (comma-separated) the registry may import
                               patients from (``POST /api/patients/import/fhir-server``)
``IFNSCOPE_PUBLIC_URL``        the server's public base URL (``https://cds.example.org``): the
                               JWT audience and the cards' report links (default: the URL the
                               request came to)
=============================  ===========================================================

``Settings`` is a pydantic-settings ``BaseSettings``: ``Settings()`` reads these variables, and
arguments win over them (``Settings.from_env`` drops arguments that are None, for command-line
options left out). Only the variables above are read (not ``.env`` files, not the other fields),
and a value that does not parse names its variable (``IFNSCOPE_DEMO='maybe': expected 1 or 0``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ifnscope.errors import RegistryError

log = logging.getLogger("ifnscope.web")

SECRET_FILE = "secret_key"
ENV_PREFIX = "IFNSCOPE_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# The fields read from IFNSCOPE_<FIELD>, and how their text is parsed.
_TEXT_FIELDS = frozenset({"database_url", "secret_key", "cds_clients", "public_url", "fhir_servers"})
_NUMBER_FIELDS = frozenset(
    {
        "max_upload_mb",
        "session_hours",
        "session_idle_minutes",
        "login_failures_per_account",
        "login_failures_per_address",
        "login_window_minutes",
        "db_connect_timeout",
        "db_statement_timeout",
        "keep_alive_seconds",
    }
)
_FLAG_FIELDS = frozenset({"demo", "cookie_secure", "api_docs"})


def _default_url() -> str:
    from ifnscope.registry.db import default_url

    return default_url()


class _EnvSource(EnvSettingsSource):
    """The ``IFNSCOPE_*`` variables of the table above, parsed with messages that name them."""

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in super().__call__().items():
            var = f"{ENV_PREFIX}{key.upper()}"
            if key in _TEXT_FIELDS:
                out[key] = value
            elif key in _NUMBER_FIELDS:
                out[key] = _number(var, str(value))
            elif key in _FLAG_FIELDS:
                out[key] = _flag(var, str(value))
        return out


class Settings(BaseSettings):
    """Everything the app factory needs; every field has a safe default."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore")

    database_url: str = Field(default_factory=_default_url, description="SQLAlchemy database URL")
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs session cookies; None: read or create the key file (see secret_key_path)",
    )
    max_upload_mb: float = Field(default=50, gt=0, description="Largest request body accepted, in MB")
    demo: bool = Field(default=False, description="Create demo users and patients on first start")
    cookie_secure: bool = Field(default=False, description="Session cookie over HTTPS only")
    session_hours: float = Field(default=8, gt=0, description="Lifetime of a login")
    session_idle_minutes: float = Field(
        default=30, gt=0, description="A login ends after this long without a request"
    )
    db_connect_timeout: float = Field(
        default=5, ge=0, description="PostgreSQL: seconds to wait for a connection (0: no limit)"
    )
    db_statement_timeout: float = Field(
        default=30, ge=0, description="PostgreSQL: seconds one statement may run (0: no limit)"
    )
    api_docs: bool = Field(default=True, description="Serve the interactive API docs at /docs")
    # Login throttling (web.logins): operational defaults against password guessing, not
    # clinical numbers.
    login_failures_per_account: int = Field(
        default=5, ge=0, description="Failed logins per username in the window before 429 (0: no limit)"
    )
    login_failures_per_address: int = Field(
        default=20,
        ge=0,
        description="Failed logins per client address in the window before 429 (0: no limit)",
    )
    login_window_minutes: float = Field(
        default=15,
        gt=0,
        description="Sliding window of the failed-login counts (kept in memory, per process)",
    )
    access_log: bool = Field(default=True, description="Log one line per request (no query strings)")
    keep_alive_seconds: float = Field(
        default=75,
        ge=1,
        le=3600,
        description="How long an idle keep-alive connection stays open (uvicorn's default is 5 s)",
    )
    cds_clients: Path | None = Field(
        default=None,
        description="CDS Hooks: the YAML list of trusted EHRs (issuer and JWK Set); unset: no EHR may call",
    )
    public_url: str | None = Field(
        default=None,
        description="The server's public base URL (https://cds.example.org): the JWT audience and the "
        "report links of CDS Hooks; unset: the URL the request came to",
    )
    fhir_servers: str | None = Field(
        default=None,
        description="FHIR server base URLs the registry may import patients from, comma-separated",
    )
    db_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="Requests in a database transaction at once (default: 1 on SQLite, pool-based else)",
    )

    @property
    def fhir_server_list(self) -> list[str]:
        return [u.strip() for u in (self.fhir_servers or "").split(",") if u.strip()]

    @model_validator(mode="after")
    def _resolve_secret(self) -> Settings:
        check_database_url(self.database_url)
        if self.secret_key is None:
            self.secret_key = SecretStr(load_or_create_secret(secret_key_path(self.database_url)))
        elif len(self.secret_key.get_secret_value()) < 16:
            raise RegistryError("the secret key needs at least 16 characters", code="registry.invalid")
        return self

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def secret(self) -> str:
        assert self.secret_key is not None
        return self.secret_key.get_secret_value()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then the ``IFNSCOPE_*`` variables; no ``.env`` or secrets files."""
        return init_settings, _EnvSource(settings_cls)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from ``IFNSCOPE_*`` variables; ``overrides`` that are not None win."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except RegistryError:
            raise
        except ValueError as exc:  # pydantic's ValidationError
            raise RegistryError(f"invalid server settings: {exc}", code="registry.invalid") from None


def check_database_url(url: str) -> str:
    """``url`` if SQLAlchemy can read it as a database URL, else ``registry.invalid``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise RegistryError(
            "not a database URL (e.g. sqlite:///path/registry.sqlite3 or postgresql+psycopg://user@host/db)",
            code="registry.invalid",
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise RegistryError(
            f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL",
            code="registry.invalid",
        )
    return url


def _number(var: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise RegistryError(f"{var}={value!r}: expected a number", code="registry.invalid") from None


def _flag(var: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise RegistryError(f"{var}={value!r}: expected 1 or 0", code="registry.invalid")


def secret_key_path(database_url: str) -> Path:
    """``secret_key`` beside a SQLite file, else in the user data directory."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent / SECRET_FILE
    from platformdirs import user_data_dir

    return Path(user_data_dir("ifnscope", appauthor=False)) / SECRET_FILE


def load_or_create_secret(path: Path) -> str:
    """Read the key file, or create it (0600) atomically: two servers starting at once agree."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=path.parent)  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # another process won the race: use theirs
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
        log.info("created a new secret key file")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        os.chmod(path, 0o600)
        log.warning("secret key file was readable by others; permissions set to 0600")
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 16:
        raise RegistryError(
            f"the secret key file {path} is empty or too short; delete it to create a new one",
            code="registry.invalid",
        )
    return key
