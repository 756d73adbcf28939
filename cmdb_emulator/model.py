"""The set model: built-in and custom attributes, as a seed defines them and as the API shows them.

Boundary: attribute definitions only (research cmdb_create_set.md §2.1;
cmdb_model_attributes.md §1.2, §2.3 creation rules, §4).  `BUILT_INS` is the
stock model in DB order, hidden attributes included; `parse_attributes`
reads a seed's `set_attributes` with the API's defaults and creation rules;
`SetModel` answers "which attributes does create_set load for business N",
and `describe` renders one `search_object_attribute` item.  What happens to a *value* of
an attribute (fill, validation, conversion) is in `values.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .golang import INT64_MAX, INT64_MIN, GoError, float64_of, parse_float

SEED_TIME = "2024-01-01 00:00:00"  # create_time/last_time of seeded attributes (metadata.Time)


class SeedError(ValueError):
    """The seed file is missing, not JSON, or has the wrong shape."""


# Every type Attribute.Validate knows (common/definitions.go), minus those the emulator cannot hold.
TYPES = ("singlechar", "longchar", "int", "float", "enum", "enummulti", "enumquote", "date", "time",
         "objuser", "timezone", "bool", "list", "organization", "innertable")
NOT_EMULATED = {
    "id_rule": "its ids come from global/local sequences and random parts the emulator does not model",
    "table": "the legacy table type has no API to create it since 3.10",
    "foreignkey": "association types carry no value check", "singleasst": "association types carry no value check",
    "multiasst": "association types carry no value check",
}
RECORDED_FIELDS = ("bk_created_at", "bk_created_by", "bk_updated_at", "bk_updated_by")
# createIgnoreKeys + bk_obj_id (instance_validate.go): kept as sent on create, never validated.
CREATE_IGNORE_KEYS = frozenset({
    "bk_supplier_account", "default", "bk_parent_id", "bk_biz_id", "bk_inst_id",
    "bk_data_status", "create_time", "last_time", "bk_process_id", "bk_obj_id",
})
# updateIgnoreKeys: kept as sent on update, never validated.
UPDATE_IGNORE_KEYS = frozenset({
    "bk_supplier_account", "default", "bk_parent_id", "bk_biz_id", "bk_data_status", "bk_inst_id",
})
# Keys a custom attribute may not take: they already mean something in a set document.
RESERVED_IDS = CREATE_IGNORE_KEYS | {"bk_set_id", "metadata"}

PROPERTY_ID = re.compile(r"[a-zA-Z][0-9a-zA-Z_]*")  # ^[a-zA-Z]\w*$ with RE2's ASCII \w
# Python constructs with no RE2 meaning (RE2 refuses them, so CMDB cannot hold such an option).
_NOT_RE2 = re.compile(r"\(\?(?:=|!|<=|<!|P=|>)|\\[1-9]|[*+?}]\+")
ENUM_MAX_OPTIONS = 200
OPTION_MAX_RUNES = 128
INNER_TABLE_TYPES = ("int", "enummulti", "longchar", "singlechar", "float", "bool")


@dataclass(frozen=True, kw_only=True)
class Attribute:
    """One set-model attribute: the keys of a `search_object_attribute` item (research §4.2)."""

    bk_biz_id: int = 0
    id: int = 0
    bk_supplier_account: str = "0"
    bk_obj_id: str = "set"
    bk_property_id: str
    bk_property_name: str  # the DB name: error messages always use it, untranslated
    bk_property_group: str = "default"
    bk_property_index: int = 0
    unit: str = ""
    placeholder: str = ""
    editable: bool = True
    ispre: bool = False
    isrequired: bool = False
    isreadonly: bool = False
    isonly: bool = False
    bk_issystem: bool = False
    bk_isapi: bool = False
    bk_property_type: str
    option: Any = ""
    default: Any = None
    ismultiple: bool | None = False
    description: str = ""
    bk_template_id: int = 0
    creator: str = "cc_system"
    create_time: str = SEED_TIME
    last_time: str = SEED_TIME

    @property
    def hidden(self) -> bool:
        """Left out of search_object_attribute (topo forces issystem/isapi false, core drops innertable)."""
        return self.bk_issystem or self.bk_isapi or self.bk_property_type == "innertable"


def _enum(*options: tuple[str, str, bool]) -> list[dict[str, Any]]:
    return [{"id": i, "name": n, "type": "text", "is_default": d} for i, n, d in options]


def _built_in(index: int, pid: str, name: str, kind: str, **flags: Any) -> Attribute:
    return Attribute(id=index, bk_property_index=index, bk_property_id=pid, bk_property_name=name,
                     bk_property_type=kind, ispre=True, **flags)


_NO_RANGE = {"min": "", "max": ""}
# The stock set model in DB order (v3.0.8 SetRow, later migrations, 3.12.3 recorded fields).
BUILT_INS: tuple[Attribute, ...] = (
    _built_in(1, "bk_biz_id", "业务ID", "int", editable=False, isonly=True, bk_isapi=True, option=_NO_RANGE),
    _built_in(2, "bk_set_name", "集群名", "singlechar", isrequired=True, isonly=True),
    _built_in(3, "bk_set_desc", "集群描述", "singlechar"),
    _built_in(4, "bk_set_env", "环境类型", "enum",
              option=_enum(("1", "测试", False), ("2", "体验", False), ("3", "正式", True))),
    _built_in(5, "bk_service_status", "服务状态", "enum", option=_enum(("1", "开放", True), ("2", "关闭", False))),
    _built_in(6, "description", "备注", "longchar"),
    _built_in(7, "bk_capacity", "设计容量", "int", option={"min": "1", "max": "999999999"}),
    _built_in(8, "bk_parent_id", "", "int", isrequired=True, isonly=True, editable=False, bk_issystem=True,
              option=_NO_RANGE),
    _built_in(9, "set_template_id", "集群模板ID", "int", editable=False, isreadonly=True, bk_issystem=True,
              bk_isapi=True),
    _built_in(10, "set_template_version", "集群模板", "int", isreadonly=True, bk_issystem=True, bk_isapi=True),
    _built_in(11, "bk_created_at", "创建时间", "time", editable=False),
    _built_in(12, "bk_created_by", "创建人", "objuser", editable=False),
    _built_in(13, "bk_updated_at", "更新时间", "time", editable=False),
    _built_in(14, "bk_updated_by", "更新人", "objuser", editable=False),
)
BUILT_IN_IDS = frozenset(a.bk_property_id for a in BUILT_INS)

# resources/language/{en,default}: set_property_<id>, common_property_<id>, ..._enum_<option id>.
_NAMES_EN = {
    "bk_biz_id": "Business ID", "bk_set_name": "Set name", "bk_set_desc": "Set description",
    "bk_set_env": "Environment", "bk_service_status": "Service status", "description": "Remark",
    "bk_capacity": "Capacity", "set_template_id": "Set template ID", "bk_created_at": "Created At",
    "bk_created_by": "Created By", "bk_updated_at": "Updated At", "bk_updated_by": "Updated By",
}
_NAMES_ZH = {
    "bk_biz_id": "业务ID", "bk_set_name": "集群名", "bk_set_desc": "集群描述", "bk_set_env": "环境类型",
    "bk_service_status": "服务状态", "description": "备注", "bk_capacity": "设计容量",
    "set_template_id": "集群模板ID", "bk_created_at": "创建时间", "bk_created_by": "创建人",
    "bk_updated_at": "更新时间", "bk_updated_by": "更新人",
}
_ENUM_NAMES = {
    ("bk_service_status", "1"): ("开放", "opened"), ("bk_service_status", "2"): ("关闭", "closed"),
    ("bk_set_env", "1"): ("测试", "testing"), ("bk_set_env", "2"): ("体验", "experience"),
    ("bk_set_env", "3"): ("正式", "formal"),
}
_GROUP_NAMES = {"default": ("基础信息", "default"), "bizdefault": ("业务基础信息", "bizdefault")}


@dataclass(frozen=True)
class SetModel:
    """The set model of an installation: built-ins first, then custom attributes, in DB order."""

    attributes: tuple[Attribute, ...] = BUILT_INS
    _by_business: dict[int | None, tuple[Attribute, ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def custom(self) -> tuple[Attribute, ...]:
        """The attributes a seed added."""
        return tuple(a for a in self.attributes if not a.ispre)

    def for_business(self, biz_id: int | None) -> tuple[Attribute, ...]:
        """What create_set loads for business `biz_id`: global ones plus that business's (None: every business)."""
        cached = self._by_business.get(biz_id)
        if cached is None:
            cached = tuple(a for a in self.attributes
                           if biz_id is None or a.bk_biz_id in (0, biz_id))
            self._by_business[biz_id] = cached
        return cached


