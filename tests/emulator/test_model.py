"""The set model in create_set: fill, per-type validation, stored forms, versions.

One test (or one table row) per fact of research cmdb_model_attributes.md
(§1.3 fill, §2.1 mechanics, §2.2 types, §2.5 time conversion, §7 order) and
cmdb_create_set.md §2.3 (recorded fields).  The `rich` emulators hold a
model with every emulated type; `vurl` ones hold the default world.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from .helpers import AUTH, BIZ, HEX32, call, create, find_set, path, unique, wrapped
from .rich_seed import RICH_SEED

NAMES = {a["bk_property_id"]: a["bk_property_name"] for a in RICH_SEED["set_attributes"]}
INVALID = "data parameter verification does not pass"


def made(url: str, data: dict[str, Any] | None = None, biz: int = BIZ) -> dict[str, Any]:
    """create_set with `data` and return the created set, asserting success."""
    body = create(url, {"bk_parent_id": biz, "bk_set_name": unique("m"), **(data or {})}, biz=biz)
    assert body["code"] == 0, body
    result: dict[str, Any] = body["data"]
    return result


def refused(url: str, data: dict[str, Any], biz: int = BIZ, lang: str | None = None) -> dict[str, Any]:
    """create_set with `data` and return the error envelope, asserting a refusal."""
    body = create(url, {"bk_parent_id": biz, "bk_set_name": unique("m"), **data}, biz=biz, lang=lang)
    assert body["result"] is False and body["data"] is None, body
    return body


def raw_create(url: str, data_json: str) -> dict[str, Any]:
    """create_set whose data object is spliced in as raw JSON text (for literals like 1e400)."""
    auth = json.dumps(AUTH)[1:-1]
    body = f'{{{auth}, "bk_biz_id": {BIZ}, "data": {data_json}}}'
    result: dict[str, Any] = requests.post(url + path("create_set"), data=body.encode(), timeout=10).json()
    return result


# ----------------------------------------------------------------------- C3 fill
FILLS: list[tuple[str, Any, str]] = [
    ("sc", "", "singlechar without default -> '' (validator_util.go fillLostStringFieldValue)"),
    ("sc_re", "abc", "singlechar default written when it matches the regex"),
    ("lc", "", "longchar -> ''"),
    ("i_any", None, "int without default -> null"),
    ("i_num", 3, "int default (int64) within the range"),
    ("f", 1.5, "float default (float64)"),
    ("e", "a", "enum -> the id of its single is_default option"),
    ("em", ["a", "b"], "enummulti -> every is_default id"),
    ("em1", ["a"], "single-choice enummulti -> its one is_default id"),
    ("eq", [1, 2], "enumquote -> every bk_inst_id of its option (the option is the default selection)"),
    ("d", "2024-01-31", "date default"),
    ("t", "2024-01-31T12:00:00+08:00", "time default, converted to a datetime at C8"),
    ("u", "admin", "objuser default"),
    ("um", None, "objuser without default -> null"),
    ("tz", "Asia/Shanghai", "timezone default"),
    ("b", False, "bool without default -> false"),
    ("l", "y", "list default when it is one of the option values"),
    ("o", None, "organization without default -> null"),
]


@pytest.mark.parametrize(("key", "filled", "fact"), FILLS, ids=[f[0] for f in FILLS])
def test_absent_attribute_is_filled_per_type(rurl: str, key: str, filled: Any, fact: str) -> None:
    """model §1.3: FillLostFieldValue writes each absent attribute's type fill or its default (3.11.1+)."""
    assert made(rurl)[key] == filled, fact


def test_absent_innertable_is_not_stored(rurl: str) -> None:
    """model §1.3: an absent innertable is filled null and deleted again in C7, so the set has no such key."""
    assert "it" not in made(rurl)


def test_explicit_null_is_kept_without_default(rurl: str) -> None:
    """model §1.3: a key sent as null is present: it stays null and no default is applied."""
    data = made(rurl, {"sc_re": None, "e": None, "b": None, "t": None})
    assert (data["sc_re"], data["e"], data["b"], data["t"]) == (None, None, None, None)


