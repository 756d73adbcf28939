"""The set model outside create_set: search_object_attribute, update_set, seeds.

Facts of research cmdb_model_attributes.md §4 (how the API shows the
model), §5 (update_set), §2.3 (creation rules a seed is held to), and
cmdb_create_set.md §6.1 (reads through core).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from cmdb_emulator.model import BUILT_INS
from cmdb_emulator.world import SeedError, parse_world

from .helpers import AUTH, BIZ, IDLE_SET_ID, REPO, call, create, find_set, path, run_cli, wrapped, write_seed
from .test_model import made

ITEM_KEYS = ["bk_biz_id", "id", "bk_supplier_account", "bk_obj_id", "bk_property_id", "bk_property_name",
             "bk_property_group", "bk_property_index", "unit", "placeholder", "editable", "ispre", "isrequired",
             "isreadonly", "isonly", "bk_issystem", "bk_isapi", "bk_property_type", "option", "default", "ismultiple",
             "description", "bk_template_id", "creator", "create_time", "last_time", "bk_property_group_name"]
DEFAULT_SEED = json.loads((REPO / "cmdb_emulator" / "default_seed.json").read_text("utf-8"))


def model(url: str, lang: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """The data of search_object_attribute with `params`, asserting success."""
    body = call(url, "search_object_attribute", {"bk_obj_id": "set", **params}, lang=lang)
    assert body["result"] is True and body["code"] == 0, body
    items: list[dict[str, Any]] = body["data"]
    return items


def ids(items: list[dict[str, Any]]) -> list[str]:
    """The property ids of search_object_attribute items, in order."""
    return [i["bk_property_id"] for i in items]


# --------------------------------------------------- search_object_attribute (§4)
def test_hidden_attributes_are_left_out(url: str) -> None:
    """model §4.3: bk_biz_id (isapi), bk_parent_id (issystem) and set_template_* are not shown."""
    assert ids(model(url, bk_biz_id=BIZ))[:11] == [
        "bk_set_name", "bk_set_desc", "bk_set_env", "bk_service_status", "description", "bk_capacity",
        "bk_created_at", "bk_created_by", "bk_updated_at", "bk_updated_by", "region"]


def test_business_attributes_only_with_their_business(url: str) -> None:
    """model §4.1: bk_biz_id N adds that business's attributes; absent or 0 gives the global ones only."""
    assert "zone" in ids(model(url, bk_biz_id=2)) and "idc" not in ids(model(url, bk_biz_id=2))
    assert "idc" in ids(model(url, bk_biz_id=1)) and "zone" not in ids(model(url, bk_biz_id=1))
    for params in ({}, {"bk_biz_id": 0}, {"bk_biz_id": None}, {"bk_biz_id": -2}):
        assert not {"zone", "idc"} & set(ids(model(url, **params)))


def test_items_have_the_attribute_struct_keys(url: str) -> None:
    """model §4.2: metadata.ObjAttDes keys in struct order; `default` omitted when null."""
    items = model(url, bk_biz_id=BIZ)
    with_default = next(i for i in items if i["bk_property_id"] == "monitored")
    assert list(with_default) == ITEM_KEYS and with_default["default"] is True
    without = next(i for i in items if i["bk_property_id"] == "region")
    assert list(without) == [k for k in ITEM_KEYS if k != "default"]


def test_built_in_names_are_translated_in_english(url: str) -> None:
    """model §4.1: set attributes get set_property_<id> / common_property_<id> names; enum names too."""
    items = {i["bk_property_id"]: i for i in model(url, bk_biz_id=BIZ)}
    assert {k: items[k]["bk_property_name"] for k in ("bk_set_name", "bk_set_env", "bk_capacity", "bk_created_by")} \
        == {"bk_set_name": "Set name", "bk_set_env": "Environment", "bk_capacity": "Capacity",
            "bk_created_by": "Created By"}
    assert [o["name"] for o in items["bk_set_env"]["option"]] == ["testing", "experience", "formal"]
    assert items["bk_set_name"]["bk_property_group_name"] == "default"


def test_custom_attributes_keep_their_db_names(url: str) -> None:
    """model §4.1: a custom attribute has no language key, so it keeps its DB name (and option names)."""
    items = {i["bk_property_id"]: i for i in model(url, bk_biz_id=BIZ)}
    assert items["zone"]["bk_property_name"] == "区服"
    assert [o["name"] for o in items["zone"]["option"]] == ["国服", "东南亚"]
    assert items["zone"]["bk_property_group_name"] == "bizdefault"


