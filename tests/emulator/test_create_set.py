"""CMDB create_set rules (research cmdb_create_set.md §1-§5, §7), in both versions.

Every test runs against 3.13 and 3.14 through the `vurl`/`version` fixtures;
C3-C8 errors are expected wrapped into 1199011 under 3.14 (`helpers.wrapped`).
"""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import BIZ, MODEL_FILLS, SUCCESS_KEYS, TIME_RE, call, create, create_ok, find_set, unique, wrapped


def expect_error(body: dict[str, Any], code: int, message: str | None = None) -> None:
    """Assert a CMDB error envelope with `code` (and exact `message` if given)."""
    assert body["result"] is False, body
    assert body["code"] == code, body
    assert body["data"] is None and body["permission"] is None
    if message is not None:
        assert body["message"] == message


# ------------------------------------------------------------------ success
def test_success_returns_the_full_stored_document(vurl: str) -> None:
    """research cmdb §4: data is the whole stored doc, keys sorted, defaults filled (the custom model's too)."""
    name = unique()
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": name})
    data = body["data"]
    assert set(data) == SUCCESS_KEYS
    assert list(data) == sorted(data)
    assert {k: data[k] for k in ("bk_biz_id", "bk_capacity", "bk_parent_id", "bk_service_status",
                                 "bk_set_desc", "bk_set_env", "bk_set_name", "bk_supplier_account",
                                 "bk_updated_by", "default", "description", "set_template_id",
                                 "set_template_version", "bk_created_by")} == {
        "bk_biz_id": BIZ, "bk_capacity": None, "bk_parent_id": BIZ, "bk_service_status": "1",
        "bk_set_desc": "", "bk_set_env": "3", "bk_set_name": name, "bk_supplier_account": "0",
        "bk_updated_by": None, "default": 0, "description": "", "set_template_id": 0,
        "set_template_version": None, "bk_created_by": "admin"}
    assert {k: data[k] for k in MODEL_FILLS} == MODEL_FILLS
    assert type(data["bk_set_id"]) is int and data["bk_set_id"] > 2


def test_times_are_rfc3339_in_cst_and_equal(vurl: str) -> None:
    """research cmdb §4: create_time = last_time = bk_created_at = bk_updated_at, +08:00, ms trimmed."""
    data = create_ok(vurl)
    stamps = {data[k] for k in ("create_time", "last_time", "bk_created_at", "bk_updated_at")}
    assert len(stamps) == 1
    assert TIME_RE.fullmatch(stamps.pop())


def test_top_level_biz_overwrites_data_biz(vurl: str) -> None:
    """research cmdb §1.1 T3: data.bk_biz_id is overwritten by the path (top-level) business."""
    assert create_ok(vurl, {"bk_biz_id": 12345})["bk_biz_id"] == BIZ


def test_supplier_account_comes_from_the_top_level(vurl: str) -> None:
    """research cmdb §1.2 / esb §2.2: bk_supplier_account = top-level value or '0'."""
    name = unique()
    body = call(vurl, "create_set", {"bk_biz_id": BIZ, "bk_supplier_account": "acct",
                                     "data": {"bk_parent_id": BIZ, "bk_set_name": name,
                                              "bk_supplier_account": "ignored"}})
    assert body["data"]["bk_supplier_account"] == "acct"


def test_created_set_is_stored(vurl: str) -> None:
    """research cmdb §4: the returned document is what search_set finds afterwards."""
    data = create_ok(vurl, {"bk_capacity": 10, "bk_set_desc": "d"})
    assert find_set(vurl, data["bk_set_id"]) == data


# --------------------------------------------------------------------- name
def test_name_is_trimmed_of_ascii_spaces(vurl: str) -> None:
    """research cmdb §1.1 C5: names are trimmed of ASCII spaces and stored trimmed."""
    name = unique()
    data = create_ok(vurl, {"bk_set_name": f"  {name}   "})
    assert data["bk_set_name"] == name
    assert find_set(vurl, data["bk_set_id"])["bk_set_name"] == name  # type: ignore[index]