def test_default_world_fills_its_custom_model(vurl: str) -> None:
    """model §1.3 on the default world: enum default, bool default true, business-2 enum default."""
    data = made(vurl)
    assert (data["service_level"], data["monitored"], data["zone"], data["region"]) == ("silver", True, "cn", "")


# ------------------------------------------------------------- scope (model §1.1)
def test_attribute_of_another_business_is_dropped(rurl: str) -> None:
    """model §1.1/§1.4: an attribute of business 3 is not loaded in business 2: not filled, and dropped if sent."""
    data = made(rurl, {"g3": "x"})
    assert "g3" not in data
    assert "g3" not in find_set(rurl, data["bk_set_id"])  # type: ignore[operator]


def test_attribute_of_the_business_is_filled_and_validated(rurl: str, version: str) -> None:
    """model §1.1: in its own business a scoped attribute is filled and validated like a global one."""
    assert made(rurl, biz=3)["g3"] == ""
    body = refused(rurl, {"g3": 5}, biz=3)
    assert (body["code"], body["message"]) == wrapped(version, 1199007, "'三号' must be a string type")


def test_default_world_zone_exists_only_in_business_2(vurl: str) -> None:
    """model §1.1: the default world's business-2 attribute zone is absent from a set of business 1."""
    assert "zone" not in made(vurl, biz=1)
    assert made(vurl, biz=1)["idc"] == ""


def test_hidden_attribute_is_still_validated(rurl: str, version: str) -> None:
    """model §1.5: bk_isapi hides an attribute from search_object_attribute, create_set still validates it."""
    body = refused(rurl, {"hidden": 5})
    assert (body["code"], body["message"]) == wrapped(version, 1199007, "'隐藏' must be a string type")


def test_non_editable_attribute_can_be_set_at_create(rurl: str) -> None:
    """model §1.5: editable=false has no effect on create."""
    assert made(rurl, {"ne": " v "})["ne"] == "v"


# ---------------------------------------------------------------- accepted values
ACCEPTED: list[tuple[str, Any, Any, str]] = [
    ("sc", "  pad\u3000", "pad", "top-level strings are TrimSpace'd (Unicode spaces too) and stored trimmed"),
    ("sc", "   ", "", "white space only is empty after the trim"),
    ("sc", "é" * 128, "é" * 128, "singlechar: 256 bytes is the limit"),
    ("sc_digit", "a1b", "a1b", "the regex is RE2 MatchString: unanchored (search, not fullmatch)"),
    ("lc_re", "Lx", "Lx", "longchar regex"),
    ("lc", "x" * 2000, "x" * 2000, "longchar: 2000 bytes"),
    ("i_any", 1.5, 1.5, "int: a non-integral number counts as 0, accepted when 0 is in range, stored as sent"),
    ("i_any", 99999999999999999999, 99999999999999999999, "int: an overflow saturates at MaxInt64 (no default range)"),
    ("i_num", -5, -5, "int: the range ends are inclusive (numeric bounds)"),
    ("i_pos", 10**18, 10**18, "int: a missing max is unbounded"),
    ("f", "1.5", "1.5", "float: a numeric string is accepted and stored as a string"),
    ("f", " 2 ", "2", "float: the string is trimmed first"),
    ("f", "1e1", "1e1", "float: strconv.ParseFloat syntax"),
    ("f", "NaN", "NaN", "float: NaN passes every range check"),
    ("f", 10, 10, "float: the range ends are inclusive (string bounds)"),
    ("e", " b ", "b", "enum: the id after the trim"),
    ("em", ["a", "a"], ["a", "a"], "enummulti: duplicates allowed"),
    ("em", [], [], "enummulti: [] is empty"),
    ("eq", [1], [1], "enumquote: ids of existing instances of the quoted model"),
    ("eq", [], [], "enumquote: [] is empty"),
    ("d", "2024-02-30", "2024-02-30", "date: shape only (regex) before 3.14.8"),
    ("d", "", "", "date: '' is empty"),
    ("t", "2024-01-31T04:00:00.5+00:00", "2024-01-31T12:00:00.5+08:00", "time with zone: converted, shown in +08:00"),
    ("t", "2023-13-45 99:00:00", "0001-01-01T08:00:00+08:00", "time: shape-valid but impossible -> the zero time"),
    ("u", " admin ", "admin", "objuser: trimmed"),
    ("um", "a,b", "a,b", "objuser: several users when ismultiple"),
    ("u", "", "", "objuser: '' is empty"),
    ("tz", "America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires", "timezone regex"),
    ("b", True, True, "bool"),
    ("l", " x ", "x", "list: the option value after the trim"),
    ("o", [1, 1.5], [1, 1.5], "organization: util.IsInteger accepts any JSON number"),
    ("o", [], [], "organization: [] is empty"),
]


