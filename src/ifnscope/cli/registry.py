"""The registry commands: serve (the web app and API) and admin (users, tokens, migrations).

Both need the ``web`` extra (and ``postgres`` for a PostgreSQL URL); each command checks that
first, so a core-only install says what to install instead of failing on an import.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ifnscope import __version__
from ifnscope.cli._common import fail, need_extra, stderr_console, stdout_console
from ifnscope.errors import IfnscopeError, require_extra

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from ifnscope.registry.auth import Actor, Role
    from ifnscope.registry.db import Registry

# What the registry commands import from the ``web`` extra (pyproject.toml), checked up front.
# python-multipart is left out: its module name changed (multipart -> python_multipart) and
# FastAPI looks for either itself.
WEB_MODULES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "itsdangerous",
    "sqlalchemy",
    "alembic",
    "argon2",
    "platformdirs",
    "pydantic_settings",
)


DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Registry database, e.g. postgresql+psycopg://user@host/db "
        "(default: IFNSCOPE_DATABASE_URL, else a SQLite file in the user data folder).",
    ),
]


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    database_url: DatabaseOpt = None,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="On first start, create demo users and patients (default: IFNSCOPE_DEMO, else off).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Server processes (one per core serves reads fastest; logins are throttled per process).",
        ),
    ] = 1,
) -> None:
    """Run the registry web app and API (migrates the database first)."""
    need_extra("web", *WEB_MODULES)
    from ifnscope.registry.db import describe_url
    from ifnscope.web.app import create_app
    from ifnscope.web.logs import LOGGING_CONFIG
    from ifnscope.web.settings import Settings

    try:
        settings = Settings.from_env(database_url=database_url, demo=demo)
        _require_driver(settings.database_url)
        web = create_app(settings)
    except IfnscopeError as err:
        fail(err)
    con = stderr_console()
    shown = f"[{host}]" if ":" in host else host
    con.print(
        f"ifnscope {__version__}: http://{shown}:{port}/  (API docs: http://{shown}:{port}/docs)",
        markup=False,
    )
    con.print(f"database: {describe_url(settings.database_url)}", markup=False)
    if web.state.demo is not None:
        con.print(web.state.demo.describe(), markup=False)
    elif settings.demo:
        con.print("demo mode: users exist already, no demo data created", markup=False)
    elif not _has_users(web.state.registry):
        url_opt = f" --database-url '{describe_url(settings.database_url)}'" if database_url else ""
        con.print(
            "no users yet: create the first one (in another terminal) with\n"
            f"  ifnscope admin create-user NAME --role admin{url_opt}\n"
            "or start with --demo for demo users and patients",
            markup=False,
        )
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.cookie_secure:
        con.print(
            "warning: listening beyond this machine without IFNSCOPE_COOKIE_SECURE=1; serve it behind "
            "HTTPS (a reverse proxy) before real patient data goes over the network",
            markup=False,
        )
    import uvicorn

    # Longer than a proxy in front keeps idle connections to the server (nginx's upstream
    # keepalive_timeout and AWS load balancers' idle timeout are both 60 s by default):
    # with uvicorn's 5 s, a client or proxy reusing a connection just as the server closed it got
    # a reset (a ReadError in 3 of 6 runs of 50 busy writers, none with 60 s; docs/benchmarks.md).
    keep_alive = max(1, round(settings.keep_alive_seconds))
    if workers == 1:
        uvicorn.run(
            web,
            host=host,
            port=port,
            log_config=LOGGING_CONFIG,
            access_log=False,
            server_header=False,
            timeout_keep_alive=keep_alive,
        )
        return
    # Several processes: this one has migrated the database and seeded the demo; the workers
    # (started by uvicorn, each building its app from the environment) must not do it again.
    web.state.registry.close()
    from ifnscope.registry.db import ENV_URL

    os.environ[ENV_URL] = settings.database_url
    os.environ["IFNSCOPE_DEMO"] = "0"
    config: dict[str, Any] = {
        "app": "ifnscope.web.app:app_from_env",
        "factory": True,
        "host": host,
        "port": port,
        "log_config": LOGGING_CONFIG,
        "access_log": False,
        "server_header": False,
        "timeout_keep_alive": keep_alive,
    }
    from ifnscope.web.workers import Supervisor, balanced

    if not balanced():
        uvicorn.run(**config, workers=workers)
        return
    try:
        code = Supervisor(config, workers).run()
    except OSError as exc:
        fail(IfnscopeError(f"cannot listen on {shown}:{port}: {exc.strerror or exc}"))
    if code:
        raise typer.Exit(code)


def _has_users(registry: Registry) -> bool:
    from ifnscope.registry import services

    with registry.transaction() as s:
        return services.has_users(s)


admin_app = typer.Typer(help="Registry administration: users, API tokens, migrations.", no_args_is_help=True)


def _registry(database_url: str | None) -> Registry:
    """The registry at ``database_url``, migrated to the newest schema (as `serve` does)."""
    from ifnscope.registry.db import Registry
    from ifnscope.registry.migrate import upgrade

    engine = _engine(database_url)
    upgrade(engine)
    return Registry(engine)


def _engine(database_url: str | None) -> Engine:
    from ifnscope.registry.db import default_url, make_engine
    from ifnscope.web.settings import check_database_url

    url = check_database_url(database_url or default_url())
    _require_driver(url)
    return make_engine(url)


def _require_driver(url: str) -> None:
    """A PostgreSQL URL needs the ``postgres`` extra's driver (psycopg) before any connection."""
    if url.split("://", 1)[0].strip().lower() == "postgresql+psycopg":
        require_extra("postgres", "psycopg")