def test_name_edge_ideographic_space_is_trimmed_by_trimspace(vurl: str) -> None:
    """research cmdb §1.1 C7: strings.TrimSpace trims U+3000 at the edges after the regex passed."""
    name = unique()
    assert create_ok(vurl, {"bk_set_name": f"\u3000{name}\u3000"})["bk_set_name"] == name


def test_internal_ideographic_space_is_allowed(vurl: str) -> None:
    """research cmdb §1.2: non-ASCII spaces such as U+3000 pass the RE2 regex."""
    name = unique() + "\u3000x"
    assert create_ok(vurl, {"bk_set_name": name})["bk_set_name"] == name


@pytest.mark.parametrize("char", [*list('\\|/:*,<>"?#'), " ", "\t", "\n", "\r", "\x0c"],
                         ids=lambda c: f"U+{ord(c):04X}")
def test_forbidden_name_characters(vurl: str, version: str, char: str) -> None:
    """research cmdb §1.1 C5: regex ^[^\\|/:*,<>"?#\\s]+$ (RE2 \\s) -> 1199006 'bk_set_name'."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": f"a{char}b"})
    expect_error(body, *wrapped(version, 1199006, "'bk_set_name' data parameter verification does not pass"))


def test_vertical_tab_is_not_re2_space(vurl: str) -> None:
    """research cmdb §1.2: RE2 \\s is [\\t\\n\\f\\r ], so an internal \\v is allowed."""
    name = unique() + "\vx"
    assert create_ok(vurl, {"bk_set_name": name})["bk_set_name"] == name


def test_leading_tab_is_rejected_not_trimmed(vurl: str, version: str) -> None:
    """research cmdb §1.2: C5 trims spaces only, so a leading tab fails the regex."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": "\t" + unique()})
    expect_error(body, wrapped(version, 1199006, "")[0])


def test_name_of_256_runes_is_accepted(vurl: str) -> None:
    """research cmdb §1.2: at most 256 runes (ASCII: also 256 bytes)."""
    name = (unique() + "x" * 256)[:256]
    assert create_ok(vurl, {"bk_set_name": name})["bk_set_name"] == name


def test_name_of_257_runes_is_1199073(vurl: str, version: str) -> None:
    """research cmdb §3.1: > 256 runes -> 1199073 with Go's %!s(int=256) in English."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": "n" * 257})
    expect_error(body, *wrapped(version, 1199073, "bk_set_name field exceeds maximum value %!s(int=256)"))


def test_name_of_257_runes_in_chinese(vurl: str, version: str) -> None:
    """research cmdb §3.1: zh 1199073 renders 字段bk_set_name超过最大值256."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": "n" * 257}, lang="zh-cn")
    inner = "字段bk_set_name超过最大值256"
    assert body["message"] == (f"'{inner}' 参数无效或不存在" if version == "3.14" else inner)


def test_name_of_85_cjk_runes_is_accepted(vurl: str) -> None:
    """research cmdb §1.2: 85 CJK runes = 255 bytes, within both limits."""
    name = ("汉" * 80 + unique("")[-5:].replace("-", "x"))
    assert len(name.encode()) <= 256
    assert create_ok(vurl, {"bk_set_name": name})["bk_set_name"] == name


def test_name_over_256_bytes_is_1199015(vurl: str, version: str) -> None:
    """research cmdb §1.2: <= 256 runes but > 256 bytes -> 1199015 '集群名' (en EXTRA artefact)."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": "汉" * 86})
    expect_error(body, *wrapped(version, 1199015, "Data out of bounds%!(EXTRA string=集群名)"))


@pytest.mark.parametrize("name", ["", "   "], ids=["empty", "spaces"])
def test_blank_name_is_1199010(vurl: str, version: str, name: str) -> None:
    """research cmdb §3.1: empty after trimming -> 1199010 'bk_set_name' (wrapped in 3.14)."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": name})
    expect_error(body, *wrapped(version, 1199010, "'bk_set_name' unassigned"))