@pytest.mark.parametrize(("key", "sent", "stored", "fact"), ACCEPTED, ids=[f"{a[0]}-{i}" for i, a in enumerate(ACCEPTED)])
def test_valid_value_is_stored(rurl: str, key: str, sent: Any, stored: Any, fact: str) -> None:
    """model §2.2: each type's accepted values, stored (and read back) in the server's form."""
    data = made(rurl, {key: sent})
    assert data[key] == stored and type(data[key]) is type(stored), fact
    assert find_set(rurl, data["bk_set_id"])[key] == stored  # type: ignore[index]


# ---------------------------------------------------------------- refused values
REFUSED: list[tuple[str, Any, int, str, str]] = [
    ("sc", 123, 1199007, "'短文本' must be a string type", "singlechar: a non-string"),
    ("sc", "é" * 129, 1199015, "Data out of bounds%!(EXTRA string=短文本)", "singlechar: > 256 bytes (en has no %s)"),
    ("sc_re", "ABC", 1199016, "'小写' Field regular check failed", "singlechar: the regex option"),
    ("lc", "x" * 2001, 1199015, "Data out of bounds%!(EXTRA string=长文本)", "longchar: > 2000 bytes"),
    ("lc", True, 1199007, "'长文本' must be a string type", "longchar: a non-string"),
    ("lc_re", "xL", 1199016, "'L开头' Field regular check failed", "longchar regex"),
    ("i_any", "5", 1199009, "'任意整数' parameters must be integral", "int: a string"),
    ("i_any", True, 1199009, "'任意整数' parameters must be integral", "int: a bool"),
    ("i_pos", 1.5, 1199006, f"'正整数' {INVALID}", "int: a non-integral number is 0, outside [1, max]"),
    ("i_pos", 0, 1199006, f"'正整数' {INVALID}", "int: below min"),
    ("i_num", 10**20, 1199006, f"'小整数' {INVALID}", "int: an overflow saturates, then fails the range"),
    ("f", 0.4, 1199006, f"'浮点' {INVALID}", "float: below min"),
    ("f", "Inf", 1199006, f"'浮点' {INVALID}", "float: Inf parses and fails the range"),
    ("f", "abc", 1199011, "'浮点' the parameter is invalid or does not exist", "float: not numeric -> 1199011, not 1199009"),
    ("f", True, 1199011, "'浮点' the parameter is invalid or does not exist", "float: a bool"),
    ("f", "1_0", 1199011, "'浮点' the parameter is invalid or does not exist", "float: Go has no underscores in decimals"),
    ("f_open", 1e19, 1199006, f"'任意浮点' {INVALID}", "float: without a range the bounds are ±MaxInt64"),
    ("e", 1, 1199006, f"'枚举' {INVALID}", "enum: a non-string"),
    ("e", "z", 1199006, f"'枚举' {INVALID}", "enum: not an option id"),
    ("e", "", 1199006, f"'枚举' {INVALID}", "enum: '' is not an option id"),
    ("em", "a", 1199006, f"'多选' {INVALID}", "enummulti: not an array"),
    ("em", ["z"], 1199006, f"'多选' {INVALID}", "enummulti: not an option id"),
    ("em", [" a"], 1199006, f"'多选' {INVALID}", "enummulti: elements are not trimmed"),
    ("em", [1], 1199006, f"'多选' {INVALID}", "enummulti: a non-string element"),
    ("em1", ["a", "b"], 1199092,
     "current field type status is single choice, please set reasonable data%!(EXTRA string=单选多)",
     "enummulti: single choice (no %s in the template)"),
    ("eq", "x", 1199006, f"'引用' {INVALID}", "enumquote: not an array"),
    ("eq1", [1, 2], 1199092, "current field type status is single choice, please set reasonable data",
     "enumquote: single choice, raised by core without an argument"),
    ("d", "2024/01/31", 1199006, f"'日期' {INVALID}", "date: not YYYY-MM-DD"),
    ("d", 20240131, 1199006, f"'日期' {INVALID}", "date: a non-string (1199032 was 3.10's)"),
    ("t", "2024-01-31", 1199006, f"'时间' {INVALID}", "time: a date only"),
    ("t", "2024-01-31T10:00:00", 1199006, f"'时间' {INVALID}", "time: T without a zone"),
    ("t", "2024-01-31T10:00:00Z", 1199006, f"'时间' {INVALID}", "time: Z before 3.14.8"),
    ("t", "2024-01-31T10:00:00-05:00", 1199006, f"'时间' {INVALID}", "time: -hh:mm before 3.14.8"),
    ("u", "a,b", 1199006, f"'用户' {INVALID}", "objuser: a comma when not ismultiple"),
    ("u", "张三", 1199016, "'用户' Field regular check failed", "objuser: the user regex refuses non-ASCII"),
    ("um", "a, b", 1199016, "'多用户' Field regular check failed", "objuser: the regex refuses a space"),
    ("u", 1, 1199007, "'用户' must be a string type", "objuser: a non-string"),
    ("um", "a" * 2001, 1199015, "Data out of bounds%!(EXTRA string=多用户)", "objuser: > 2000 bytes"),
    ("tz", "", 1199024, "'时区' must be a string type", "timezone: '' fails (template says string)"),
    ("tz", "Asia Shanghai", 1199024, "'时区' must be a string type", "timezone regex"),
    ("tz", 8, 1199024, "'时区' must be a string type", "timezone: a non-string"),
    ("b", "true", 1199025, "'开关' must be boolean", "bool: a string"),
    ("b", 1, 1199025, "'开关' must be boolean", "bool: a number"),
    ("l", "X", 1199006, f"'列表' {INVALID}", "list: exact, case-sensitive"),
    ("l", 1, 1199006, f"'列表' {INVALID}", "list: a non-string"),
    ("o", "1", 1199006, f"'组织' {INVALID}", "organization: not an array"),
    ("o", ["1"], 1199011, "'组织' the parameter is invalid or does not exist", "organization: a non-integer element"),
    ("o1", [1, 2], 1199006, f"'单组织' {INVALID}", "organization: several ids when not ismultiple"),
    ("it", "x", 1199006, f"'表格' {INVALID}", "innertable: not an array"),
    ("it", list(range(1, 52)), 1199089,
     "the length of array 表格 is wrong, the length must be in range 1~%!d(MISSING)",
     "innertable: > 50 ids; the 50 is replaced by the name, hence %!d(MISSING)"),
    ("it", ["1"], 1199006, f"'表格' {INVALID}", "innertable: a non-integer id"),
]


