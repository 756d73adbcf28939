"""Stored state: uniqueness, ids, concurrency, permission, and the related APIs
(search_set, update_set, delete_set, batch_delete_set, search_business,
list_set_template, search_biz_inst_topo) — research cmdb §3.2, §5, §6.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from .helpers import AUTH, BIZ, IDLE_SET_ID, call, create, create_ok, find_set, unique, wrapped


# --------------------------------------------------------------- uniqueness
def test_duplicate_name_is_1101108_and_consumes_an_id(vurl: str) -> None:
    """research cmdb §5: same (parent, name) -> 1101108, nothing stored, a bk_set_id consumed."""
    first = create_ok(vurl)
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": first["bk_set_name"]})
    assert (body["code"], body["message"]) == (1101108, "the same set name exist")
    assert body["data"] is None
    after = create_ok(vurl)
    assert after["bk_set_id"] == first["bk_set_id"] + 2
    found = call(vurl, "search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_name": first["bk_set_name"]}})
    assert found["data"]["count"] == 1


def test_duplicate_message_in_chinese(vurl: str) -> None:
    """research cmdb §3: 1101108 zh text is 已经存在同名的集群."""
    first = create_ok(vurl)
    body = create(vurl, {"bk_parent_id": BIZ, "bk_set_name": first["bk_set_name"]}, lang="zh-cn")
    assert body["message"] == "已经存在同名的集群"


def test_uniqueness_uses_the_trimmed_name(vurl: str) -> None:
    """research cmdb §5: the index compares the trimmed name."""
    first = create_ok(vurl)
    assert create(vurl, {"bk_parent_id": BIZ, "bk_set_name": f" {first['bk_set_name']} "})["code"] == 1101108


def test_uniqueness_is_case_sensitive(vurl: str) -> None:
    """research cmdb §5: the unique index is case-sensitive."""
    name = unique("Case")
    create_ok(vurl, {"bk_set_name": name})
    create_ok(vurl, {"bk_set_name": name.lower()})


def test_same_name_under_another_parent_is_allowed(vurl: str) -> None:
    """research cmdb §5: uniqueness is per parent; different parents may share a name."""
    first = create_ok(vurl)
    assert create_ok(vurl, {"bk_set_name": first["bk_set_name"], "bk_parent_id": 77777})["bk_parent_id"] == 77777


def test_idle_pool_name_collides_with_the_built_in_set(vurl: str) -> None:
    """research cmdb §5: 空闲机池 directly under the business collides with the built-in set."""
    assert create(vurl, {"bk_parent_id": BIZ, "bk_set_name": "空闲机池"})["code"] == 1101108


def test_ids_are_monotonic_and_never_reused(vurl: str) -> None:
    """research cmdb §4: ids come from a sequence; deleted ids do not come back."""
    first = create_ok(vurl)
    assert call(vurl, "delete_set", {"bk_biz_id": BIZ, "bk_set_id": first["bk_set_id"]})["code"] == 0
    assert create_ok(vurl)["bk_set_id"] > first["bk_set_id"]


def test_concurrent_creates_of_one_name_yield_one_set(url: str) -> None:
    """research cmdb §5: 20 racing creates of one name -> exactly one success; ids unique."""
    name = unique("race")
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(20)

    def worker() -> None:
        with requests.Session() as session:
            barrier.wait()
            body = session.post(url + "/api/c/compapi/v2/cc/create_set/", timeout=20, json={
                **AUTH, "bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": name}}).json()
            results.append(body)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(r["code"] for r in results)
    assert codes == [0] + [1101108] * 19
    # Distinct names in parallel: all succeed with distinct ids.
    ids: list[int] = []
    lock = threading.Lock()

    def distinct(i: int) -> None:
        data = create_ok(url, {"bk_set_name": f"{name}-{i}"})
        with lock:
            ids.append(data["bk_set_id"])

    threads = [threading.Thread(target=distinct, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(set(ids)) == 20


# --------------------------------------------------------------- permission
NO_PERM_SEED = {"businesses": [{"bk_biz_id": 2, "bk_biz_name": "蓝鲸"}], "users_without_permission": ["nobody"]}


@pytest.mark.parametrize(("component", "payload"), [
    ("create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": "p"}}),
    ("update_set", {"bk_biz_id": 2, "bk_set_id": 5, "data": {"bk_set_name": "p"}}),
    ("delete_set", {"bk_biz_id": 2, "bk_set_id": 5}),
], ids=["create", "update", "delete"])
def test_user_without_permission_gets_9900403(make_server: Any, component: str, payload: dict[str, Any]) -> None:
    """research cmdb §3.2: IAM denial -> 9900403, 1199047 text, permission object, data null."""
    server = make_server(seed=NO_PERM_SEED)
    body = call(server.url, component, {**payload, "bk_username": "nobody"})
    assert (body["result"], body["code"], body["data"]) == (False, 9900403, None)
    assert body["message"] == "Do not have access permission."
    perm = body["permission"]
    assert perm["system_id"] == "bk_cmdb" and perm["actions"][0]["id"] == "create_biz_topology"
    instance = perm["actions"][0]["related_resource_types"][0]["instances"][0][0]
    assert instance == {"type": "biz", "type_name": "业务", "id": "2", "name": "蓝鲸"}
    zh = call(server.url, component, {**payload, "bk_username": "nobody"}, lang="zh-cn")
    assert zh["message"] == "没有操作的权限"


def test_permission_is_checked_before_validation(make_server: Any) -> None:
    """research cmdb §1.1 A2: the IAM filter runs before topo validation."""
    server = make_server(seed=NO_PERM_SEED)
    body = call(server.url, "create_set", {"bk_biz_id": 2, "data": {"x": 1}, "bk_username": "nobody"})
    assert body["code"] == 9900403


# --------------------------------------------------------------- search_set
def test_search_set_condition_fields_and_page(vurl: str) -> None:
    """research cmdb §6: search_set condition/fields/page -> {count, info}; with fields, rows also carry default."""
    prefix = unique("srch")
    made = [create_ok(vurl, {"bk_set_name": f"{prefix}-{i}", "bk_capacity": i + 1}) for i in range(3)]
    body = call(vurl, "search_set", {"bk_biz_id": BIZ, "fields": ["bk_set_id", "bk_set_name"],
                                     "condition": {"bk_set_name": {"$regex": f"^{prefix}-"}},
                                     "page": {"start": 1, "limit": 1, "sort": "-bk_set_id"}})
    assert body["data"]["count"] == 3
    assert body["data"]["info"] == [{"bk_set_id": made[1]["bk_set_id"], "bk_set_name": made[1]["bk_set_name"],
                                     "default": 0}]
    ids = [m["bk_set_id"] for m in made[:2]]
    inn = call(vurl, "search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_id": {"$in": ids}}})
    assert sorted(s["bk_set_id"] for s in inn["data"]["info"]) == ids


def test_search_set_filter(vurl: str) -> None:
    """research cmdb §6: search_set accepts a querybuilder filter instead of condition."""
    made = create_ok(vurl)
    body = call(vurl, "search_set", {"bk_biz_id": BIZ, "filter": {"condition": "AND", "rules": [
        {"field": "bk_set_name", "operator": "equal", "value": made["bk_set_name"]}]}})
    assert [s["bk_set_id"] for s in body["data"]["info"]] == [made["bk_set_id"]]


def test_search_set_condition_and_filter_is_1199011(vurl: str) -> None:
    """research cmdb §6: condition and filter together -> 1199011."""
    body = call(vurl, "search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_id": 1},
                                     "filter": {"condition": "AND", "rules": []}})
    assert body["code"] == 1199011


@pytest.mark.parametrize(("lang", "name"), [("en", "idle pool"), ("zh-cn", "空闲机池")])
def test_idle_set_name_is_translated_in_english(vurl: str, lang: str, name: str) -> None:
    """research cmdb §6: with English the idle set's name is returned as 'idle pool'."""
    assert find_set(vurl, IDLE_SET_ID, lang=lang)["bk_set_name"] == name  # type: ignore[index]