def test_chinese_shows_the_db_names(url: str) -> None:
    """model §4.4: with a zh language the names are the DB ones and the group is 基础信息."""
    items = {i["bk_property_id"]: i for i in model(url, lang="zh-cn", bk_biz_id=BIZ)}
    assert (items["bk_set_name"]["bk_property_name"], items["bk_set_name"]["bk_property_group_name"]) == (
        "集群名", "基础信息")
    assert [o["name"] for o in items["bk_service_status"]["option"]] == ["开放", "关闭"]


def test_stock_item_matches_the_research_example(url: str) -> None:
    """model §4.4: bk_capacity as the stock v3.14 model shows it."""
    item = next(i for i in model(url, bk_biz_id=BIZ) if i["bk_property_id"] == "bk_capacity")
    assert {k: item[k] for k in ("bk_biz_id", "bk_supplier_account", "bk_obj_id", "bk_property_type", "option",
                                 "editable", "ispre", "isrequired", "isonly", "ismultiple", "creator")} == {
        "bk_biz_id": 0, "bk_supplier_account": "0", "bk_obj_id": "set", "bk_property_type": "int",
        "option": {"max": "999999999", "min": "1"}, "editable": True, "ispre": True, "isrequired": False,
        "isonly": False, "ismultiple": False, "creator": "cc_system"}


def test_innertable_and_isapi_attributes_are_not_shown(rurl: str) -> None:
    """model §4.1: core excludes innertable; topo forces bk_isapi/bk_issystem false, even when asked for true."""
    shown = ids(model(rurl, bk_biz_id=BIZ))
    assert "it" not in shown and "hidden" not in shown and "ne" in shown
    assert model(rurl, bk_biz_id=BIZ, bk_isapi=True) != []
    assert "hidden" not in ids(model(rurl, bk_biz_id=BIZ, bk_isapi=True))


def test_other_body_keys_are_the_mongo_condition(url: str) -> None:
    """model §4.1: the whole body is the condition (bk_property_id, editable, ...), matched on the DB document."""
    assert ids(model(url, bk_biz_id=BIZ, bk_property_id="zone")) == ["zone"]
    assert "bk_created_by" not in ids(model(url, bk_biz_id=BIZ, editable=True))
    assert ids(model(url, bk_property_name="集群名")) == ["bk_set_name"]


def test_another_object_answers_an_empty_list(url: str) -> None:
    """Emulator choice: only the set model exists, so any other bk_obj_id matches nothing."""
    assert model(url, bk_obj_id="module") == []


def test_page_is_honoured(url: str) -> None:
    """model §4.1: page {start, limit} slices the attributes in DB order."""
    assert ids(model(url, bk_biz_id=BIZ, page={"start": 1, "limit": 2})) == ["bk_set_desc", "bk_set_env"]


@pytest.mark.parametrize("biz", ["2", 2.0, True], ids=["string", "float", "bool"])
def test_non_integer_biz_id_is_1199000(url: str, biz: Any) -> None:
    """model §4.1: topo decodes bk_biz_id into an int64, so anything else is a JSON decoding error."""
    body = call(url, "search_object_attribute", {"bk_obj_id": "set", "bk_biz_id": biz})
    assert (body["code"], body["message"]) == (1199000, "Deserializing JSON data failed")


def test_get_is_routed_with_string_parameters(url: str) -> None:
    """model §4.1 / esb §1.1: GET reaches the component; query parameters are strings."""
    query = {**AUTH, "bk_obj_id": "set"}
    body = requests.get(url + path("search_object_attribute"), params=query, timeout=10).json()
    assert body["code"] == 0 and "zone" not in ids(body["data"])
    body = requests.get(url + path("search_object_attribute"), params={**query, "bk_biz_id": "2"}, timeout=10).json()
    assert body["code"] == 1199000


def test_shown_model_round_trips_as_a_seed(url: str) -> None:
    """Seed format: the data of search_object_attribute pasted as set_attributes gives the same model."""
    items = model(url, lang="zh-cn", bk_biz_id=BIZ)
    seed = {"businesses": DEFAULT_SEED["businesses"], "set_attributes": items}
    world = parse_world(seed)
    built_in = {a.bk_property_id for a in BUILT_INS}
    assert [a.bk_property_id for a in world.set_model.custom] == [i for i in ids(items) if i not in built_in]