@pytest.mark.parametrize("name", [None, 123, True, ["a"], {"a": 1}], ids=["null", "int", "bool", "list", "dict"])
def test_non_string_name_is_1199007(vurl: str, version: str, name: Any) -> None:
    """research cmdb §1.1 C4: bk_set_name must be a string -> 1199007."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": name})
    expect_error(body, *wrapped(version, 1199007, "'bk_set_name' must be a string type"))


@pytest.mark.parametrize("key", ["bk_set_name", "bk_parent_id"])
def test_missing_required_key_is_1199010_never_wrapped(vurl: str, key: str) -> None:
    """research cmdb §1.1 C2: a missing required key -> 1199010, not wrapped even in 3.14."""
    data = {"bk_parent_id": BIZ, "bk_set_name": unique()}
    del data[key]
    expect_error(create(vurl, data), 1199010, f"'{key}' unassigned")


# ------------------------------------------------------------------- parent
@pytest.mark.parametrize("parent", [0, -1, "2", 2.0, 1.5, True, None, 2**63],
                         ids=["zero", "negative", "string", "float", "fraction", "bool", "null", "over-int64"])
def test_bad_parent_is_1199006(vurl: str, version: str, parent: Any) -> None:
    """research cmdb §1.1 C6 / §3.3: bk_parent_id must be a JSON integer > 0."""
    body = create(vurl, {"bk_parent_id": parent, "bk_set_name": unique()})
    expect_error(body, *wrapped(version, 1199006, "'bk_parent_id' data parameter verification does not pass"))


def test_any_positive_parent_is_accepted_and_stored(vurl: str) -> None:
    """research cmdb §1.2: default topology does not cross-check bk_parent_id."""
    assert create_ok(vurl, {"bk_parent_id": 99999})["bk_parent_id"] == 99999


# ----------------------------------------------------------------- business
@pytest.mark.parametrize("biz", [999999, 0, -5], ids=["missing", "zero", "negative"])
def test_unknown_business_is_1199011(vurl: str, biz: int) -> None:
    """research cmdb §1.1 C1: the business must exist (0/negative rejected by choice); never wrapped."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": unique()}, biz=biz)
    expect_error(body, 1199011, "'bk_biz_id' the parameter is invalid or does not exist")


# ------------------------------------------------------------------ default
@pytest.mark.parametrize(("sent", "stored"), [(..., 0), (0, 0), (1, 1), ("1", "1"), (3.0, 3.0), (7, 7)],
                         ids=["absent", "zero", "one", "string", "integral-float", "seven"])
def test_default_is_stored_as_sent(vurl: str, sent: Any, stored: Any) -> None:
    """research cmdb §1.2: default absent -> 0, else any int-parsable value stored as sent."""
    extra = {} if sent is ... else {"default": sent}
    assert create_ok(vurl, extra)["default"] == stored


@pytest.mark.parametrize(("sent", "message"), [
    ("abc", 'strconv.ParseInt: parsing "abc": invalid syntax'),
    (1.5, 'strconv.ParseInt: parsing "1.5": invalid syntax'),
    (True, "invalid num"), ({"a": 1}, "invalid num"),
], ids=["string", "fraction", "bool", "object"])
def test_unparsable_default_is_1199998_with_go_text(vurl: str, sent: Any, message: str) -> None:
    """research cmdb §1.1 T4: an unparsable default is a plain Go error -> 1199998 raw text."""
    expect_error(create(vurl, {"bk_parent_id": BIZ, "bk_set_name": unique(), "default": sent}), 1199998, message)


# ----------------------------------------------------------------- template
def test_template_sets_id_and_creates_modules(vurl: str) -> None:
    """research cmdb §1.1 T7/T12: a valid template is recorded and one module per service template."""
    data = create_ok(vurl, {"set_template_id": 1})
    assert data["set_template_id"] == 1
    topo = call(vurl, "search_biz_inst_topo", {"bk_biz_id": BIZ})["data"][0]["child"]
    node = next(s for s in topo if s["bk_inst_id"] == data["bk_set_id"])
    assert [(m["bk_inst_name"], m["bk_obj_id"]) for m in node["child"]] == [("svc-nginx", "module")]