@admin_app.command("create-user")
def admin_create_user(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option("--role", help="clinician, researcher or admin.")],
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help=(
                "The password (at least 12 characters, not containing the username, not a common "
                "one); prompted when left out."
            ),
        ),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a user (the password is asked twice, hidden, unless given)."""
    need_extra("web", *WEB_MODULES)
    from ifnscope.registry import services
    from ifnscope.registry.auth import cli_actor

    try:
        checked = _role(role)
        if password is None:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        registry = _registry(database_url)
        with registry.transaction() as s:
            uid = services.create_user(s, cli_actor(), username, password, checked).id
        registry.engine.dispose()
    except IfnscopeError as err:
        fail(err)
    stderr_console().print(f"created user {username} ({role}), id {uid}", markup=False)


@admin_app.command("create-token")
def admin_create_token(
    username: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. 'lab pipeline'.")],
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="Days until it expires.")] = 90,
    database_url: DatabaseOpt = None,
) -> None:
    """Create an API token (printed once on stdout; only its hash is stored)."""
    need_extra("web", *WEB_MODULES)
    from ifnscope.registry import services
    from ifnscope.registry.auth import cli_actor

    try:
        registry = _registry(database_url)
        with registry.transaction() as s:
            token = services.create_token(s, cli_actor(), name, username=username, days=days).token
        registry.engine.dispose()
    except IfnscopeError as err:
        fail(err)
    sys.stdout.write(token + "\n")
    stderr_console().print(
        f"API token '{name}' for {username}: shown once; send it as 'Authorization: Bearer <token>'",
        markup=False,
    )


@admin_app.command("migrate")
def admin_migrate(database_url: DatabaseOpt = None) -> None:
    """Bring the registry database to the newest schema (one transaction; nothing changes on failure)."""
    need_extra("web", *WEB_MODULES)
    from ifnscope.registry.db import describe_url
    from ifnscope.registry.migrate import current, head, upgrade

    try:
        engine = _engine(database_url)
        before = current(engine)
        upgrade(engine)
        after = current(engine)
        url = describe_url(engine.url.render_as_string(hide_password=False))
        engine.dispose()
    except IfnscopeError as err:
        fail(err)
    if before == after:
        stderr_console().print(f"{url}: already at revision {after} (newest: {head()})", markup=False)
    else:
        stderr_console().print(
            f"{url}: migrated from {before or 'an empty database'} to {after}", markup=False
        )


class _DryRun(Exception):
    """Raised inside the transaction of a dry run so that it rolls back."""


@admin_app.command("reconcile-treatments")
def admin_reconcile_treatments(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be merged; change nothing.")
    ] = False,
    patient: Annotated[
        int | None, typer.Option("--patient", min=1, help="Only this patient (id); default: every patient.")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Merge the duplicate treatment rows stored before the medication list was reconciled
    (migration 0003): the merged-away rows are deleted with the reason "reconciled into treatment
    N" and kept as versions; every merge is audited. Prints ids and agent keys only."""
    need_extra("web", *WEB_MODULES)
    from ifnscope.registry.auth import cli_actor
    from ifnscope.registry.services.treatments import TreatmentMerge, reconcile_treatments

    merges: list[TreatmentMerge] = []
    try:
        registry = _registry(database_url)
        try:
            with registry.transaction() as s:
                merges = reconcile_treatments(s, cli_actor(), patient)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        registry.engine.dispose()
    except IfnscopeError as err:
        fail(err)
    out = stdout_console()
    for m in merges:
        merged = ", ".join(str(i) for i in m.merged)
        out.print(
            f"patient {m.patient_id}: treatment {m.treatment_id} ({m.agent or 'name not recognised'})"
            f" <- {merged}",
            markup=False,
        )
    rows = sum(len(m.merged) for m in merges)
    verb = "would merge" if dry_run else "merged"
    stderr_console().print(
        f"{verb} {rows} treatment rows into {len(merges)}"
        + (" (dry run: nothing changed)" if dry_run else ""),
        markup=False,
    )