# ----------------------------------------------------------- update_set (§5)
def update(url: str, set_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """update_set of a set of business 2; returns the envelope."""
    return call(url, "update_set", {"bk_biz_id": BIZ, "bk_set_id": set_id, "data": data})


def test_update_drops_non_editable_keys_silently(rurl: str) -> None:
    """model §5: editable=false keys (recorded fields, custom ones) are deleted, not refused."""
    data = made(rurl, {"ne": "before"})
    body = update(rurl, data["bk_set_id"], {"ne": "after", "bk_created_by": "张三", "bk_created_at": "x"})
    assert body["code"] == 0
    stored = find_set(rurl, data["bk_set_id"])
    assert stored is not None
    assert (stored["ne"], stored["bk_created_by"], stored["bk_created_at"]) == ("before", "admin", data["bk_created_at"])


def test_update_fills_nothing(rurl: str) -> None:
    """model §5: no fill on update: an attribute the update does not send keeps its stored value."""
    data = made(rurl, {"e": None})
    assert update(rurl, data["bk_set_id"], {"sc": "x"})["code"] == 0
    assert find_set(rurl, data["bk_set_id"])["e"] is None  # type: ignore[index]


@pytest.mark.parametrize(("key", "sent", "code", "inner"), [
    ("e", "z", 1199006, "'枚举' data parameter verification does not pass"),
    ("b", "true", 1199025, "'开关' must be boolean"),
    ("sc_re", "ABC", 1199016, "'小写' Field regular check failed"),
], ids=["enum", "bool", "regex"])
def test_update_checks_values_like_create(rurl: str, version: str, key: str, sent: Any, code: int, inner: str) -> None:
    """model §5: the same per-key Validate as create; 3.14 wraps into 1199011, 3.13 does not."""
    data = made(rurl)
    body = update(rurl, data["bk_set_id"], {key: sent})
    assert (body["code"], body["message"]) == wrapped(version, code, inner)


def test_update_trims_and_converts(rurl: str) -> None:
    """model §5: top-level trim, then the C8 time conversion, as on create."""
    data = made(rurl)
    assert update(rurl, data["bk_set_id"], {"sc": "  y ", "t": "2024-05-01 08:00:00"})["code"] == 0
    stored = find_set(rurl, data["bk_set_id"])
    assert stored is not None and (stored["sc"], stored["t"]) == ("y", "2024-05-01T08:00:00+08:00")


def test_update_drops_attributes_of_other_businesses(rurl: str) -> None:
    """model §5: unknown keys and keys of other businesses are silently deleted."""
    data = made(rurl)
    assert update(rurl, data["bk_set_id"], {"g3": "x", "zz": 1})["code"] == 0
    stored = find_set(rurl, data["bk_set_id"])
    assert stored is not None and "g3" not in stored and "zz" not in stored


def test_update_keeps_default_unvalidated(rurl: str) -> None:
    """model §5: `default` is an updateIgnoreKey, stored as sent, so the set is built-in afterwards."""
    data = made(rurl)
    assert update(rurl, data["bk_set_id"], {"default": 1})["code"] == 0
    assert call(rurl, "delete_set", {"bk_biz_id": BIZ, "bk_set_id": data["bk_set_id"]})["code"] == 1101098


def test_update_of_a_template_bound_attribute_is_1199083(rurl: str) -> None:
    """model §5: a new value for an attribute the set's template sets -> 1199083 with the id, unwrapped."""
    data = made(rurl, {"set_template_id": 1})
    body = update(rurl, data["bk_set_id"], {"e": "a", "sc": "free"})
    assert (body["code"], body["message"]) == (1199083, "modify field e forbidden")
    assert update(rurl, data["bk_set_id"], {"e": "b", "sc": "free"})["code"] == 0


# ------------------------------------------------------------ reads (cmdb §6.1)
def test_fields_projection_also_returns_default(url: str) -> None:
    """cmdb §6.1: with >= 1 non-empty field, core appends `default` to the projection."""
    data = made(url)
    body = call(url, "search_set", {"bk_biz_id": BIZ, "fields": ["bk_set_name"],
                                    "condition": {"bk_set_id": data["bk_set_id"]}})
    assert body["data"]["info"] == [{"bk_set_name": data["bk_set_name"], "default": 0}]


@pytest.mark.parametrize(("lang", "name"), [(None, "idle pool"), ("zh-cn", "空闲机池")], ids=["en", "zh"])
def test_idle_row_gains_its_name_without_bk_set_name(url: str, lang: str | None, name: str) -> None:
    """cmdb §6.1: TranslateInstanceName names a row without bk_set_name whose default prints as 1."""
    body = call(url, "search_set", {"bk_biz_id": BIZ, "fields": ["bk_set_id"],
                                    "condition": {"bk_set_id": IDLE_SET_ID}}, lang=lang)
    assert body["data"]["info"] == [{"bk_set_id": IDLE_SET_ID, "default": 1, "bk_set_name": name}]


@pytest.mark.parametrize("default", [1, "1"], ids=["int", "string"])
def test_create_response_is_translated(url: str, default: Any) -> None:
    """cmdb §4: the created set is re-read through core: 空闲机池 + default printing as 1 -> idle pool in en."""
    parent = 77001 if default == 1 else 77002  # a foreign parent, so no built-in idle set collides
    body = create(url, {"bk_parent_id": parent, "bk_set_name": "空闲机池", "default": default})
    assert body["code"] == 0 and body["data"]["bk_set_name"] == "idle pool"
    zh = call(url, "search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_id": body["data"]["bk_set_id"]}},
              lang="zh-cn")
    assert zh["data"]["info"][0]["bk_set_name"] == "空闲机池"


