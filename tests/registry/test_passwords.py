"""The password policy and username normalisation, and that every way of setting a password
applies them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ifnscope.errors import RegistryError
from ifnscope.registry import auth, migrate, services
from ifnscope.registry.db import Registry, make_engine
from ifnscope.registry.passwords import MIN_PASSWORD, check_password, common_passwords, normalize_username

GOOD = "staple-lantern-quiet-orbit"


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("a" * (MIN_PASSWORD - 1), "at least 12"),
        ("xxxxxxxxxxxxxxxx", "too common"),
        ("password123456", "too common"),
        ("!!Password2024!!", "too common"),
        ("PASSWORDPASSWORD", "too common"),
        ("dragondragondragon", "too common"),
        ("ｐａｓｓｗｏｒｄ１２３４５６", "too common"),  # fullwidth: NFKC first
        ("my-name-is-Nurse.Ada-ok", "username"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, why: str) -> None:
    with pytest.raises(RegistryError) as ei:
        check_password(password, "nurse.ada")
    assert ei.value.code == "registry.invalid"
    assert why in ei.value.message


@pytest.mark.parametrize("password", [GOOD, "correct horse battery", "Tr0ub4dor&3-extra-long"])
def test_good_passwords_pass(password: str) -> None:
    check_password(password, "nurse.ada")


def test_the_common_list_is_packaged() -> None:
    words = common_passwords()
    assert len(words) > 500
    assert {"password", "123456", "qwerty", "letmein"} <= words


@pytest.mark.parametrize("name", ["ADMIN", "Admin", " admin ", "ａｄｍｉｎ"])
def test_usernames_normalise_to_one_key(name: str) -> None:
    assert normalize_username(name) == "admin"


@pytest.mark.parametrize(
    "name",
    [
        "adm\u200bin",  # zero-width space
        "adm\u00adin",  # soft hyphen
        "adm\u2060in",  # word joiner
        "adm\u0131n",  # dotless i (Latin, but a look-alike)
        "\u0430dmin",  # Cyrillic a
        "adm in",
        "",
        "-admin",
        "x" * 81,
    ],
)
def test_invisible_characters_and_look_alikes_are_refused(name: str) -> None:
    with pytest.raises(RegistryError) as ei:
        normalize_username(name)
    assert ei.value.code == "registry.invalid"


def test_no_second_admin_by_case_or_look_alike(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    reg = Registry(engine)
    with reg.transaction() as s:
        user = auth.insert_user(s, "Admin", GOOD, "admin")
        assert user.username == "admin"  # stored by its key
    for name, code in (
        ("ADMIN", "registry.conflict"),
        ("ａｄｍｉｎ", "registry.conflict"),
        ("adm\u200bin", "registry.invalid"),
        ("adm\u0131n", "registry.invalid"),
    ):
        with reg.transaction() as s, pytest.raises(RegistryError) as ei:
            services.create_user(s, auth.cli_actor(), name, GOOD, "clinician")
        assert ei.value.code == code, name
    with reg.transaction() as s:
        assert services.login(s, "ADMIN", GOOD).username == "admin"  # logs in under any case
    engine.dispose()


def test_every_way_of_setting_a_password_applies_the_policy(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    reg = Registry(engine)
    cli = auth.cli_actor()
    with reg.transaction() as s:
        with pytest.raises(RegistryError, match="too common"):
            services.create_user(s, cli, "nurse", "password1234", "clinician")
        with pytest.raises(RegistryError, match="username"):
            services.create_user(s, cli, "nurse", "nurse-password-x", "clinician")
        nurse = services.create_user(s, cli, "nurse", GOOD, "clinician")
        with pytest.raises(RegistryError, match="too common"):
            services.set_password(s, cli, nurse.id, "qwertyqwertyqwerty")
        actor = services.login(s, "nurse", GOOD)
        with pytest.raises(RegistryError, match="at least 12"):
            services.change_password(s, actor, GOOD, "short")
        services.change_password(s, actor, GOOD, "a-much-better-passphrase")
    engine.dispose()


def test_the_cli_refuses_a_weak_password(db_url: str) -> None:
    from ifnscope.cli import app as cli

    r = CliRunner().invoke(
        cli,
        [
            "admin",
            "create-user",
            "nurse",
            "--role",
            "clinician",
            "--password",
            "letmein12345",
            "--database-url",
            db_url,
        ],
    )
    assert r.exit_code == 2
    assert "too common" in r.output


def test_a_user_from_before_the_rules_still_logs_in(db_url: str) -> None:
    """Rows made before usernames were normalised keep working under their exact name."""
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    reg = Registry(engine)
    with reg.transaction() as s:
        user = auth.insert_user(s, "legacy", GOOD, "clinician")
        user.username = "Dr Legacy"  # a name today's rules refuse
    with reg.transaction() as s:
        assert services.login(s, "Dr Legacy", GOOD).username == "Dr Legacy"
        with pytest.raises(RegistryError):
            auth.insert_user(s, "dr legacy", GOOD, "clinician")  # the space is refused for new names
    engine.dispose()