# --------------------------------------------------------------- update_set
def test_update_set_changes_fields_and_returns_null(vurl: str) -> None:
    """research cmdb §6: update_set -> data null; values validated and stored; updater recorded."""
    made = create_ok(vurl)
    new = unique("upd")
    body = call(vurl, "update_set", {"bk_biz_id": BIZ, "bk_set_id": made["bk_set_id"],
                                     "data": {"bk_set_name": f" {new} ", "bk_capacity": 5, "bk_parent_id": 999,
                                              "set_template_id": 1}})
    assert (body["result"], body["code"], body["data"]) == (True, 0, None)
    stored = find_set(vurl, made["bk_set_id"])
    assert stored is not None
    assert (stored["bk_set_name"], stored["bk_capacity"], stored["bk_parent_id"], stored["set_template_id"]) == (
        new, 5, BIZ, 0)
    assert stored["bk_updated_by"] == "admin"


def test_update_built_in_set_is_1101098(vurl: str) -> None:
    """research cmdb §6: update of a set with default != 0 -> 1101098."""
    body = call(vurl, "update_set", {"bk_biz_id": BIZ, "bk_set_id": IDLE_SET_ID, "data": {"bk_set_desc": "x"}})
    assert (body["code"], body["message"]) == (1101098, "forbidden remove or update built in set or module")