@admin_app.command("users")
def admin_users(
    database_url: DatabaseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the registry's users."""
    need_extra("web", *WEB_MODULES)
    from rich.table import Table

    from ifnscope.registry import services
    from ifnscope.registry.auth import cli_actor

    try:
        registry = _registry(database_url)
        with registry.transaction() as s:
            rows: list[dict[str, Any]] = [
                u.model_dump(mode="json") for u in services.list_users(s, cli_actor())
            ]
        registry.engine.dispose()
    except IfnscopeError as err:
        fail(err)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    t = Table(title=f"Users ({len(rows)})")
    for col in ("id", "username", "role", "active", "created", "last login"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["username"],
            r["role"],
            "yes" if r["active"] else "no",
            r["created_at"][:19],
            (r["last_login_at"] or "")[:19] or "-",
        )
    stdout_console().print(t)


def _change_user(
    database_url: str | None, username: str, change: Callable[[Session, Actor, int], str]
) -> None:
    """Run ``change(session, actor, user_id)`` on the user named ``username`` in one transaction
    and print what it returns; exit 2 with the error for an unknown user or a refused change."""
    need_extra("web", *WEB_MODULES)
    from ifnscope.registry import services
    from ifnscope.registry.auth import cli_actor

    try:
        registry = _registry(database_url)
        try:
            with registry.transaction() as s:
                actor = cli_actor()
                said = change(s, actor, services.find_user_id(s, actor, username))
        finally:
            registry.engine.dispose()
    except IfnscopeError as err:
        fail(err)
    stderr_console().print(said, markup=False)


UserArg = Annotated[str, typer.Argument(help="The user's username.")]


@admin_app.command("deactivate")
def admin_deactivate(username: UserArg, database_url: DatabaseOpt = None) -> None:
    """Deactivate a user: their web sessions end and their API tokens stop working."""
    from ifnscope.registry import services

    _change_user(
        database_url,
        username,
        lambda s, a, uid: f"deactivated {services.set_active(s, a, uid, False).username}",
    )


@admin_app.command("activate")
def admin_activate(username: UserArg, database_url: DatabaseOpt = None) -> None:
    """Reactivate a deactivated user (they log in again with their password)."""
    from ifnscope.registry import services

    _change_user(
        database_url, username, lambda s, a, uid: f"activated {services.set_active(s, a, uid, True).username}"
    )


@admin_app.command("set-role")
def admin_set_role(
    username: UserArg,
    role: Annotated[str, typer.Argument(help="clinician, researcher or admin.")],
    database_url: DatabaseOpt = None,
) -> None:
    """Change a user's role (it applies from their next request)."""
    from ifnscope.registry import services

    def change(s: Session, actor: Actor, uid: int) -> str:
        info = services.set_role(s, actor, uid, _role(role))
        return f"{info.username} is now {info.role}"

    _change_user(database_url, username, change)


@admin_app.command("set-password")
def admin_set_password(
    username: UserArg,
    password: Annotated[
        str | None,
        typer.Option("--password", help="The new password (checked by the policy); prompted when left out."),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Set a user's password (asked twice, hidden, unless given); all their web sessions end."""
    from ifnscope.registry import services

    if password is None:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    new = password

    def change(s: Session, actor: Actor, uid: int) -> str:
        services.set_password(s, actor, uid, new)
        return f"password of {username.strip()} set; their web sessions ended"

    _change_user(database_url, username, change)


def _role(role: str) -> Role:
    """``role`` if it is one; ``registry.invalid`` naming the roles otherwise."""
    from ifnscope.errors import RegistryError
    from ifnscope.registry.auth import ROLES

    for r in ROLES:
        if role.strip().lower() == r:
            return r
    raise RegistryError(f"unknown role {role!r}; roles: {', '.join(ROLES)}", code="registry.invalid")