def test_template_with_nonzero_default_is_not_applied(vurl: str) -> None:
    """research cmdb §1.2: default != 0 forces set_template_id to 0 (v3.11+)."""
    assert create_ok(vurl, {"set_template_id": 1, "default": 1})["set_template_id"] == 0


@pytest.mark.parametrize("tpl", ["1", 1.0, True, None], ids=["string", "float", "bool", "null"])
def test_non_integer_template_id_is_1199006_unwrapped(vurl: str, tpl: Any) -> None:
    """research cmdb §1.1 T5: topo-side 1199006 with the language key 'Set template ID' (never wrapped)."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": unique(), "set_template_id": tpl})
    expect_error(body, 1199006, "'Set template ID' data parameter verification does not pass")
    zh = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": unique(), "set_template_id": tpl}, lang="zh-cn")
    assert zh["message"] == "'集群模板ID' 数据参数校验不通过"


@pytest.mark.parametrize("biz", [BIZ, 1], ids=["unknown-id", "other-business"])
def test_unknown_template_is_1199019(vurl: str, biz: int) -> None:
    """research cmdb §1.1 T6: template not found (or of another business) -> 1199019."""
    tpl = 999 if biz == BIZ else 1
    body = create(vurl, {"bk_parent_id": biz, "bk_set_name": unique(), "set_template_id": tpl}, biz=biz)
    expect_error(body, 1199019, "No relevant data found")


def test_template_zero_means_none(vurl: str) -> None:
    """research cmdb §1.2: set_template_id absent or 0 -> stored 0."""
    assert create_ok(vurl, {"set_template_id": 0})["set_template_id"] == 0


# ----------------------------------------------------------------- capacity
@pytest.mark.parametrize("value", [1, 999999999, None], ids=["min", "max", "null"])
def test_capacity_in_range_is_stored(vurl: str, value: Any) -> None:
    """research cmdb §1.2: bk_capacity int in [1, 999999999]; null allowed."""
    assert create_ok(vurl, {"bk_capacity": value})["bk_capacity"] == value


@pytest.mark.parametrize("value", [0, -1, 1000000000, 1.5, 100.0],
                         ids=["zero", "negative", "too-big", "fraction", "integral-float"])
def test_capacity_out_of_range_is_1199006(vurl: str, version: str, value: Any) -> None:
    """research cmdb §1.2: out of range or non-integral -> 1199006 '设计容量'."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": unique(), "bk_capacity": value})
    expect_error(body, *wrapped(version, 1199006, "'设计容量' data parameter verification does not pass"))


@pytest.mark.parametrize("value", ["5", True, [1]], ids=["string", "bool", "list"])
def test_capacity_not_numeric_is_1199009(vurl: str, version: str, value: Any) -> None:
    """research cmdb §3.3: strings and bools -> 1199009 '设计容量'."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": unique(), "bk_capacity": value})
    expect_error(body, *wrapped(version, 1199009, "'设计容量' parameters must be integral"))


# -------------------------------------------------------------------- enums
@pytest.mark.parametrize(("key", "value", "stored"), [
    ("bk_set_env", "1", "1"), ("bk_set_env", "2", "2"), ("bk_set_env", " 3 ", "3"), ("bk_set_env", None, None),
    ("bk_service_status", "1", "1"), ("bk_service_status", "2", "2"), ("bk_service_status", None, None),
], ids=["env-1", "env-2", "env-padded", "env-null", "status-1", "status-2", "status-null"])
def test_enum_values_are_accepted(vurl: str, key: str, value: Any, stored: Any) -> None:
    """research cmdb §1.2: enum ids are strings, TrimSpace'd; null is stored null."""
    assert create_ok(vurl, {key: value})[key] == stored