def test_update_missing_set_is_1199019(vurl: str) -> None:
    """research cmdb §6: update of an unknown set -> 1199019."""
    assert call(vurl, "update_set", {"bk_biz_id": BIZ, "bk_set_id": 987654321, "data": {"bk_set_desc": "x"}}
                )["code"] == 1199019


def test_update_to_a_taken_name_is_1101108(vurl: str) -> None:
    """research cmdb §6: renaming onto an existing name -> 1101108."""
    a, b = create_ok(vurl), create_ok(vurl)
    body = call(vurl, "update_set", {"bk_biz_id": BIZ, "bk_set_id": b["bk_set_id"],
                                     "data": {"bk_set_name": a["bk_set_name"]}})
    assert body["code"] == 1101108


def test_update_validates_like_create(vurl: str, version: str) -> None:
    """research cmdb §6: update values are validated with the create rules."""
    made = create_ok(vurl)
    body = call(vurl, "update_set", {"bk_biz_id": BIZ, "bk_set_id": made["bk_set_id"],
                                     "data": {"bk_capacity": 0}})
    assert body["code"] == wrapped(version, 1199006, "")[0]


# --------------------------------------------------------------- delete_set
def test_delete_set_removes_it_and_its_modules(vurl: str) -> None:
    """research cmdb §6: delete_set deletes the set and its modules; data null."""
    made = create_ok(vurl, {"set_template_id": 1})
    body = call(vurl, "delete_set", {"bk_biz_id": BIZ, "bk_set_id": made["bk_set_id"]})
    assert (body["result"], body["code"], body["data"]) == (True, 0, None)
    assert find_set(vurl, made["bk_set_id"]) is None
    topo = call(vurl, "search_biz_inst_topo", {"bk_biz_id": BIZ})["data"][0]["child"]
    assert made["bk_set_id"] not in [s["bk_inst_id"] for s in topo]


def test_delete_built_in_set_is_1101098(vurl: str) -> None:
    """research cmdb §6: the idle set (default 1) cannot be deleted."""
    assert call(vurl, "delete_set", {"bk_biz_id": BIZ, "bk_set_id": IDLE_SET_ID})["code"] == 1101098


def test_delete_unknown_set_succeeds(vurl: str) -> None:
    """research cmdb §6: a non-existent id returns success."""
    assert call(vurl, "delete_set", {"bk_biz_id": BIZ, "bk_set_id": 987654321})["code"] == 0