def document(attr: Attribute) -> dict[str, Any]:
    """The attribute as stored (cc_ObjAttDes): what a search_object_attribute condition is matched against."""
    return {k: _copy(v) for k, v in attr.__dict__.items()}


def describe(attr: Attribute, lang: str) -> dict[str, Any]:
    """One search_object_attribute item: struct order, names translated, `default` omitted when null."""
    zh = lang != "en"
    names = _NAMES_ZH if zh else _NAMES_EN
    option = attr.option
    if attr.bk_property_type in ("enum", "enummulti"):
        option = [{"id": o["id"],
                   "name": _ENUM_NAMES.get((attr.bk_property_id, o["id"]), (o["name"], o["name"]))[0 if zh else 1],
                   "type": o["type"], "is_default": bool(o.get("is_default", False))} for o in option]
    elif isinstance(option, dict):
        option = dict(sorted(option.items()))  # a map: jsoniter sorts its keys
    item: dict[str, Any] = {
        "bk_biz_id": attr.bk_biz_id, "id": attr.id, "bk_supplier_account": attr.bk_supplier_account,
        "bk_obj_id": attr.bk_obj_id, "bk_property_id": attr.bk_property_id,
        "bk_property_name": names.get(attr.bk_property_id) or attr.bk_property_name or attr.bk_property_id,
        "bk_property_group": attr.bk_property_group, "bk_property_index": attr.bk_property_index,
        "unit": attr.unit, "placeholder": attr.placeholder, "editable": attr.editable, "ispre": attr.ispre,
        "isrequired": attr.isrequired, "isreadonly": attr.isreadonly, "isonly": attr.isonly,
        "bk_issystem": attr.bk_issystem, "bk_isapi": attr.bk_isapi, "bk_property_type": attr.bk_property_type,
        "option": _copy(option),
    }
    if attr.default is not None:
        item["default"] = _copy(attr.default)
    if attr.ismultiple is not None:
        item["ismultiple"] = attr.ismultiple
    group = _GROUP_NAMES.get(attr.bk_property_group, (attr.bk_property_group, attr.bk_property_group))
    item.update({
        "description": attr.description, "bk_template_id": attr.bk_template_id, "creator": attr.creator,
        "create_time": attr.create_time, "last_time": attr.last_time,
        "bk_property_group_name": group[0 if zh else 1],
    })
    return item


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