@pytest.mark.parametrize(("key", "sent", "code", "inner", "fact"), REFUSED,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(REFUSED)])
def test_invalid_value_is_refused(rurl: str, version: str, key: str, sent: Any, code: int, inner: str,
                                  fact: str) -> None:
    """model §2.2/§2.4: each type's refusals, with the code and en message per version (3.14 wraps in 1199011)."""
    body = refused(rurl, {key: sent})
    assert (body["code"], body["message"]) == wrapped(version, code, inner), fact


def test_error_names_the_db_property_name_in_chinese_too(rurl: str, version: str) -> None:
    """model §2.1: the argument is the DB bk_property_name (the zh template here), never the property id."""
    body = refused(rurl, {"e": "z"}, lang="zh-cn")
    inner = "'枚举' 数据参数校验不通过"
    assert body["message"] == (f"'{inner}' 参数无效或不存在" if version == "3.14" else inner)


@pytest.mark.parametrize("literal", ["1e400", "1" + "0" * 400], ids=["exponent", "digits"])
def test_float_beyond_float64_is_1199011(rurl: str, version: str, literal: str) -> None:
    """model §2.2 float: a number ParseFloat cannot hold (range error) -> 1199011, not 1199006."""
    body = raw_create(rurl, f'{{"bk_parent_id": 2, "bk_set_name": "{unique("m")}", "f": {literal}}}')
    assert (body["code"], body["message"]) == wrapped(version, 1199011, "'浮点' the parameter is invalid or does not exist")