@pytest.mark.parametrize(("key", "value"), [
    ("bk_set_env", 1), ("bk_set_env", ""), ("bk_set_env", "4"), ("bk_set_env", True),
    ("bk_service_status", "3"), ("bk_service_status", 2),
], ids=["env-int", "env-empty", "env-4", "env-bool", "status-3", "status-int"])
def test_bad_enum_is_1199006(vurl: str, version: str, key: str, value: Any) -> None:
    """research cmdb §2.3: enum must be a string equal to an option id -> 1199006 with the zh name."""
    label = {"bk_set_env": "环境类型", "bk_service_status": "服务状态"}[key]
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": unique(), key: value})
    expect_error(body, *wrapped(version, 1199006, f"'{label}' data parameter verification does not pass"))


# ------------------------------------------------------------ desc / remark
@pytest.mark.parametrize(("key", "limit"), [("bk_set_desc", 256), ("description", 2000)])
def test_text_at_byte_limit_is_stored_trimmed(vurl: str, key: str, limit: int) -> None:
    """research cmdb §1.2: bk_set_desc <= 256 bytes, description <= 2000 bytes, TrimSpace'd."""
    value = "d" * limit
    assert create_ok(vurl, {key: f" {value}\t"})[key] == value


@pytest.mark.parametrize(("key", "limit", "label"), [("bk_set_desc", 256, "集群描述"), ("description", 2000, "备注")])
def test_text_over_byte_limit_is_1199015(vurl: str, version: str, key: str, limit: int, label: str) -> None:
    """research cmdb §2.3: over the byte limit -> 1199015 with the zh property name."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": unique(), key: "é" * (limit // 2 + 1)})
    expect_error(body, *wrapped(version, 1199015, f"Data out of bounds%!(EXTRA string={label})"))


@pytest.mark.parametrize(("key", "label"), [("bk_set_desc", "集群描述"), ("description", "备注")])
def test_text_not_string_is_1199007(vurl: str, version: str, key: str, label: str) -> None:
    """research cmdb §3.3: bk_set_desc / description must be strings -> 1199007."""
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": unique(), key: 5})
    expect_error(body, *wrapped(version, 1199007, f"'{label}' must be a string type"))


# ------------------------------------------------------------ other fields
def test_unknown_fields_are_dropped(vurl: str) -> None:
    """research cmdb §1.2: keys that are not attributes are deleted in C7 (bk_set_id, metadata too)."""
    data = create_ok(vurl, {"foo": 1, "bk_set_id": 1, "metadata": {"x": 1}, "bk_module_name": "m"})
    assert set(data) == SUCCESS_KEYS and data["bk_set_id"] != 1


def test_ignore_keys_are_kept_unvalidated(vurl: str) -> None:
    """research cmdb §1.2: createIgnoreKeys and bk_obj_id are stored and echoed as sent."""
    data = create_ok(vurl, {"bk_obj_id": "set", "bk_inst_id": "whatever", "bk_data_status": 7})
    assert (data["bk_obj_id"], data["bk_inst_id"], data["bk_data_status"]) == ("set", "whatever", 7)


def test_created_by_is_the_request_user(vurl: str) -> None:
    """research cmdb §4: bk_created_by = the request user, whatever the client sent."""
    data = create_ok(vurl, {"bk_created_by": "mallory"})
    assert data["bk_created_by"] == "admin"


def test_3_14_wraps_in_both_languages(servers: Any) -> None:
    """research cmdb §1.1: 3.14 wraps C3-C8 as '<inner>' 参数无效或不存在; 3.13 does not."""
    for version, expected in (("3.14", "''环境类型' 数据参数校验不通过' 参数无效或不存在"),
                              ("3.13", "'环境类型' 数据参数校验不通过")):
        body = create(servers[version].url, {"bk_parent_id": BIZ, "bk_set_name": unique(), "bk_set_env": "9"},
                      lang="zh-cn")
        assert body["message"] == expected