def test_renamed_idle_set_is_not_translated(url: str) -> None:
    """cmdb §6.1: only the exact name 空闲机池 is translated."""
    body = create(url, {"bk_parent_id": 77010, "bk_set_name": "空闲机池2", "default": 1})
    assert body["data"]["bk_set_name"] == "空闲机池2"


def test_topo_ignores_level_and_leaves_out_the_idle_set(url: str) -> None:
    """cmdb §6.1: search_biz_inst_topo returns every level whatever `level` says, without the default=1 set."""
    data = made(url, {"set_template_id": 1})
    for level in (0, 1, -1):
        tree = call(url, "search_biz_inst_topo", {"bk_biz_id": BIZ, "level": level})["data"][0]["child"]
        assert IDLE_SET_ID not in [s["bk_inst_id"] for s in tree]
        node = next(s for s in tree if s["bk_inst_id"] == data["bk_set_id"])
        assert [m["bk_inst_name"] for m in node["child"]] == ["svc-nginx"]


def test_topo_attaches_sets_by_parent_only(url: str) -> None:
    """cmdb §6.1: a set with a foreign bk_parent_id is missing from its business's tree and in that parent's."""
    data = made(url, {"bk_parent_id": 1})
    own = call(url, "search_biz_inst_topo", {"bk_biz_id": BIZ})["data"][0]["child"]
    other = call(url, "search_biz_inst_topo", {"bk_biz_id": 1})["data"][0]["child"]
    assert data["bk_set_id"] not in [s["bk_inst_id"] for s in own]
    assert data["bk_set_id"] in [s["bk_inst_id"] for s in other]


def test_unknown_parent_is_accepted(url: str) -> None:
    """cmdb §1.2: the default topology does not check bk_parent_id against the business."""
    assert made(url, {"bk_parent_id": 987654})["bk_parent_id"] == 987654


# ------------------------------------------------------------ seeds (model §2.3)
def attr(**item: Any) -> dict[str, Any]:
    """A seed with one custom attribute (singlechar unless said otherwise)."""
    return {"businesses": [{"bk_biz_id": 2, "bk_biz_name": "蓝鲸"}],
            "set_attributes": [{"bk_property_id": "x", "bk_property_name": "X", "bk_property_type": "singlechar",
                                **item}]}