# ------------------------------------------------------------ raw errors (≤3.13: 1199998)
RAW: list[tuple[str, Any, str, str]] = [
    ("eq", [999], "inst not exist, rid: {rid}", "enumquote: ids are checked in the quoted model, not the option"),
    ("eq", [0], "enum quote instID is 0, it is illegal", "enumquote: id 0"),
    ("eq", ["x"], "not numeric", "enumquote: a string id"),
    ("eq", [1.5], 'strconv.ParseInt: parsing "1.5": invalid syntax', "enumquote: a non-integral id"),
    ("t", "", "can not convert value from string type to time type", "time: '' passes C7 and fails the C8 conversion"),
]


@pytest.mark.parametrize(("key", "sent", "text", "fact"), RAW, ids=[f"{r[0]}-{i}" for i, r in enumerate(RAW)])
def test_raw_go_errors_are_1199998_or_wrapped(rurl: str, version: str, key: str, sent: Any, text: str,
                                              fact: str) -> None:
    """model §2.2/§2.5: core's plain Go errors answer 1199998 with the raw text (3.13), 1199011 wrapped (3.14)."""
    body = refused(rurl, {key: sent})
    message = text.format(rid=body["request_id"])
    expected = (1199011, f"'{message}' the parameter is invalid or does not exist") if version == "3.14" else (
        1199998, message)
    assert (body["code"], body["message"]) == expected, fact
    assert HEX32.fullmatch(body["request_id"])


def test_innertable_ids_fail_the_attach_after_the_insert(rurl: str) -> None:
    """model §2.2 innertable: ids must exist in the table model; none do, so 1199006 with the property id, unwrapped, nothing stored, id consumed."""
    before = made(rurl)["bk_set_id"]
    name = unique("it")
    body = create(rurl, {"bk_parent_id": BIZ, "bk_set_name": name, "it": [1]})
    assert (body["code"], body["message"]) == (1199006, f"'it' {INVALID}")
    found = call(rurl, "search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_name": name}})
    assert found["data"]["count"] == 0
    assert made(rurl)["bk_set_id"] == before + 2


def test_empty_innertable_is_accepted_and_not_stored(rurl: str) -> None:
    """model §1.4: an innertable key is deleted after validation, so [] is accepted and absent from the set."""
    assert "it" not in made(rurl, {"it": []})


# --------------------------------------------------------------- order (model §7)
def test_first_bad_key_in_request_order_is_reported(rurl: str) -> None:
    """model §7: C7's Go map order is random; the emulator reports the first bad key in request order."""
    first = refused(rurl, {"e": "z", "b": "true"})
    second = refused(rurl, {"b": "true", "e": "z"})
    assert "枚举" in first["message"] and "开关" in second["message"]


def test_time_conversion_runs_after_every_value_check(rurl: str) -> None:
    """model §7: C8 (time "" fails) only runs when C7 passed, so a bad enum sent after it is reported."""
    body = refused(rurl, {"t": "", "e": "z"})
    assert "枚举" in body["message"]