def test_ids_beyond_int64_name_no_set(vurl: str) -> None:
    """research cmdb §6: an id no store can hold is simply not found (delete succeeds, update is 1199019), never a 500."""
    huge = 2**63
    assert call(vurl, "delete_set", {"bk_biz_id": BIZ, "bk_set_id": huge})["code"] == 0
    assert call(vurl, "update_set", {"bk_biz_id": BIZ, "bk_set_id": huge, "data": {"bk_set_desc": "x"}})["code"] == 1199019


def test_delete_set_with_user_default_is_built_in(vurl: str) -> None:
    """research cmdb §1.2: a set created with default=1 is built-in afterwards."""
    made = create_ok(vurl, {"default": 1})
    assert call(vurl, "delete_set", {"bk_biz_id": BIZ, "bk_set_id": made["bk_set_id"]})["code"] == 1101098


def test_batch_delete_set(vurl: str) -> None:
    """research cmdb §6: batch_delete_set delete{inst_ids[]} removes every listed set."""
    a, b = create_ok(vurl), create_ok(vurl)
    body = call(vurl, "batch_delete_set", {"bk_biz_id": BIZ, "delete": {"inst_ids": [a["bk_set_id"], b["bk_set_id"]]}})
    assert body["code"] == 0
    assert find_set(vurl, a["bk_set_id"]) is None and find_set(vurl, b["bk_set_id"]) is None


def test_batch_delete_with_a_built_in_deletes_nothing(vurl: str) -> None:
    """research cmdb §6: same rules as delete_set; the transaction fails as a whole."""
    a = create_ok(vurl)
    body = call(vurl, "batch_delete_set", {"bk_biz_id": BIZ, "delete": {"inst_ids": [a["bk_set_id"], IDLE_SET_ID]}})
    assert body["code"] == 1101098
    assert find_set(vurl, a["bk_set_id"]) is not None


# ------------------------------------------------------------ other readers
def test_search_business_hides_the_resource_pool(vurl: str) -> None:
    """research cmdb §6: search_business adds default:0 unless asked, so 资源池 is hidden."""
    body = call(vurl, "search_business", {"fields": ["bk_biz_id", "bk_biz_name"]})
    assert body["data"] == {"count": 1, "info": [{"bk_biz_id": 2, "bk_biz_name": "蓝鲸"}]}
    pool = call(vurl, "search_business", {"condition": {"default": 1}})
    assert [b["bk_biz_name"] for b in pool["data"]["info"]] == ["资源池"]


def test_list_set_template(vurl: str) -> None:
    """research cmdb §6: list_set_template -> {count, info[{id, name, bk_biz_id, ...}]}."""
    body = call(vurl, "list_set_template", {"bk_biz_id": BIZ})
    assert body["data"]["count"] == 1
    tpl = body["data"]["info"][0]
    assert set(tpl) == {"id", "name", "bk_biz_id", "creator", "modifier", "create_time", "last_time",
                        "bk_supplier_account"}
    assert (tpl["id"], tpl["name"], tpl["bk_biz_id"]) == (1, "tpl-web", BIZ)
    assert call(vurl, "list_set_template", {"bk_biz_id": BIZ, "set_template_ids": [42]})["data"]["count"] == 0


def test_search_biz_inst_topo_shape(vurl: str) -> None:
    """research cmdb §6: topo nodes {bk_inst_id, bk_inst_name, bk_obj_id, bk_obj_name, default, child}."""
    made = create_ok(vurl, {"set_template_id": 1})
    body = call(vurl, "search_biz_inst_topo", {"bk_biz_id": BIZ})
    biz = body["data"][0]
    assert (biz["bk_inst_id"], biz["bk_obj_id"], biz["bk_inst_name"]) == (BIZ, "biz", "蓝鲸")
    node = next(s for s in biz["child"] if s["bk_inst_id"] == made["bk_set_id"])
    assert set(node) == {"bk_inst_id", "bk_inst_name", "bk_obj_id", "bk_obj_name", "default", "child"}
    assert (node["bk_inst_name"], node["bk_obj_id"], node["default"]) == (made["bk_set_name"], "set", 0)
    assert [(m["bk_inst_name"], m["bk_obj_id"], m["child"]) for m in node["child"]] == [("svc-nginx", "module", [])]