BAD_SEEDS: list[tuple[str, dict[str, Any], str]] = [
    ("bk-prefix", attr(bk_property_id="bk_x"), "must not start with bk_"),
    ("id-regex", attr(bk_property_id="1x"), "must match"),
    ("reserved-id", attr(bk_property_id="default"), "already has"),
    ("required", attr(isrequired=True), "1101092"),
    ("unique", attr(isonly=True), "1101092"),
    ("unknown-type", attr(bk_property_type="user"), "bk_property_type must be one of"),
    ("id-rule", attr(bk_property_type="id_rule"), "not emulated"),
    ("unknown-business", attr(bk_biz_id=9), "seeded business"),
    ("unknown-key", attr(colour="red"), "unknown keys: colour"),
    ("bad-regex", attr(option="("), "regular expression"),
    ("lookahead", attr(option="(?=a)"), "RE2"),
    ("default-not-matching", attr(option="^a", default="b"), "does not match"),
    ("default-too-long", attr(default="d" * 257), "fails the create validation"),
    ("enum-two-defaults", attr(bk_property_type="enum", option=[
        {"id": "a", "name": "A", "is_default": True}, {"id": "b", "name": "B", "is_default": True}]), "exactly one"),
    ("enum-no-default", attr(bk_property_type="enum", option=[{"id": "a", "name": "A"}]), "exactly one"),
    ("enum-type", attr(bk_property_type="enum", option=[{"id": "a", "name": "A", "type": "int", "is_default": True}]),
     '"text"'),
    ("int-range", attr(bk_property_type="int", option={"min": "5", "max": "1"}), "greater than max"),
    ("int-default", attr(bk_property_type="int", option={"min": "1"}, default=0), "outside"),
    ("list-default", attr(bk_property_type="list", option=["a"], default="b"), "one of the option"),
    ("user-default", attr(bk_property_type="objuser", ismultiple=False, default="a,b"), "fails the create validation"),
    ("quote-set", attr(bk_property_type="enumquote", option=[{"bk_obj_id": "set", "bk_inst_id": 2, "type": "int"}]),
     "biz"),
    ("duplicate", {"businesses": [{"bk_biz_id": 2, "bk_biz_name": "b"}], "set_attributes": [
        {"bk_property_id": "x", "bk_property_name": "X", "bk_property_type": "singlechar"},
        {"bk_property_id": "x", "bk_property_name": "Y", "bk_property_type": "singlechar", "bk_biz_id": 2}]},
     "already used"),
    ("template-attribute", {"businesses": [{"bk_biz_id": 2, "bk_biz_name": "b"}], "set_templates": [
        {"id": 1, "bk_biz_id": 2, "name": "t", "attributes": [{"bk_property_id": "bk_set_env", "bk_property_value": "9"}]}]},
     "refused"),
]


@pytest.mark.parametrize(("seed", "text"), [b[1:] for b in BAD_SEEDS], ids=[b[0] for b in BAD_SEEDS])
def test_seed_attributes_follow_the_creation_rules(seed: dict[str, Any], text: str) -> None:
    """model §2.3 / §1.2: a set attribute the API would refuse to create is a bad seed."""
    with pytest.raises(SeedError, match=None) as raised:
        parse_world(seed)
    assert text in str(raised.value)


def test_bad_seed_attribute_is_a_one_line_cli_error(tmp_path: Path) -> None:
    """Brief: a bad set attribute in --seed is a one-line `bad --seed: …` error, exit 2."""
    result = run_cli("--seed", write_seed(tmp_path, attr(isrequired=True)), "--port", "0")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("cmdb-emulator: error: bad --seed: set_attributes[0] (x): ")


def test_seed_without_attributes_gives_the_stock_model() -> None:
    """Seed format: no set_attributes -> exactly the built-in attributes."""
    assert parse_world({"businesses": [{"bk_biz_id": 2, "bk_biz_name": "b"}]}).set_model.attributes == BUILT_INS


def test_absent_seed_keys_get_the_api_defaults() -> None:
    """model §1.5: on API create an absent ismultiple is true for objuser/organization, false otherwise; ispre false."""
    world = parse_world({"businesses": [{"bk_biz_id": 2, "bk_biz_name": "b"}], "set_attributes": [
        {"bk_property_id": "u", "bk_property_name": "U", "bk_property_type": "objuser"},
        {"bk_property_id": "s", "bk_property_name": "S", "bk_property_type": "singlechar", "bk_biz_id": 2,
         "ispre": True}]})
    user, text = world.set_model.custom
    assert (user.ismultiple, user.editable, user.bk_property_group, user.creator) == (True, True, "default", "admin")
    assert (text.ismultiple, text.ispre, text.bk_property_group) == (False, False, "bizdefault")


def test_default_world_matches_the_readme(url: str) -> None:
    """README: the default custom model (ids, types, scopes) is the one documented."""
    readme = (REPO / "README.md").read_text("utf-8")
    for item in DEFAULT_SEED["set_attributes"]:
        assert f"`{item['bk_property_id']}`" in readme, item["bk_property_id"]


def test_readme_seed_example_loads() -> None:
    """README: the seed format example is a valid seed with a business attribute and a template attribute."""
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme[readme.index("### Seed format"):]
    example = json.loads(section[section.index("```json") + 7:section.index("```", section.index("```json") + 7)])
    world = parse_world(example)
    assert [(a.bk_property_id, a.bk_biz_id) for a in world.set_model.custom] == [("zone", 3), ("max_players", 0)]
    assert world.set_templates[0].attributes == (("bk_set_env", "3"),)
