"""De-identification for researchers by allow-list: pseudonyms, and every view a researcher
receives reduced to the paths listed in ``data/registry/deid_allowlist.yaml``.

The list names, for each view (patient summary, visit, stored case and assessment, treatment,
score, cohort row, timeline), the fields a researcher may see and what each may hold (a number,
a vocabulary key, ifnscope's own wording, an age capped at 90+, ...). Everything not listed is
dropped, so a field added to the case model, the assessment or a view later stays hidden from
researchers until someone lists it. The services call :func:`for_actor` on what they return, so
the API, the CSV and JSON exports, the pages, the reports and the timeline all get the same
de-identified data.
"""

from __future__ import annotations

import functools
import inspect
import re
import secrets
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ifnscope.errors import DataError
from ifnscope.registry.auth import Actor
from ifnscope.registry.models import Patient

_PSEUDONYM_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
ALLOWLIST_FILE = "registry/deid_allowlist.yaml"

T = TypeVar("T")


def new_pseudonym(s: Session) -> str:
    """A random ``P-XXXXXX`` no patient has yet."""
    while True:
        code = "P-" + "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(6))
        if s.scalar(select(Patient.id).where(Patient.pseudonym == code)) is None:
            return code


# ------------------------------------------------------------------------- the list


_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+/-]{0,79}")
_SCALAR_RULES = frozenset({"number", "key", "text", "age", "pseudonym"})


@dataclass(frozen=True)
class Rule:
    """What a listed path may hold (see the header of the allow-list file)."""

    kind: str  # number | key | text | age | pseudonym | pattern | copy | view
    arg: str | None = None
    pattern: re.Pattern[str] | None = None


@dataclass
class Node:
    """One step of the listed paths: its rule (if the path ends here) and the steps below."""

    rule: Rule | None = None
    children: dict[str, Node] = field(default_factory=dict)


@dataclass(frozen=True)
class Allowlist:
    views: dict[str, Node]
    age_above: float
    age_shown_as: str
    dates: re.Pattern[str]  # the file's date patterns as one alternation (one scan per string)

    def looks_like_date(self, text: str) -> bool:
        return self.dates.search(text) is not None


