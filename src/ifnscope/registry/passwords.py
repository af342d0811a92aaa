"""The password policy and username normalisation.

- **Passwords** need at least :data:`MIN_PASSWORD` characters, must not contain the username,
  and must not be a common password (the packaged list ``data/passwords/common.txt``, see its
  README for the source), nor one with digits or punctuation around it (``password123!``) or
  repeated (``dragondragondragon``): length alone does not stop the first guesses an attacker
  tries.
- **Usernames** are compared by a key: NFKC, then casefold, so ``ADMIN`` and fullwidth
  ``ａｄｍｉｎ`` are ``admin``. The key may hold only ASCII letters, digits and ``. _ - @``:
  this refuses zero-width and other invisible characters and look-alikes from other scripts
  (Cyrillic ``а``, dotless ``ı``), which could otherwise make a second ``admin``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from importlib.resources import files

from ifnscope.errors import RegistryError

MIN_PASSWORD = 12
MAX_USERNAME = 80
_USERNAME_KEY = re.compile(r"[a-z0-9][a-z0-9._@-]*")
_EDGE = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@cache
def common_passwords() -> frozenset[str]:
    text = files("ifnscope.data").joinpath("passwords/common.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


def normalize_username(username: str) -> str:
    """The username's key (NFKC + casefold); ``registry.invalid`` for characters it may not hold."""
    key = unicodedata.normalize("NFKC", username.strip()).casefold()
    if not key:
        raise RegistryError("a username is required", code="registry.invalid")
    if len(key) > MAX_USERNAME:
        raise RegistryError(f"a username has at most {MAX_USERNAME} characters", code="registry.invalid")
    if not _USERNAME_KEY.fullmatch(key):
        raise RegistryError(
            "a username may hold only letters a-z, digits and . _ - @ (starting with a letter or digit); "
            "no spaces, invisible characters or letters from other alphabets",
            code="registry.invalid",
        )
    return key


def _is_repeat(text: str, words: frozenset[str]) -> bool:
    n = len(text)
    return any(n % k == 0 and text[:k] * (n // k) == text and text[:k] in words for k in range(1, n))


def check_password(password: str, username: str | None = None) -> None:
    """Raise ``registry.invalid`` saying why, unless ``password`` meets the policy."""
    if len(password) < MIN_PASSWORD:
        raise RegistryError(f"a password needs at least {MIN_PASSWORD} characters", code="registry.invalid")
    folded = unicodedata.normalize("NFKC", password).casefold()
    if username:
        name = unicodedata.normalize("NFKC", username.strip()).casefold()
        if name and name in folded:
            raise RegistryError("a password may not contain the username", code="registry.invalid")
    words = common_passwords()
    core = _EDGE.sub("", folded)
    if len(set(folded)) == 1 or folded in words or core in words or _is_repeat(core or folded, words):
        raise RegistryError(
            "this password is too common (or a common one with digits, punctuation or repeats); "
            "choose another, e.g. several unrelated words",
            code="registry.invalid",
        )
