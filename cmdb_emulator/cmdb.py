"""The CMDB layer: what topo_server + core_service do behind ESB.

Boundary: business rules only (research cmdb_create_set.md §1.1 step table,
§2 attributes, §3 codes, §4 success document, §5 uniqueness, §6 related APIs,
§7 version differences).  Input is the already form-validated ESB call;
output is a `CmdbResponse` (code, message, data, permission) that `esb.py`
wraps in the ESB envelope.  Persistence goes through `store.Tx`.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from . import messages as m
from .faults import Faults
from .messages import SET_TEMPLATE_ID_ARG, CmdbError
from .query import match_condition, match_filter, paginate, project
from .store import INT64_MAX, INT64_MIN, DuplicateName, Store, Tx
from .world import IDLE_SET_NAME, World

NAME_MAX_RUNES = 256
SINGLECHAR_MAX_BYTES = 256
LONGCHAR_MAX_BYTES = 2000
CAPACITY_MIN = 1
CAPACITY_MAX = 999999999

# RE2's \s is [\t\n\f\r ] (not Python's Unicode \s), so spell it out.
NAME_RE = re.compile(r'[^\\|/:*,<>"?#\t\n\f\r ]+')
# Go strings.TrimSpace: unicode.IsSpace = the Unicode White_Space property.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?")

# createIgnoreKeys (+ bk_obj_id): kept as sent, never validated.
IGNORE_KEYS = frozenset({
    "bk_supplier_account", "default", "bk_parent_id", "bk_biz_id", "bk_inst_id",
    "bk_data_status", "create_time", "last_time", "bk_process_id", "bk_obj_id",
})


@dataclass(frozen=True)
class Attr:
    """One set-model attribute (research §2.1)."""

    name: str  # bk_property_name from the DB, Chinese, never translated
    type: str  # singlechar | longchar | enum | int | time | user
    required: bool = False
    enum_ids: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None


ATTRS: dict[str, Attr] = {
    "bk_set_name": Attr("集群名", "singlechar", required=True),
    "bk_set_desc": Attr("集群描述", "singlechar"),
    "bk_set_env": Attr("环境类型", "enum", enum_ids=("1", "2", "3")),
    "bk_service_status": Attr("服务状态", "enum", enum_ids=("1", "2")),
    "description": Attr("备注", "longchar"),
    "bk_capacity": Attr("设计容量", "int", min=CAPACITY_MIN, max=CAPACITY_MAX),
    "set_template_id": Attr("集群模板ID", "int"),
    "set_template_version": Attr("集群模板", "int"),
    "bk_created_at": Attr("创建时间", "time"),
    "bk_created_by": Attr("创建人", "user"),
    "bk_updated_at": Attr("更新时间", "time"),
    "bk_updated_by": Attr("更新人", "user"),
}

TZ_CST = timezone(timedelta(hours=8))

PERMISSION_SYSTEM = {"system_id": "bk_cmdb", "system_name": "配置平台"}


@dataclass
class CmdbResponse:
    """What CMDB answers: code, rendered message, data, permission."""

    code: int
    message: str
    data: Any = None
    permission: Any = None


@dataclass(frozen=True)
class Call:
    """Per-request context handed over by ESB."""

    user: str
    lang: str  # "en" or "zh"
    owner: str = "0"


def is_json_int(value: Any) -> bool:
    """A JSON integer that fits int64 (bool is not an integer; 5.0 is not)."""
    return type(value) is int and INT64_MIN <= value <= INT64_MAX


def go_trim_space(value: str) -> str:
    """Go strings.TrimSpace."""
    return value.strip(GO_SPACE)


def parse_default(value: Any) -> int:
    """T4: mapstr Int64("default"); raise 1199998 with the raw Go text on failure."""
    if type(value) is int:
        if INT64_MIN <= value <= INT64_MAX:
            return value
        raise CmdbError(m.UNKNOWN_ERROR, raw=f'strconv.ParseInt: parsing "{value}": value out of range')
    if type(value) is float:
        if value.is_integer() and INT64_MIN <= value <= INT64_MAX:
            return int(value)
        raise CmdbError(m.UNKNOWN_ERROR, raw=f'strconv.ParseInt: parsing "{value!r}": invalid syntax')
    if isinstance(value, str):
        if re.fullmatch(r"[+-]?[0-9]+", value):
            number = int(value)
            if INT64_MIN <= number <= INT64_MAX:
                return number
            raise CmdbError(m.UNKNOWN_ERROR, raw=f'strconv.ParseInt: parsing "{value}": value out of range')
        raise CmdbError(m.UNKNOWN_ERROR, raw=f'strconv.ParseInt: parsing "{value}": invalid syntax')
    if value is None:
        raise CmdbError(m.UNKNOWN_ERROR, raw="invalid key(default), not found value")
    raise CmdbError(m.UNKNOWN_ERROR, raw="invalid num")


def default_flag(doc: dict[str, Any]) -> int:
    """The stored `default` as an int, tolerant of strings (built-in check)."""
    try:
        return parse_default(doc.get("default", 0))
    except CmdbError:
        return 0


def now_text(faults: Faults) -> str:
    """Now as Go RFC3339Nano in +08:00 with millisecond precision, zeros trimmed."""
    t = time.time()
    dt = datetime.fromtimestamp(t, TZ_CST)
    if faults.on("data-time-not-rfc3339"):
        return dt.strftime("%Y-%m-%d %H:%M:%S")
    frac = f"{dt.microsecond // 1000:03d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "+08:00"


class _C7Error(Exception):
    """Marks an error raised inside C7 (for the state-persist-on-error fault)."""

    def __init__(self, error: CmdbError) -> None:
        super().__init__(error.code)
        self.error = error


class Cmdb:
    """create/search/update/delete of sets and the read-only helpers."""

    def __init__(self, store: Store, world: World, faults: Faults, version: str) -> None:
        self.store = store
        self.world = world
        self.faults = faults
        self.version = version
        wrap = version == "3.14"
        if wrap and faults.on("version-313-codes-under-314"):
            wrap = False
        if not wrap and faults.on("version-314-codes-under-313"):
            wrap = True
        self.wrap = wrap

    # ------------------------------------------------------------------ helpers
    def _ok(self, call: Call, data: Any) -> CmdbResponse:
        return CmdbResponse(0, "success", data)

    def _err(self, call: Call, error: CmdbError) -> CmdbResponse:
        return CmdbResponse(error.code, error.message(call.lang))

    def _wrapped(self, error: CmdbError) -> CmdbError:
        """v3.14: errors of C3-C8 become 1199011 "'<inner>' ..." (research §1.1)."""
        if self.wrap:
            return CmdbError(m.PARAMS_IS_INVALID, inner=error)
        return error

    def _denied(self, call: Call, tx: Tx, biz_id: int) -> CmdbResponse | None:
        """A2: IAM create_biz_topology on the business (9900403 + permission)."""
        if call.user not in self.world.users_without_permission:
            return None
        biz = tx.business(biz_id)
        permission = {
            **PERMISSION_SYSTEM,
            "actions": [{
                "id": "create_biz_topology", "name": "业务拓扑新建",
                "related_resource_types": [{
                    **PERMISSION_SYSTEM, "type": "biz", "type_name": "业务",
                    "instances": [[{"type": "biz", "type_name": "业务", "id": str(biz_id),
                                    "name": biz["bk_biz_name"] if biz else ""}]],
                }],
            }],
        }
        return CmdbResponse(m.NO_PERMISSION, m.render(m.NO_PERMISSION, call.lang), None, permission)

    @staticmethod
    def _check_path_biz(biz_id: int) -> None:
        """T2: the {app_id} path segment must parse as int64."""
        if not INT64_MIN <= biz_id <= INT64_MAX:
            raise CmdbError(m.PARAMS_NEED_INT, "business id")

    def _validate_attr(self, key: str, attr: Attr, value: Any) -> Any:
        """C7 per-attribute validation (research §2.3); returns the value to store."""
        f = self.faults
        if attr.type in ("singlechar", "longchar"):
            if value is None or (attr.type == "longchar" and value == ""):
                if attr.required and not (key == "bk_set_name" and f.on("accept-blank-name")):
                    raise CmdbError(m.PARAMS_NEED_SET, attr.name)
                return value
            if not isinstance(value, str):
                raise CmdbError(m.PARAMS_NEED_STRING, attr.name)
            limit = SINGLECHAR_MAX_BYTES if attr.type == "singlechar" else LONGCHAR_MAX_BYTES
            skip_limit = (key == "bk_set_name" and f.on("accept-long-name-bytes")) or (
                key == "bk_set_desc" and f.on("accept-long-desc"))
            if not skip_limit and len(value.encode("utf-8", "surrogatepass")) > limit:
                raise CmdbError(m.OVER_LIMIT, attr.name)
            if value == "" and attr.required and not (key == "bk_set_name" and f.on("accept-blank-name")):
                raise CmdbError(m.PARAMS_NEED_SET, attr.name)
            if key == "bk_set_name" and "##" in value and not f.on("accept-forbidden-chars"):
                raise CmdbError(m.PARAMS_INVALID, value)
            return value
        if attr.type == "enum":
            if value is None:
                return None
            if not isinstance(value, str):
                raise CmdbError(m.PARAMS_INVALID, attr.name)
            if key == "bk_set_env" and value == "1" and f.on("reject-env-test"):
                raise CmdbError(m.PARAMS_INVALID, attr.name)
            if value not in attr.enum_ids and not f.on("accept-bad-enum"):
                raise CmdbError(m.PARAMS_INVALID, attr.name)
            return value
        if attr.type == "int":
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CmdbError(m.PARAMS_NEED_INT, attr.name)
            # GetInt64ByInterface on a non-integral json.Number gives 0.
            number = value if is_json_int(value) else 0
            if attr.min is not None:
                low, high = attr.min, attr.max
                assert high is not None
                if key == "bk_capacity":
                    if f.on("accept-capacity-out-of-range"):
                        return value
                    if f.on("reject-capacity-min"):
                        low += 1
                    if f.on("reject-capacity-max"):
                        high -= 1
                if not low <= number <= high:
                    raise CmdbError(m.PARAMS_INVALID, attr.name)
            return value
        if attr.type == "time":
            if value is None or value == "":
                return value
            if not isinstance(value, str) or not TIME_RE.fullmatch(value):
                raise CmdbError(m.PARAMS_INVALID, attr.name)
            return value
        # user
        if value is None:
            return None
        if not isinstance(value, str):
            raise CmdbError(m.PARAMS_NEED_STRING, attr.name)
        return value

    def _validate_name(self, data: dict[str, Any]) -> None:
        """C4 + C5 on data["bk_set_name"] (which is present); writes back the trimmed name."""
        f = self.faults
        name = data["bk_set_name"]
        if not isinstance(name, str):
            if not f.on("accept-non-string-name"):
                raise CmdbError(m.PARAMS_NEED_STRING, "bk_set_name")
            name = str(name)
        if not f.on("reject-padded-name"):
            name = name.strip(" ")
        if not name and not f.on("accept-blank-name"):
            raise CmdbError(m.PARAMS_NEED_SET, "bk_set_name")
        limit = NAME_MAX_RUNES - 1 if f.on("reject-name-256") else NAME_MAX_RUNES
        if len(name) > limit and not f.on("accept-long-name"):
            raise CmdbError(m.VALUE_EXCEED_MAX, "bk_set_name", NAME_MAX_RUNES)
        if name and not f.on("accept-forbidden-chars") and not NAME_RE.fullmatch(name):
            raise CmdbError(m.PARAMS_INVALID, "bk_set_name")
        if f.on("reject-multibyte-name") and not name.isascii():
            raise CmdbError(m.PARAMS_INVALID, "bk_set_name")
        data["bk_set_name"] = name

    def _validate_values(self, data: dict[str, Any], sent: dict[str, Any]) -> None:
        """C7: drop unknown keys, TrimSpace strings, validate each attribute."""
        f = self.faults
        # Go map order is random; any fixed order is as good.  Keys filled by C3
        # hold valid defaults, so only keys the client sent need the checks.
        for key in sorted(k for k in data if k in sent or k == "bk_set_name"):
            if key in IGNORE_KEYS:
                continue
            if key == "description" and f.on("reject-description") and key in sent:
                raise CmdbError(m.PARAMS_INVALID, "description")
            attr = ATTRS.get(key)
            if attr is None:
                if not f.on("data-unknown-field-kept"):
                    del data[key]
                continue
            value = data[key]
            if isinstance(value, str):
                value = go_trim_space(value)
            data[key] = self._validate_attr(key, attr, value)

    # --------------------------------------------------------------- create_set
    def create_set(self, call: Call, biz_id: int, data: dict[str, Any]) -> CmdbResponse:
        """POST /api/v3/set/{bk_biz_id} (research §1.1 and §9)."""
        try:
            with self.store.transaction() as tx:
                denied = self._denied(call, tx, biz_id)
                if denied:
                    return denied
                prepared = self._prepare_create(call, tx, biz_id, data)
                if not self.faults.on("state-race-duplicate"):
                    return self._insert(call, tx, *prepared)
            # The race fault: check, release, sleep, insert without an index.
            with self.store.transaction() as tx:
                taken = tx.name_taken(prepared[0].get("bk_parent_id"), str(prepared[0]["bk_set_name"]))
            if taken:
                return self._err(call, CmdbError(m.SET_NAME_DUPLICATED))
            time.sleep(0.02)
            with self.store.transaction() as tx:
                return self._insert(call, tx, *prepared)
        except CmdbError as error:
            return self._err(call, error)

    def _prepare_create(
        self, call: Call, tx: Tx, biz_id: int, sent: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None, Any, CmdbError | None]:
        """T2-C8; returns (data, template, name as sent, pending C7 error)."""
        f = self.faults
        self._check_path_biz(biz_id)
        data = dict(sent)
        sent_name = sent.get("bk_set_name")
        # T3
        data["bk_biz_id"] = biz_id
        data.pop("metadata", None)
        # T4
        if "default" not in data:
            data["default"] = 0
            default = 0
        else:
            try:
                default = parse_default(data["default"])
            except CmdbError:
                if not f.on("accept-bad-default"):
                    raise
                data["default"] = default = 0
        # T5-T7
        template = None
        if "set_template_id" in data:
            tpl_id = data["set_template_id"]
            if not is_json_int(tpl_id):
                raise CmdbError(m.PARAMS_INVALID, SET_TEMPLATE_ID_ARG)
            if tpl_id != 0:
                if f.on("reject-template"):
                    raise CmdbError(m.NOT_FOUND)
                template = tx.set_template(biz_id, tpl_id)
                if template is None and not f.on("accept-unknown-template"):
                    raise CmdbError(m.NOT_FOUND)
        if default != 0:
            template = None
        data["set_template_id"] = template["id"] if template else 0
        if f.on("data-template-id-dropped"):
            data["set_template_id"] = 0
        # C1 (choice: 0 and negative ids are rejected like a missing business)
        if not f.on("accept-unknown-business") and (biz_id <= 0 or tx.business(biz_id) is None):
            raise CmdbError(m.PARAMS_IS_INVALID, "bk_biz_id")
        # C2 (never wrapped)
        if "bk_set_name" not in data:
            raise CmdbError(m.PARAMS_NEED_SET, "bk_set_name")
        if "bk_parent_id" not in data:
            if not f.on("accept-missing-parent"):
                raise CmdbError(m.PARAMS_NEED_SET, "bk_parent_id")
            data["bk_parent_id"] = None
        # C3 FillLostFieldValue
        self._fill_lost(data)
        pending: CmdbError | None = None
        try:
            # C4, C5
            self._validate_name(data)
            # C6
            parent = data["bk_parent_id"]
            if not (parent is None and f.on("accept-missing-parent")) and (
                    not is_json_int(parent) or parent <= 0):
                raise CmdbError(m.PARAMS_INVALID, "bk_parent_id")
            # C7
            try:
                self._validate_values(data, sent)
            except CmdbError as error:
                raise _C7Error(error) from None
        except _C7Error as marked:
            if not f.on("state-persist-on-error"):
                raise self._wrapped(marked.error) from None
            pending = self._wrapped(marked.error)
        except CmdbError as error:
            raise self._wrapped(error) from None
        if f.on("data-capacity-default-0") and "bk_capacity" not in sent:
            data["bk_capacity"] = 0
        return data, template, sent_name, pending

    def _fill_lost(self, data: dict[str, Any]) -> None:
        f = self.faults
        defaults: dict[str, Any] = {
            "bk_set_desc": "", "description": "",
            "bk_set_env": "2" if f.on("data-env-default-2") else "3",
            "bk_service_status": "2" if f.on("data-status-default-2") else "1",
            "bk_capacity": None,
            "set_template_version": None, "bk_created_at": None, "bk_created_by": None,
            "bk_updated_at": None, "bk_updated_by": None,
        }
        for key, value in defaults.items():
            if key not in data:
                data[key] = value

    def _next_set_id(self, tx: Tx) -> int:
        if self.faults.on("state-id-reuse"):
            return tx.max_set_id() + 1
        return tx.next_id("set")

    def _insert(self, call: Call, tx: Tx, data: dict[str, Any], template: dict[str, Any] | None,
                sent_name: Any, pending: CmdbError | None) -> CmdbResponse:
        """C9 + T12: take an id, insert (unique index), create template modules."""
        f = self.faults
        set_id = self._next_set_id(tx)
        now = now_text(f)
        doc = dict(data)
        doc.update({
            "bk_set_id": set_id, "bk_supplier_account": call.owner,
            "create_time": now, "last_time": now, "bk_created_at": now, "bk_updated_at": now,
            "bk_created_by": call.user,
        })
        if pending is not None:  # fault state-persist-on-error
            with contextlib.suppress(DuplicateName):
                tx.insert_set(doc)
            return self._err(call, pending)
        if not f.on("state-not-persisted"):
            try:
                tx.insert_set(doc)
            except DuplicateName:
                # The id stays consumed: the sequence update is committed.
                return self._err(call, CmdbError(m.SET_NAME_DUPLICATED))
            if template is not None:
                for svc in tx.service_templates(template["id"]):
                    tx.insert_module({
                        "bk_module_id": tx.next_id("module"), "bk_module_name": svc["name"],
                        "bk_set_id": set_id, "bk_parent_id": set_id, "bk_biz_id": doc["bk_biz_id"],
                        "service_template_id": svc["id"], "set_template_id": template["id"],
                        "service_category_id": svc["service_category_id"], "default": 0,
                        "bk_supplier_account": call.owner, "create_time": now, "last_time": now,
                    })
        return self._ok(call, self._present_created(dict(sorted(doc.items())), sent_name))

    def _present_created(self, doc: dict[str, Any], sent_name: Any) -> dict[str, Any]:
        """Apply the success-data faults to a create response."""
        f = self.faults
        if not f:
            return doc
        if f.on("data-capacity-string") and doc.get("bk_capacity") is not None:
            doc["bk_capacity"] = str(doc["bk_capacity"])
        if f.on("data-set-id-string"):
            doc["bk_set_id"] = str(doc["bk_set_id"])
        if f.on("data-name-untrimmed"):
            doc["bk_set_name"] = sent_name
        if f.on("data-desc-dropped"):
            doc["bk_set_desc"] = ""
        if f.on("data-default-missing"):
            doc.pop("default", None)
        if f.on("data-template-version-array"):
            doc["set_template_version"] = []
        if f.on("data-supplier-account-empty"):
            doc["bk_supplier_account"] = ""
        return doc

    # --------------------------------------------------------------- update_set
    def update_set(self, call: Call, biz_id: int, set_id: int, sent: dict[str, Any]) -> CmdbResponse:
        """PUT /api/v3/set/{bk_biz_id}/{bk_set_id} (research §6)."""
        try:
            with self.store.transaction() as tx:
                denied = self._denied(call, tx, biz_id)
                if denied:
                    return denied
                self._check_path_biz(biz_id)
                current = tx.get_set(set_id)
                if current is None or current.get("bk_biz_id") != biz_id:
                    raise CmdbError(m.NOT_FOUND)
                if default_flag(current) != 0:
                    raise CmdbError(m.BUILT_IN_SET)
                data = dict(sent)
                # Choice: `default` is stripped too, so a set cannot become built-in by update.
                for key in ("bk_parent_id", "bk_biz_id", "bk_set_id", "set_template_id",
                            "metadata", "default", "bk_supplier_account"):
                    data.pop(key, None)
                try:
                    if "bk_set_name" in data:
                        self._validate_name(data)
                    self._validate_values(data, sent)
                except CmdbError as error:
                    raise self._wrapped(error) from None
                now = now_text(self.faults)
                doc = {**current, **data, "bk_updated_by": call.user, "bk_updated_at": now,
                       "last_time": now}
                if (doc["bk_set_name"] != current["bk_set_name"]
                        and self.faults.on("state-race-duplicate")
                        and tx.name_taken(doc.get("bk_parent_id"), doc["bk_set_name"], set_id)):
                    raise CmdbError(m.SET_NAME_DUPLICATED)
                try:
                    tx.update_set(doc)
                except DuplicateName:
                    raise CmdbError(m.SET_NAME_DUPLICATED) from None
                return self._ok(call, None)
        except CmdbError as error:
            return self._err(call, error)

    # --------------------------------------------------------------- delete_set
    def delete_sets(self, call: Call, biz_id: int, set_ids: list[int]) -> CmdbResponse:
        """DELETE /api/v3/set/{bk_biz_id}/{id|batch}: built-ins refused, unknown ids ignored."""
        try:
            with self.store.transaction() as tx:
                denied = self._denied(call, tx, biz_id)
                if denied:
                    return denied
                self._check_path_biz(biz_id)
                found: list[int] = []
                for set_id in set_ids:
                    doc = tx.get_set(set_id)
                    if doc is None or doc.get("bk_biz_id") != biz_id:
                        continue
                    if default_flag(doc) != 0:
                        raise CmdbError(m.BUILT_IN_SET)
                    found.append(set_id)
                if found and not self.faults.on("state-delete-noop"):
                    tx.delete_sets(found)
                return self._ok(call, None)
        except CmdbError as error:
            return self._err(call, error)

    # --------------------------------------------------------------- searches
    def search_set(self, call: Call, biz_id: int, fields: list[Any] | None,
                   condition: dict[str, Any] | None, filter_: dict[str, Any] | None,
                   page: dict[str, Any] | None) -> CmdbResponse:
        """POST /api/v3/set/search/{owner}/{bk_biz_id} -> {count, info}."""
        try:
            if condition and filter_:
                raise CmdbError(m.PARAMS_IS_INVALID, "condition and filter")
            self._check_path_biz(biz_id)
            with self.store.transaction() as tx:
                docs = tx.sets_of_biz(biz_id)
            if condition:
                docs = [d for d in docs if match_condition(d, condition)]
            elif filter_:
                docs = [d for d in docs if match_filter(d, filter_)]
            if call.lang == "en":
                for d in docs:
                    if d.get("bk_set_name") == IDLE_SET_NAME and default_flag(d) == 1:
                        d["bk_set_name"] = "idle pool"
            if self.faults.on("data-supplier-account-empty"):
                for d in docs:
                    d["bk_supplier_account"] = ""
            count, info = paginate(docs, page, "bk_set_id")
            return self._ok(call, {"count": count, "info": project(info, fields)})
        except CmdbError as error:
            return self._err(call, error)

    def search_business(self, call: Call, fields: list[Any] | None,
                        condition: dict[str, Any] | None, page: dict[str, Any] | None) -> CmdbResponse:
        """POST /api/v3/biz/search/{owner} -> {count, info}; default:0 unless asked."""
        try:
            cond = dict(condition or {})
            cond.setdefault("default", 0)
            with self.store.transaction() as tx:
                docs = [d for d in tx.businesses() if match_condition(d, cond)]
            count, info = paginate(docs, page, "bk_biz_id")
            return self._ok(call, {"count": count, "info": project(info, fields)})
        except CmdbError as error:
            return self._err(call, error)

    def list_set_template(self, call: Call, biz_id: int, ids: list[Any] | None,
                          page: dict[str, Any] | None) -> CmdbResponse:
        """POST /api/v3/findmany/topo/set_template/bk_biz_id/{bk_biz_id} -> {count, info}."""
        try:
            self._check_path_biz(biz_id)
            if ids is not None and not all(is_json_int(i) for i in ids):
                raise CmdbError(m.JSON_UNMARSHAL_FAILED)
            with self.store.transaction() as tx:
                docs = tx.set_templates(biz_id)
            if ids:
                docs = [d for d in docs if d["id"] in ids]
            count, info = paginate(docs, page, "id")
            return self._ok(call, {"count": count, "info": info})
        except CmdbError as error:
            return self._err(call, error)

    def search_biz_inst_topo(self, call: Call, biz_id: int, level: int | None) -> CmdbResponse:
        """POST /api/v3/find/topoinst/biz/{bk_biz_id} -> [biz node with sets and modules]."""
        try:
            self._check_path_biz(biz_id)
            with self.store.transaction() as tx:
                biz = tx.business(biz_id)
                if biz is None:
                    return self._ok(call, [])
                sets = tx.sets_of_biz(biz_id)
                modules = {s["bk_set_id"]: tx.modules_of_set(s["bk_set_id"]) for s in sets}
            children = [{
                "bk_inst_id": s["bk_set_id"], "bk_inst_name": s["bk_set_name"], "bk_obj_id": "set",
                "bk_obj_name": "集群", "default": s.get("default", 0),
                "child": [{
                    "bk_inst_id": mod["bk_module_id"], "bk_inst_name": mod["bk_module_name"],
                    "bk_obj_id": "module", "bk_obj_name": "模块", "default": mod.get("default", 0),
                    "child": [],
                } for mod in modules[s["bk_set_id"]]],
            } for s in sets]
            return self._ok(call, [{
                "bk_inst_id": biz_id, "bk_inst_name": biz["bk_biz_name"], "bk_obj_id": "biz",
                "bk_obj_name": "业务", "default": biz.get("default", 0), "child": children,
            }])
        except CmdbError as error:
            return self._err(call, error)