# ------------------------------------------------------------------ seed loading
_SEED_KEYS = frozenset({
    "bk_biz_id", "id", "bk_supplier_account", "bk_obj_id", "bk_property_id", "bk_property_name",
    "bk_property_group", "bk_property_group_name", "bk_property_index", "unit", "placeholder", "editable",
    "ispre", "isrequired", "isreadonly", "isonly", "bk_issystem", "bk_isapi", "bk_property_type", "option",
    "default", "ismultiple", "description", "bk_template_id", "creator", "create_time", "last_time",
})
_BOOL_KEYS = ("editable", "isrequired", "isreadonly", "isonly", "bk_issystem", "bk_isapi")
_TEXT_KEYS = {"unit": 20, "placeholder": 2000, "description": 2000, "creator": 256}


def parse_attributes(raw: Any, biz_ids: Iterable[int]) -> SetModel:
    """A seed's `set_attributes` list as a SetModel; raise SeedError naming the first bad item.

    Items that name a built-in attribute are skipped, so the `data` of a
    search_object_attribute answer can be pasted as is.
    """
    if not isinstance(raw, list):
        raise SeedError("'set_attributes' must be a list")
    businesses = set(biz_ids)
    custom: list[Attribute] = []
    seen: dict[str, set[int]] = {}
    for i, item in enumerate(raw):
        if isinstance(item, dict) and item.get("bk_property_id") in BUILT_IN_IDS:
            continue
        where = f"set_attributes[{i}]"
        if isinstance(item, dict) and isinstance(item.get("bk_property_id"), str):
            where += f" ({item['bk_property_id']})"
        try:
            attr = _parse_one(item, businesses)
        except SeedError as exc:
            raise SeedError(f"{where}: {exc}") from None
        scopes = seen.setdefault(attr.bk_property_id, set())
        if attr.bk_biz_id in scopes or 0 in scopes or (attr.bk_biz_id == 0 and scopes):
            raise SeedError(f"{where}: bk_property_id is already used in this scope")
        scopes.add(attr.bk_biz_id)
        index = len(BUILT_INS) + len(custom) + 1
        position = item.get("bk_property_index", index)
        if isinstance(position, bool) or not isinstance(position, int):
            raise SeedError(f"{where}: bk_property_index must be an integer")
        custom.append(replace(attr, id=index, bk_property_index=position))
    return SetModel(BUILT_INS + tuple(custom))