def test_name_checks_run_before_custom_attributes(rurl: str, version: str) -> None:
    """model §7: C4-C6 (name, parent) run before the C7 pass, whatever the key order."""
    body = create(rurl, {"e": "z", "bk_set_name": "a/b", "bk_parent_id": BIZ})
    assert (body["code"], body["message"]) == wrapped(version, 1199006, f"'bk_set_name' {INVALID}")


# --------------------------------------------------- recorded fields (cmdb §2.3)
RECORDED: list[tuple[str, Any, int, str]] = [
    ("bk_created_by", "张三", 1199016, "'创建人' Field regular check failed"),
    ("bk_created_by", "a b", 1199016, "'创建人' Field regular check failed"),
    ("bk_updated_by", "张三", 1199016, "'更新人' Field regular check failed"),
    ("bk_created_by", "a,b", 1199006, f"'创建人' {INVALID}"),
    ("bk_updated_by", "a,b", 1199006, f"'更新人' {INVALID}"),
    ("bk_created_by", 1, 1199007, "'创建人' must be a string type"),
    ("bk_created_at", "2024-01-01", 1199006, f"'创建时间' {INVALID}"),
    ("bk_created_at", "2024-01-01T10:00:00", 1199006, f"'创建时间' {INVALID}"),
    ("bk_created_at", "2024-01-01T10:00:00Z", 1199006, f"'创建时间' {INVALID}"),
    ("bk_updated_at", "2024-01-01T10:00:00-05:00", 1199006, f"'更新时间' {INVALID}"),
    ("bk_updated_at", "x", 1199006, f"'更新时间' {INVALID}"),
    ("bk_created_at", 1, 1199006, f"'创建时间' {INVALID}"),
]


@pytest.mark.parametrize(("key", "sent", "code", "inner"), RECORDED, ids=[f"{r[0]}-{i}" for i, r in enumerate(RECORDED)])
def test_recorded_field_is_validated_before_save_overwrites_it(vurl: str, version: str, key: str, sent: Any,
                                                               code: int, inner: str) -> None:
    """cmdb §2.3: a client's bk_created_by/_at, bk_updated_by/_at is validated in C7 (DB names, 3.14 wraps)."""
    body = refused(vurl, {key: sent})
    assert (body["code"], body["message"]) == wrapped(version, code, inner)


@pytest.mark.parametrize(("key", "sent"), [
    ("bk_created_at", ""), ("bk_updated_at", ""), ("bk_created_at", "2024-01-01 10:00:00"),
    ("bk_updated_at", "2024-01-01T10:00:00+08:00"), ("bk_created_by", " mallory "),
], ids=["created-at-empty", "updated-at-empty", "created-at-valid", "updated-at-zoned", "created-by-padded"])
def test_valid_recorded_field_is_accepted_then_overwritten(vurl: str, key: str, sent: Any) -> None:
    """cmdb §2.3: valid values (and "" for the times, 3.13.3+) pass, then save sets user and insert time."""
    data = made(vurl, {key: sent})
    assert data[key] == ("admin" if key == "bk_created_by" else data["create_time"])


def test_client_updated_by_is_kept_trimmed(vurl: str) -> None:
    """cmdb §2.3: save does not set bk_updated_by, so a valid client value is kept (trimmed)."""
    assert made(vurl, {"bk_updated_by": " bob "})["bk_updated_by"] == "bob"


# ------------------------------------------------------------ set templates (T7)
def test_template_attribute_overwrites_the_client_value(rurl: str) -> None:
    """cmdb §1.1 T7: a template's attribute values overwrite the user's (initSetWithSetTemplate)."""
    data = made(rurl, {"set_template_id": 1, "e": "a"})
    assert (data["set_template_id"], data["e"]) == (1, "b")


def test_template_attribute_is_not_applied_to_a_default_set(rurl: str) -> None:
    """cmdb §1.1 T7: with default != 0 the template is dropped, attributes included."""
    data = made(rurl, {"set_template_id": 1, "default": 2})
    assert (data["set_template_id"], data["e"]) == (0, "a")
