"""The seeded world: businesses, set templates, the set model, users and login tokens.

Boundary: loading and validating the seed (the packaged `default_seed.json`
or a `--seed FILE`) into plain frozen values.  Nothing here touches SQLite
or HTTP; `store.py` writes the world into the database at start.  The set
model's attributes are parsed by `model.py` and their defaults checked
with the create rules of `values.py`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .model import SeedError, SetModel, parse_attributes
from .rules import Rules
from .values import compile_check, default_error, template_value_error

IDLE_SET_NAME = "空闲机池"
# Built-in modules of every business's idle set: (name, default flag).
IDLE_MODULES: tuple[tuple[str, int], ...] = (("空闲机", 1), ("故障机", 2), ("待回收", 3))
DEFAULT_SOURCE = "the default seed"
# Set template attributes may not set these (topo refuses them; the name comes from the user).
_NOT_TEMPLATE_ATTRIBUTES = frozenset({"bk_set_name"})

__all__ = ["IDLE_MODULES", "IDLE_SET_NAME", "Business", "SeedError", "ServiceTemplate", "SetTemplate", "World",
           "load_world", "parse_world"]


@dataclass(frozen=True)
class Business:
    """A seeded business (bk_biz_id, name, supplier account, default flag)."""

    bk_biz_id: int
    bk_biz_name: str
    bk_supplier_account: str = "0"
    default: int = 0


@dataclass(frozen=True)
class ServiceTemplate:
    """A service template bound to a set template."""

    id: int
    name: str
    service_category_id: int


@dataclass(frozen=True)
class SetTemplate:
    """A set template of one business with its bound service templates and attribute values."""

    id: int
    bk_biz_id: int
    name: str
    service_templates: tuple[ServiceTemplate, ...]
    attributes: tuple[tuple[str, Any], ...] = ()  # (bk_property_id, bk_property_value), T7


@dataclass(frozen=True)
class World:
    """Everything the emulator is seeded with."""

    businesses: tuple[Business, ...]
    set_templates: tuple[SetTemplate, ...]
    users_without_permission: frozenset[str] = frozenset()
    tokens: dict[str, str] = field(default_factory=dict)
    set_model: SetModel = field(default_factory=SetModel)
    # Where the seed came from, and its canonical JSON (an existing --db must hold the same world).
    source: str = DEFAULT_SOURCE
    fingerprint: str = ""


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SeedError(f"{where} must be a positive integer")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise SeedError(f"{where} must be a non-empty string")
    return value


def _list(raw: dict[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise SeedError(f"{key!r} must be a list")
    return value


def parse_world(raw: Any, source: str | None = None) -> World:
    """Validate a decoded seed document and build the World (`source` names it in messages)."""
    if not isinstance(raw, dict):
        raise SeedError("top level must be a JSON object")
    unknown = set(raw) - {"businesses", "set_templates", "users_without_permission", "tokens", "set_attributes"}
    if unknown:
        raise SeedError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    businesses: list[Business] = []
    for i, b in enumerate(_list(raw, "businesses")):
        where = f"businesses[{i}]"
        if not isinstance(b, dict):
            raise SeedError(f"{where} must be an object")
        default = b.get("default", 0)
        if isinstance(default, bool) or not isinstance(default, int):
            raise SeedError(f"{where}.default must be an integer")
        businesses.append(Business(
            bk_biz_id=_int(b.get("bk_biz_id"), f"{where}.bk_biz_id"),
            bk_biz_name=_str(b.get("bk_biz_name"), f"{where}.bk_biz_name"),
            bk_supplier_account=_str(b.get("bk_supplier_account", "0"), f"{where}.bk_supplier_account"),
            default=default,
        ))
    biz_ids = [b.bk_biz_id for b in businesses]
    if len(set(biz_ids)) != len(biz_ids):
        raise SeedError("duplicate bk_biz_id in businesses")
    model = parse_attributes(raw.get("set_attributes", []), biz_ids)
    instances = frozenset(biz_ids)
    faithful = Rules()
    for attr in model.custom:
        try:
            problem = default_error(compile_check(attr, faithful, instances))
        except SeedError as exc:
            problem = str(exc)
        if problem:
            raise SeedError(f"set_attributes ({attr.bk_property_id}): {problem}")
    templates: list[SetTemplate] = []
    svc_ids: set[int] = set()
    for i, t in enumerate(_list(raw, "set_templates")):
        where = f"set_templates[{i}]"
        if not isinstance(t, dict):
            raise SeedError(f"{where} must be an object")
        biz = _int(t.get("bk_biz_id"), f"{where}.bk_biz_id")
        if biz not in biz_ids:
            raise SeedError(f"{where}.bk_biz_id {biz} is not a seeded business")
        services: list[ServiceTemplate] = []
        for j, s in enumerate(t.get("service_templates", [])):
            swhere = f"{where}.service_templates[{j}]"
            if not isinstance(s, dict):
                raise SeedError(f"{swhere} must be an object")
            sid = _int(s.get("id"), f"{swhere}.id")
            if sid in svc_ids:
                raise SeedError(f"{swhere}.id {sid} is duplicated")
            svc_ids.add(sid)
            services.append(ServiceTemplate(
                id=sid,
                name=_str(s.get("name"), f"{swhere}.name"),
                service_category_id=_int(s.get("service_category_id", 2), f"{swhere}.service_category_id"),
            ))
        templates.append(SetTemplate(
            id=_int(t.get("id"), f"{where}.id"), bk_biz_id=biz,
            name=_str(t.get("name"), f"{where}.name"), service_templates=tuple(services),
            attributes=_template_attributes(t.get("attributes", []), where, model, biz, instances),
        ))
    tpl_ids = [t.id for t in templates]
    if len(set(tpl_ids)) != len(tpl_ids):
        raise SeedError("duplicate id in set_templates")
    users = _list(raw, "users_without_permission")
    if not all(isinstance(u, str) for u in users):
        raise SeedError("users_without_permission must be a list of strings")
    tokens = raw.get("tokens", {})
    if not isinstance(tokens, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in tokens.items()
    ):
        raise SeedError("tokens must be an object mapping token strings to user names")
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return World(tuple(businesses), tuple(templates), frozenset(users), dict(tokens), model,
                 source or DEFAULT_SOURCE, hashlib.sha256(canonical.encode("utf-8")).hexdigest())


def _template_attributes(raw: Any, where: str, model: SetModel, biz: int,
                         instances: frozenset[int]) -> tuple[tuple[str, Any], ...]:
    """A set template's `attributes`: [{bk_property_id, bk_property_value}], each valid for its attribute."""
    if not isinstance(raw, list):
        raise SeedError(f"{where}.attributes must be a list")
    attrs = {a.bk_property_id: a for a in model.for_business(biz)}
    out: list[tuple[str, Any]] = []
    for j, item in enumerate(raw):
        awhere = f"{where}.attributes[{j}]"
        if not isinstance(item, dict) or set(item) != {"bk_property_id", "bk_property_value"}:
            raise SeedError(f"{awhere} must be an object {{bk_property_id, bk_property_value}}")
        attr = attrs.get(item["bk_property_id"])
        if attr is None or attr.hidden or not attr.editable or attr.bk_property_id in _NOT_TEMPLATE_ATTRIBUTES:
            raise SeedError(f"{awhere}.bk_property_id must be an editable, visible attribute of the "
                            "template's business other than bk_set_name")
        problem = template_value_error(compile_check(attr, Rules(), instances), item["bk_property_value"])
        if problem or item["bk_property_value"] is None:
            raise SeedError(f"{awhere}.bk_property_value is refused: {problem or 'null'}")
        out.append((attr.bk_property_id, item["bk_property_value"]))
    return tuple(out)


def load_world(path: str | Path | None = None) -> World:
    """Load the seed file at `path`, or the packaged default seed."""
    try:
        if path is None:
            text = resources.files("cmdb_emulator").joinpath("default_seed.json").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SeedError(f"cannot read seed file {path}: {reason}") from None
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SeedError(f"seed file {path} is not valid JSON: {str(exc).splitlines()[0]}") from None
    return parse_world(raw, None if path is None else str(path))