def _parse_one(item: Any, businesses: set[int]) -> Attribute:
    if not isinstance(item, dict):
        raise SeedError("must be an object")
    unknown = sorted(set(item) - _SEED_KEYS)
    if unknown:
        raise SeedError(f"unknown keys: {', '.join(unknown)}")
    pid = item.get("bk_property_id")
    if not isinstance(pid, str) or not PROPERTY_ID.fullmatch(pid) or len(pid) > 128:
        raise SeedError("bk_property_id must match ^[a-zA-Z]\\w*$ and have at most 128 characters")
    if pid.startswith("bk_"):
        raise SeedError("bk_property_id must not start with bk_ (reserved for built-in attributes)")
    if pid in RESERVED_IDS:
        raise SeedError(f"bk_property_id {pid} is a key every set document already has")
    name = item.get("bk_property_name")
    if not isinstance(name, str) or not name or len(name) > 128:
        raise SeedError("bk_property_name must be a non-empty string of at most 128 characters")
    kind = item.get("bk_property_type")
    if kind in NOT_EMULATED:
        raise SeedError(f"type {kind} is not emulated: {NOT_EMULATED[kind]}")
    if kind not in TYPES:
        raise SeedError(f"bk_property_type must be one of {', '.join(TYPES)}")
    if item.get("bk_obj_id", "set") != "set":
        raise SeedError('bk_obj_id must be "set"')
    biz = item.get("bk_biz_id", 0)
    if isinstance(biz, bool) or not isinstance(biz, int) or (biz != 0 and biz not in businesses):
        raise SeedError("bk_biz_id must be 0 (global) or a seeded business")
    flags: dict[str, Any] = {}
    for key in _BOOL_KEYS:
        if key in item:
            if not isinstance(item[key], bool):
                raise SeedError(f"{key} must be true or false")
            flags[key] = item[key]
    if flags.get("isrequired") or flags.get("isonly"):
        # topo_server/logics/model/attribute.go: isonly forces isrequired; set is a mainline model.
        raise SeedError("can not add required attribute field for a mainline model (1101092); "
                        "isrequired and isonly must be false on set")
    texts: dict[str, Any] = {}
    for key, limit in _TEXT_KEYS.items():
        if key in item:
            if not isinstance(item[key], str) or len(item[key]) > limit:
                raise SeedError(f"{key} must be a string of at most {limit} characters")
            texts[key] = item[key]
    group = item.get("bk_property_group", "bizdefault" if biz else "default")
    if not isinstance(group, str) or not group:
        raise SeedError("bk_property_group must be a non-empty string")
    for key in ("create_time", "last_time"):
        if key in item and not (isinstance(item[key], str) and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", item[key])):
            raise SeedError(f"{key} must read YYYY-MM-DD hh:mm:ss")
        texts[key] = item.get(key, SEED_TIME)
    if "bk_template_id" in item and item["bk_template_id"] != 0:
        raise SeedError("bk_template_id must be 0 (field templates cannot bind to set)")
    multiple = item.get("ismultiple", kind in ("objuser", "organization"))  # the API's default
    if not isinstance(multiple, bool):
        raise SeedError("ismultiple must be true or false")
    option, default = _option_and_default(kind, item, multiple, businesses)
    # The API forces ispre false; bk_supplier_account and the group name are the server's.
    return Attribute(bk_biz_id=biz, bk_property_id=pid, bk_property_name=name, bk_property_group=group,
                     bk_property_type=kind, option=option, default=default, ismultiple=multiple,
                     creator=texts.pop("creator", "admin"), **flags, **texts)


def _option_and_default(kind: str, item: Mapping[str, Any], multiple: bool,
                        businesses: set[int]) -> tuple[Any, Any]:
    """Creation rules for option and default (valid/attribute/attribute.go, attribute_curd.go)."""
    option = item.get("option", _DEFAULT_OPTION.get(kind, ""))
    default = item.get("default")
    if kind in ("singlechar", "longchar"):
        if option is None:
            option = ""
        if not isinstance(option, str) or len(option) > 2000:
            raise SeedError("option must be a regular expression string of at most 2000 characters")
        pattern = compile_re2(option)
        if default is not None:
            if not isinstance(default, str):
                raise SeedError("default must be a string")
            if pattern is not None and default and not pattern.search(default):
                raise SeedError("default does not match the option regex")
    elif kind in ("int", "float"):
        low, high = parse_range(kind, option)
        if low > high:
            raise SeedError("option min is greater than max")
        if default is not None:
            try:
                value: float = parse_int_default(default) if kind == "int" else float64_of(default)
            except GoError:
                raise SeedError(f"default must be {'an integer' if kind == 'int' else 'a number'}") from None
            if not low <= value <= high:
                raise SeedError("default is outside the option range")
    elif kind in ("enum", "enummulti"):
        option = _enum_option(option, multiple, kind)
        default = None  # attribute_curd.go: the default of an enum is its is_default options
    elif kind == "enumquote":
        _check_enum_quote_option(option, multiple, businesses)
        default = None
    elif kind == "list":
        if (not isinstance(option, list) or not option or len(option) > ENUM_MAX_OPTIONS
                or not all(isinstance(v, str) and len(v) <= OPTION_MAX_RUNES for v in option)):
            raise SeedError("option must be a non-empty list of at most 200 strings of at most 128 characters")
        if default is not None and default not in option:
            raise SeedError("default must be one of the option values")
    elif kind == "bool":
        if not isinstance(option, bool):
            raise SeedError("option must be true or false (the UI keeps the default there)")
        if default is not None and not isinstance(default, bool):
            raise SeedError("default must be true or false")
    elif kind == "innertable":
        _check_inner_table_option(option)
        default = None
    elif default is not None:  # date, time, objuser, timezone, organization: checked by the fill in values.py
        pass
    return option, default


_DEFAULT_OPTION: dict[str, Any] = {"bool": False}


def compile_re2(option: str) -> re.Pattern[str] | None:
    """A singlechar/longchar option as a Python pattern with RE2's meaning, or None when empty."""
    if not option:
        return None
    if _NOT_RE2.search(option):
        raise SeedError("option uses a construct RE2 does not have (lookaround, backreference, atomic or possessive)")
    try:
        # RE2's \d \w \s \b are ASCII-only.
        return re.compile(option, re.ASCII)
    except (re.error, RecursionError, OverflowError) as exc:
        raise SeedError(f"option is not a regular expression both RE2 and Python read alike: {exc}") from None


def parse_range(kind: str, option: Any) -> tuple[float, float]:
    """ParseIntOption / ParseFloatOption of a seed option: (min, max), unbounded sides at the int64 limits."""
    if option is None or option == "":
        return (INT64_MIN, INT64_MAX) if kind == "int" else (float(INT64_MIN), float(INT64_MAX))
    if not isinstance(option, dict) or set(option) - {"min", "max"}:
        raise SeedError('option must be "" or an object {"min": …, "max": …}')
    bounds: list[float] = []
    for side, unbounded in (("min", INT64_MIN), ("max", INT64_MAX)):
        value = option.get(side, "")
        try:
            if value == "" or value is None:
                bounds.append(unbounded if kind == "int" else float(unbounded))
            elif isinstance(value, str):
                bounds.append(_parse_int_text(value) if kind == "int" else parse_float(value))
            elif kind == "int":
                bounds.append(parse_int_default(value))
            else:
                bounds.append(float64_of(value))
        except GoError:
            raise SeedError(f"option {side} must be empty, a number or a numeric string") from None
    return bounds[0], bounds[1]


def _parse_int_text(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text) or not INT64_MIN <= int(text) <= INT64_MAX:
        raise GoError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    return int(text)


def parse_int_default(value: Any) -> int:
    """An int attribute's default (or numeric bound): a JSON integer within int64."""
    if isinstance(value, bool) or not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
        raise GoError("not numeric")
    return value


def _enum_option(option: Any, multiple: bool, kind: str) -> list[dict[str, Any]]:
    """ValidFieldTypeEnumOption; returns the option with `type` and `is_default` spelt out."""
    if not isinstance(option, list) or not option or len(option) > ENUM_MAX_OPTIONS:
        raise SeedError("option must be a non-empty list of at most 200 {id, name, type, is_default}")
    out: list[dict[str, Any]] = []
    for o in option:
        if not isinstance(o, dict) or set(o) - {"id", "name", "type", "is_default"}:
            raise SeedError("each option must be an object {id, name, type, is_default}")
        if not all(isinstance(o.get(k), str) and 0 < len(o[k]) <= OPTION_MAX_RUNES for k in ("id", "name")):
            raise SeedError("each option needs an id and a name of 1 to 128 characters")
        if o.get("type", "text") != "text":
            raise SeedError('option type must be "text"')
        if not isinstance(o.get("is_default", False), bool):
            raise SeedError("is_default must be true or false")
        out.append({"id": o["id"], "name": o["name"], "type": "text", "is_default": o.get("is_default", False)})
    defaults = sum(o["is_default"] for o in out)
    if not multiple and defaults != 1:
        raise SeedError("a single-choice enum needs exactly one is_default option (1199092 since 3.11.2)")
    if kind == "enum" and defaults > 1:
        raise SeedError("an enum with several is_default options fails every create that omits it")
    return out


def _check_enum_quote_option(option: Any, multiple: bool, businesses: set[int]) -> None:
    if not isinstance(option, list) or not option or len(option) > ENUM_MAX_OPTIONS:
        raise SeedError("option must be a non-empty list of {bk_obj_id, bk_inst_id, type}")
    if not multiple and len(option) != 1:
        raise SeedError("a single-choice enumquote has exactly one option (1199092)")
    for o in option:
        if not isinstance(o, dict) or o.get("type") != "int" or o.get("bk_obj_id") != "biz":
            raise SeedError('each option must be {"bk_obj_id": "biz", "bk_inst_id": <business id>, "type": "int"} '
                            "(businesses are the only instances the emulator holds)")
        if o.get("bk_inst_id") not in businesses or isinstance(o.get("bk_inst_id"), bool):
            raise SeedError("each option bk_inst_id must be a seeded business")


def _check_inner_table_option(option: Any) -> None:
    header = option.get("header") if isinstance(option, dict) else None
    if not isinstance(header, list) or not header or not all(
            isinstance(h, dict) and isinstance(h.get("bk_property_id"), str) and isinstance(h.get("bk_property_name"), str)
            and h.get("bk_property_type") in INNER_TABLE_TYPES for h in header):
        raise SeedError('option must be {"header": [{bk_property_id, bk_property_name, bk_property_type}, …], '
                        f'"default": [...]}} with types among {", ".join(INNER_TABLE_TYPES)}')
    if not isinstance(option.get("default", []), list):
        raise SeedError("option default must be a list of rows")