def _steps(path: str) -> list[str]:
    """``a.b[].c`` -> ``["a", "b", "[]", "c"]``."""
    out: list[str] = []
    for part in path.split("."):
        name = part.rstrip("[]")
        if name:
            out.append(name)
        out += ["[]"] * ((len(part) - len(name)) // 2)
    return out


def _rule(view: str, path: str, spec: Any, known_views: set[str]) -> Rule:
    where = f"{ALLOWLIST_FILE}: {view}.{path}"
    if isinstance(spec, str) and spec in _SCALAR_RULES:
        return Rule(spec)
    if isinstance(spec, dict) and len(spec) == 1:
        ((kind, arg),) = spec.items()
        if kind == "pattern" and isinstance(arg, str):
            return Rule("pattern", arg, re.compile(arg))
        if kind == "copy" and isinstance(arg, str):
            return Rule("copy", arg)
        if kind == "view" and isinstance(arg, str):
            if arg not in known_views:
                raise DataError(f"{where}: unknown view {arg!r}")
            return Rule("view", arg)
    raise DataError(f"{where}: unknown rule {spec!r}")


@cache
def allowlist() -> Allowlist:
    """The packaged allow-list, checked once per process (a malformed list is ifnscope's bug)."""
    from ifnscope.data import load_yaml

    doc = load_yaml(ALLOWLIST_FILE)
    if not isinstance(doc, dict) or doc.get("format") != "ifnscope-deid-allowlist/1":
        raise DataError(f"{ALLOWLIST_FILE}: not an ifnscope-deid-allowlist/1 file")
    raw_views = doc.get("views")
    if not isinstance(raw_views, dict):
        raise DataError(f"{ALLOWLIST_FILE}: no views")
    names = set(raw_views)
    views: dict[str, Node] = {}
    for name, paths in raw_views.items():
        root = Node()
        for path, spec in (paths or {}).items():
            node = root
            for step in _steps(str(path)):
                node = node.children.setdefault(step, Node())
            node.rule = _rule(name, str(path), spec, names)
        views[name] = root
    cap = doc.get("age_cap") or {}
    return Allowlist(
        views=views,
        age_above=float(cap["above"]),
        age_shown_as=str(cap["shown_as"]),
        dates=re.compile("|".join(f"(?:{p})" for p in doc.get("date_patterns") or ["(?!)"])),
    )


# --------------------------------------------------------------------------- the walk


class _Drop:
    """Marks a value that is not kept."""


_DROP = _Drop()


@dataclass(frozen=True)
class _Context:
    lst: Allowlist
    pseudonym: str | None


def _scalar(rule: Rule, value: Any, ctx: _Context) -> Any:
    lst = ctx.lst
    if isinstance(value, str) and rule.kind != "pseudonym" and lst.looks_like_date(value):
        return _DROP
    if rule.kind == "number":
        return value if value is None or isinstance(value, (bool, int, float)) else _DROP
    if rule.kind == "key":
        if value is None or isinstance(value, bool):
            return value
        return value if isinstance(value, str) and _KEY.fullmatch(value) else _DROP
    if rule.kind == "text":
        return value if value is None or isinstance(value, str) else _DROP
    if rule.kind == "age":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _DROP
        return lst.age_shown_as if value > lst.age_above else value
    if rule.kind == "pseudonym":
        return None if value is None else ctx.pseudonym
    if rule.kind == "pattern" and rule.pattern is not None:
        if value is None:
            return None
        return value if isinstance(value, str) and rule.pattern.fullmatch(value) else _DROP
    return _DROP


def _apply(node: Node, value: Any, ctx: _Context, parent: Node, siblings: dict[str, Any]) -> Any:
    rule = node.rule
    if rule is not None and rule.kind == "view":
        return _walk(ctx.lst.views[str(rule.arg)], value, ctx)
    if rule is not None and rule.kind == "copy":
        source = parent.children.get(str(rule.arg))
        if source is None or source.rule is None or source.rule.kind in ("copy", "view"):
            return _DROP
        return _apply(source, siblings.get(str(rule.arg)), ctx, parent, siblings)
    if isinstance(value, (dict, list)):
        return _walk(node, value, ctx) if node.children else _DROP
    return _DROP if rule is None else _scalar(rule, value, ctx)


def _walk(node: Node, value: Any, ctx: _Context) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            child = node.children.get(str(k)) or node.children.get("*")
            if child is None:
                continue
            kept = _apply(child, v, ctx, node, value)
            if kept is not _DROP:
                out[str(k)] = kept
        return out
    if isinstance(value, list):
        item = node.children.get("[]")
        if item is None:
            return _DROP
        items = [_apply(item, v, ctx, node, {}) for v in value]
        return [v for v in items if v is not _DROP]
    return _DROP


def keep_allowed(view: str, data: dict[str, Any], *, pseudonym: str | None = None) -> dict[str, Any]:
    """``data`` (JSON-like) with only the paths the allow-list gives for ``view``."""
    lst = allowlist()
    if view not in lst.views:
        raise DataError(f"{ALLOWLIST_FILE}: no view {view!r}")
    out = _walk(lst.views[view], data, _Context(lst, pseudonym))
    return out if isinstance(out, dict) else {}


def cap_age(age: float | None) -> float | str | None:
    """An age as researchers see it: above 89 years, ``"90+"`` (HIPAA safe harbor)."""
    lst = allowlist()
    if age is None:
        return None
    return lst.age_shown_as if age > lst.age_above else age


# ----------------------------------------------------------------- views and models


def _model_class(annotation: Any) -> type[BaseModel] | None:
    """The pydantic view class an annotation names (not ``dict[str, Any]`` or ``list[...]``)."""
    plain = typing.get_origin(annotation) is None and isinstance(annotation, type)
    return annotation if plain and issubclass(annotation, BaseModel) else None


def _nullable(annotation: Any) -> bool:
    return annotation is Any or annotation is None or type(None) in typing.get_args(annotation)


def _fill(cls: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """Every field of ``cls`` the allow-list dropped becomes null (the views declare them
    optional), nested views included, so the model validates again. A field that cannot be
    null keeps its default (a fixed value, never patient data), or fails validation."""
    out = dict(data)
    for name, info in cls.model_fields.items():
        if name not in out:
            if _nullable(info.annotation) or info.is_required():
                out[name] = None
            continue
        ann = info.annotation
        inner = _model_class(ann)
        if inner is not None and isinstance(out[name], dict):
            out[name] = _fill(inner, out[name])
            continue
        origin = typing.get_origin(ann)
        if origin in (list, typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if _model_class(a) is not None]
            if len(args) == 1 and isinstance(out[name], list):
                sub = _model_class(args[0])
                assert sub is not None
                out[name] = [_fill(sub, x) if isinstance(x, dict) else x for x in out[name]]
            elif len(args) == 1 and isinstance(out[name], dict):
                sub = _model_class(args[0])
                assert sub is not None
                out[name] = _fill(sub, out[name])
    return out


M = TypeVar("M", bound=BaseModel)


def deidentify_model(view: str, model: M, *, pseudonym: str | None = None) -> M:
    """The same view with only what the allow-list keeps for ``view``."""
    from pydantic import ValidationError

    kept = keep_allowed(view, model.model_dump(mode="json"), pseudonym=pseudonym)
    try:
        return type(model).model_validate(_fill(type(model), kept))
    except ValidationError as exc:  # a view field that is required but not listed: ifnscope's bug
        fields = ", ".join(".".join(str(x) for x in e["loc"]) for e in exc.errors())
        raise DataError(
            f"{ALLOWLIST_FILE}: view {view!r} withholds {fields}, which {type(model).__name__} requires; "
            "list it or make it optional"
        ) from None


def for_actor(actor: Actor, view: str, value: T, *, pseudonym: str | None = None) -> T:
    """``value`` as ``actor`` may receive it: unchanged for actors who read identified records,
    reduced to the allow-list of ``view`` for everyone else (researchers).

    ``value`` is a pydantic view, a list of them, or a JSON-like dict (the timeline)."""
    if actor.identified:
        return value
    if isinstance(value, list):
        return typing.cast(T, [for_actor(actor, view, x, pseudonym=pseudonym) for x in value])
    if isinstance(value, BaseModel):
        return typing.cast(T, deidentify_model(view, value, pseudonym=pseudonym))
    if isinstance(value, dict):
        return typing.cast(T, keep_allowed(view, value, pseudonym=pseudonym))
    raise TypeError(f"cannot de-identify a {type(value).__name__}")


P = ParamSpec("P")
R = TypeVar("R")


def deidentified(
    view: str, *, pseudonym: Callable[[Any], str | None] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a service function that takes an ``actor`` and returns a view: researchers get
    the view reduced to the allow-list of ``view`` (:func:`for_actor`). ``pseudonym`` reads the
    patient's pseudonym from the result, for the paths the list replaces by it."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            out = fn(*args, **kwargs)
            actor = signature.bind(*args, **kwargs).arguments["actor"]
            if not isinstance(actor, Actor):
                raise TypeError(f"{fn.__name__}: no actor to de-identify for")
            return for_actor(actor, view, out, pseudonym=pseudonym(out) if pseudonym else None)

        return inner

    return wrap
