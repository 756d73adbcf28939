"""The CMDB layer: what topo_server + core_service do behind ESB.

Boundary: business rules only.  `Cmdb.create_set` follows the research's
step table line by line (cmdb_create_set.md §1.1: T2-T7 topo, C1-C9 core,
T12 modules; cmdb_model_attributes.md §7 for C2/C3/C7/C8 over the set
model); the related APIs follow §6 and §6.1, update_set §5 of the model
note.  Limits and switches come from the rule table (`rules.py`), values
are checked by `values.py`; the only fault names read here are the
behavioural seams (`faults.SEAMS`).  Input is the already form-validated
ESB call; output is a `CmdbResponse` that `esb.py` wraps in the envelope.
Persistence goes through `store.Tx`.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import messages as m
from .faults import Faults
from .golang import trim_space
from .messages import SET_TEMPLATE_ID_ARG, CmdbError
from .model import CREATE_IGNORE_KEYS, UPDATE_IGNORE_KEYS, describe, document
from .rules import Rules, rules_for
from .store import INT64_MAX, INT64_MIN, DuplicateName, Store, Tx
from .values import Check, compile_check, stored_time, validate
from .world import IDLE_SET_NAME, World

NAME_MAX_RUNES = 256  # the number 1199073 names, whatever the rule table enforces
TZ_CST = timezone(timedelta(hours=8))
EN_IDLE_SET_NAME = "idle pool"  # resources/language/en/inst.json inst_set_default
PERMISSION_SYSTEM = {"system_id": "bk_cmdb", "system_name": "配置平台"}
# bk_created_at / bk_updated_at: C8 leaves them alone from release-v3.13.3, save() overwrites them.
C8_SKIPPED = frozenset({"bk_created_at", "bk_updated_at"})
# Topo strips these from update_set data (logics/inst/set.go, inst.go).
UPDATE_STRIPPED = ("metadata", "bk_biz_id", "bk_set_id", "set_template_id", "bk_parent_id")


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
    rid: str = ""  # the ESB request_id, which CMDB takes as its rid (X-Bkapi-Request-Id)


@dataclass(frozen=True)
class View:
    """The set model one business sees (C2 `requireFields`, C3 `propertySlice`, C7 `properties`)."""

    checks: tuple[Check, ...]
    by_key: dict[str, Check] = field(default_factory=dict)

    @property
    def required(self) -> tuple[str, ...]:
        """Required property ids in DB order (in practice bk_set_name, bk_parent_id)."""
        return tuple(c.key for c in self.checks if c.attr.isrequired)


def is_json_int(value: Any) -> bool:
    """A JSON integer that fits int64 (bool is not an integer; 5.0 is not)."""
    return type(value) is int and INT64_MIN <= value <= INT64_MAX


def parse_default(value: Any) -> int:
    """T4: mapstr Int64("default"); raise 1199998 with the raw Go text on failure."""
    if type(value) is int:
        if INT64_MIN <= value <= INT64_MAX:
            return value
        raise CmdbError.go(f'strconv.ParseInt: parsing "{value}": value out of range')
    if type(value) is float:
        if value.is_integer() and INT64_MIN <= value <= INT64_MAX:
            return int(value)
        raise CmdbError.go(f'strconv.ParseInt: parsing "{value!r}": invalid syntax')
    if isinstance(value, str):
        if re.fullmatch(r"[+-]?[0-9]+", value):
            number = int(value)
            if INT64_MIN <= number <= INT64_MAX:
                return number
            raise CmdbError.go(f'strconv.ParseInt: parsing "{value}": value out of range')
        raise CmdbError.go(f'strconv.ParseInt: parsing "{value}": invalid syntax')
    if value is None:
        raise CmdbError.go("invalid key(default), not found value")
    raise CmdbError.go("invalid num")


def default_flag(doc: dict[str, Any]) -> int:
    """The stored `default` as an int, tolerant of strings (built-in check)."""
    try:
        return parse_default(doc.get("default", 0))
    except CmdbError:
        return 0


def prints_as_one(value: Any) -> bool:
    """fmt.Sprint(default) == "1" (TranslateInstanceName's test): 1, 1.0 and "1", never true."""
    return value == "1" or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 1)


def translated_set(doc: dict[str, Any], lang: str) -> dict[str, Any]:
    """multilingual.TranslateInstanceName on a set read through core (research cmdb §4, §6.1)."""
    name = doc.get("bk_set_name", IDLE_SET_NAME)
    if name == IDLE_SET_NAME and prints_as_one(doc.get("default")):
        doc["bk_set_name"] = EN_IDLE_SET_NAME if lang == "en" else IDLE_SET_NAME
    return doc


def now_text(rules: Rules) -> str:
    """Now as CMDB prints a stored datetime: Go RFC3339Nano in +08:00, milliseconds, zeros trimmed."""
    dt = datetime.fromtimestamp(time.time(), TZ_CST)
    if rules.time_layout == "datetime":
        return dt.strftime("%Y-%m-%d %H:%M:%S")
    frac = f"{dt.microsecond // 1000:03d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "+08:00"


class Cmdb:
    """create/search/update/delete of sets, the set model, and the read-only helpers."""

    def __init__(self, store: Store, world: World, faults: Faults, version: str) -> None:
        self.store = store
        self.world = world
        self.faults = faults
        self.version = version
        self.rules = rules_for(version, faults)
        self._instances = frozenset(b.bk_biz_id for b in world.businesses)
        self._views: dict[int, View] = {}

    # ------------------------------------------------------------------ helpers
    def _ok(self, call: Call, data: Any) -> CmdbResponse:
        return CmdbResponse(0, "success", data)

    def _err(self, call: Call, error: CmdbError) -> CmdbResponse:
        return CmdbResponse(error.code, error.message(call.lang))

    def _wrapped(self, error: CmdbError, custom: bool = False) -> CmdbError:
        """v3.14: errors of C3-C8 (and of update_set's checks) become 1199011 "'<inner>' ..."."""
        wrap = self.rules.wrap_custom_errors if custom else self.rules.wrap_errors
        return CmdbError(m.PARAMS_IS_INVALID, inner=error) if wrap else error

    def view(self, biz_id: int) -> View:
        """The attributes create_set loads for `biz_id`: global + that business's (research model §1.1)."""
        cached = self._views.get(biz_id)
        if cached is None:
            scope = biz_id if self.rules.business_scoped else None
            checks = tuple(compile_check(a, self.rules, self._instances)
                           for a in self.world.set_model.for_business(scope))
            cached = View(checks, {c.key: c for c in checks})
            self._views[biz_id] = cached
        return cached

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

    # ------------------------------------------------------- steps shared with update
    def _check_name(self, data: dict[str, Any]) -> None:
        """C4 + C5 on data["bk_set_name"] (which is present); writes back the trimmed name."""
        r = self.rules
        name = data["bk_set_name"]
        if not isinstance(name, str):
            if not r.name_coerced:
                raise CmdbError(m.PARAMS_NEED_STRING, "bk_set_name")
            name = str(name)
        name = name.strip(r.name_trim)  # strings.Trim(name, " "): ASCII spaces only
        if not name and not r.name_may_be_blank:
            raise CmdbError(m.PARAMS_NEED_SET, "bk_set_name")
        if len(name) > r.name_max_runes:
            raise CmdbError(m.VALUE_EXCEED_MAX, "bk_set_name", NAME_MAX_RUNES)
        if name and r.name_pattern is not None and not r.name_pattern.fullmatch(name):
            raise CmdbError(m.PARAMS_INVALID, "bk_set_name")
        data["bk_set_name"] = name

    def _check_value(self, check: Check, data: dict[str, Any], key: str, rid: str) -> None:
        """One C7 key: TrimSpace a top-level string (written back), then Attribute.Validate."""
        value = data[key]
        if isinstance(value, str):
            value = data[key] = trim_space(value)
        try:
            data[key] = validate(check, value, rid)
        except CmdbError as error:
            raise self._wrapped(error, check.custom) from None

    def _convert_times(self, data: dict[str, Any], view: View) -> None:
        """C8 changeStringToTime, DB order: a time string is stored as a datetime; "" and non-times fail."""
        for check in view.checks:
            if check.kind != "time" or check.key in C8_SKIPPED or data.get(check.key) is None:
                continue
            try:
                data[check.key] = stored_time(data[check.key])
            except CmdbError as error:
                raise self._wrapped(error, check.custom) from None

    # --------------------------------------------------------------- create_set
    def create_set(self, call: Call, biz_id: int, data: dict[str, Any]) -> CmdbResponse:
        """POST /api/v3/set/{bk_biz_id} (research cmdb §1.1 and §9, model §7)."""
        try:
            with self.store.transaction() as tx:
                denied = self._denied(call, tx, biz_id)
                if denied:
                    return denied
                prepared = self._prepare_create(call, tx, biz_id, data)
                if not self.faults.on("state-race-duplicate"):
                    return self._insert(call, tx, *prepared)
            # Seam of state-race-duplicate: check, release, sleep, insert without an index.
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
    ) -> tuple[dict[str, Any], dict[str, Any] | None, list[str], CmdbError | None]:
        """T2-C8; returns (data, template, innertable keys to attach, pending C7 error)."""
        r = self.rules
        # T2
        self._check_path_biz(biz_id)
        data = dict(sent)  # request order: C7 walks it first, the keys C3 fills come after
        # T3
        data["bk_biz_id"] = biz_id
        data.pop("metadata", None)
        # T4
        if "default" not in data:
            data["default"] = default = 0
        else:
            try:
                default = parse_default(data["default"])
            except CmdbError:
                if not r.bad_default_stored_as_zero:
                    raise
                data["default"] = default = 0
        # T5, T6
        template = None
        if "set_template_id" in data:
            tpl_id = data["set_template_id"]
            if not is_json_int(tpl_id):
                raise CmdbError(m.PARAMS_INVALID, SET_TEMPLATE_ID_ARG)
            if tpl_id != 0:
                template = None if r.template_lookup == "never-found" else tx.set_template(biz_id, tpl_id)
                if template is None and r.template_lookup != "unknown-ignored":
                    raise CmdbError(m.NOT_FOUND)
        # T7: the template's attribute values overwrite the client's
        if default != 0:
            template = None
        data["set_template_id"] = template["id"] if template and r.template_id_recorded else 0
        if template:
            data.update(self._template_attributes(template["id"]))
        # C1 (choice: 0 and negative ids are rejected like a missing business)
        if r.business_checked and (biz_id <= 0 or tx.business(biz_id) is None):
            raise CmdbError(m.PARAMS_IS_INVALID, "bk_biz_id")
        view = self.view(biz_id)
        # C2 (never wrapped)
        for key in view.required:
            if key not in data and (key != "bk_parent_id" or r.parent_required):
                raise CmdbError(m.PARAMS_NEED_SET, key)
        # C3 FillLostFieldValue (3.11.1+: the attribute defaults); filled values are valid by
        # construction (the seed loader refuses a default C7 would refuse), so C7 only trims them.
        filled: set[str] = set()
        for check in view.checks:
            if check.key not in data and check.fills:
                data[check.key] = check.fill()
                filled.add(check.key)
        # C4, C5, C6 (wrapped in 3.14)
        try:
            self._check_name(data)
            parent = data["bk_parent_id"]
            if not (parent is None and not r.parent_required) and (not is_json_int(parent) or parent <= 0):
                raise CmdbError(m.PARAMS_INVALID, "bk_parent_id")
        except CmdbError as error:
            raise self._wrapped(error) from None
        # C7 (Go map order; here: request order, then the filled keys)
        attach: list[str] = []
        try:
            self._check_create_values(data, view, sent, filled, attach, call.rid)
        except CmdbError as error:
            if not self.faults.on("state-persist-on-error"):  # seam
                raise
            return data, template, attach, error
        # C8
        self._convert_times(data, view)
        return data, template, attach, None

    def _check_create_values(self, data: dict[str, Any], view: View, sent: dict[str, Any],
                             filled: set[str], attach: list[str], rid: str) -> None:
        """C7 validateCreateInstValue over every key of `data`."""
        r = self.rules
        for key in list(data):
            if key in CREATE_IGNORE_KEYS:
                continue  # kept as sent, never validated
            if key in r.refused_keys and key in sent:
                raise self._wrapped(CmdbError(m.PARAMS_INVALID, key))
            check = view.by_key.get(key)
            if check is None:
                if r.unknown_keys_dropped:
                    del data[key]  # not an attribute of this model for this business
                continue
            if key in filled:
                if isinstance(data[key], str):
                    data[key] = trim_space(data[key])
                continue
            self._check_value(check, data, key, rid)
            if check.kind == "innertable":
                if data[key]:
                    attach.append(key)
                del data[key]

    def _template_attributes(self, template_id: int) -> dict[str, Any]:
        template = next((t for t in self.world.set_templates if t.id == template_id), None)
        return dict(template.attributes) if template else {}

    def _next_set_id(self, tx: Tx) -> int:
        if self.faults.on("state-id-reuse"):  # seam
            return tx.max_set_id() + 1
        return tx.next_id("set")

    def _insert(self, call: Call, tx: Tx, data: dict[str, Any], template: dict[str, Any] | None,
                attach: list[str], pending: CmdbError | None) -> CmdbResponse:
        """C9 save, the innertable attach, T12 modules, and the re-read through core (research cmdb §4)."""
        set_id = self._next_set_id(tx)
        now = now_text(self.rules)
        doc = dict(data)
        doc.update({
            "bk_set_id": set_id, "bk_supplier_account": call.owner,
            "create_time": now, "last_time": now, "bk_created_at": now, "bk_updated_at": now,
            "bk_created_by": call.user,
        })
        if pending is not None:  # seam of state-persist-on-error
            with contextlib.suppress(DuplicateName):
                tx.insert_set(doc)
            return self._err(call, pending)
        if self.faults.on("state-not-persisted"):  # seam
            return self._ok(call, translated_set(dict(sorted(doc.items())), call.lang))
        try:
            tx.insert_set(doc)
        except DuplicateName:
            # Any duplicate key answers 1101108; the id stays consumed (the sequence update is committed).
            return self._err(call, CmdbError(m.SET_NAME_DUPLICATED))
        if attach:
            # AttachQuotedInst: the emulator holds no table-model instances, so no id can be attached;
            # the set is rolled back (its id stays consumed) and the property id is named, unwrapped.
            tx.delete_sets([set_id])
            return self._err(call, CmdbError(m.PARAMS_INVALID, attach[0]))
        if template is not None:
            for svc in tx.service_templates(template["id"]):
                tx.insert_module({
                    "bk_module_id": tx.next_id("module"), "bk_module_name": svc["name"],
                    "bk_set_id": set_id, "bk_parent_id": set_id, "bk_biz_id": doc["bk_biz_id"],
                    "service_template_id": svc["id"], "set_template_id": template["id"],
                    "service_category_id": svc["service_category_id"], "default": 0, "bk_module_type": "1",
                    "operator": "", "bk_bak_operator": "", "host_apply_enabled": False,
                    "bk_supplier_account": call.owner, "create_time": now, "last_time": now,
                    "bk_created_at": now, "bk_updated_at": now, "bk_created_by": call.user, "bk_updated_by": None,
                })
        return self._ok(call, translated_set(dict(sorted(doc.items())), call.lang))

    # --------------------------------------------------------------- update_set
    def update_set(self, call: Call, biz_id: int, set_id: int, sent: dict[str, Any]) -> CmdbResponse:
        """PUT /api/v3/set/{bk_biz_id}/{bk_set_id} (research model §5, cmdb §6)."""
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
                self._check_template_bound(current, sent)
                data = dict(sent)
                for key in UPDATE_STRIPPED:
                    data.pop(key, None)
                view = self.view(int(current["bk_biz_id"]))
                if "bk_set_name" in data:
                    try:
                        self._check_name(data)
                    except CmdbError as error:
                        raise self._wrapped(error) from None
                self._check_update_values(data, view, call.rid)
                self._convert_times(data, view)
                now = now_text(self.rules)
                doc = {**current, **data, "bk_updated_by": call.user, "bk_updated_at": now, "last_time": now}
                if (doc["bk_set_name"] != current["bk_set_name"]
                        and self.faults.on("state-race-duplicate")  # seam: no unique index to rely on
                        and tx.name_taken(doc.get("bk_parent_id"), doc["bk_set_name"], set_id)):
                    raise CmdbError(m.SET_NAME_DUPLICATED)
                try:
                    tx.update_set(doc)
                except DuplicateName:
                    raise CmdbError(m.SET_NAME_DUPLICATED) from None
                return self._ok(call, None)
        except CmdbError as error:
            return self._err(call, error)

    def _check_update_values(self, data: dict[str, Any], view: View, rid: str) -> None:
        """validOneUpdateInstKeyVal: no fill, no required check; non-editable keys silently dropped."""
        r = self.rules
        for key in list(data):
            if key in UPDATE_IGNORE_KEYS:
                continue  # kept as sent: "default": 1 makes the set built-in afterwards
            check = view.by_key.get(key)
            if check is None:
                if r.unknown_keys_dropped:
                    del data[key]
                continue
            if not check.attr.editable or check.kind == "innertable":
                del data[key]
                continue
            if key in r.refused_keys:
                raise self._wrapped(CmdbError(m.PARAMS_INVALID, key))
            self._check_value(check, data, key, rid)

    def _check_template_bound(self, current: dict[str, Any], sent: dict[str, Any]) -> None:
        """Topo: a set made from a template may not change the template's attributes (1199083, unwrapped)."""
        tpl_id = current.get("set_template_id") or 0
        if not tpl_id:
            return
        bound = self._template_attributes(int(tpl_id))
        changed = [k for k in sent if k in bound and not _same(sent[k], current.get(k))]
        if changed:
            raise CmdbError(m.MODIFY_FORBIDDEN, ",".join(changed))

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
                if found and not self.faults.on("state-delete-noop"):  # seam
                    tx.delete_sets(found)
                return self._ok(call, None)
        except CmdbError as error:
            return self._err(call, error)

    # --------------------------------------------------------------- searches
    def search_set(self, call: Call, biz_id: int, fields: list[Any] | None,
                   condition: dict[str, Any] | None, filter_: dict[str, Any] | None,
                   page: dict[str, Any] | None) -> CmdbResponse:
        """POST /api/v3/set/search/{owner}/{bk_biz_id} -> {count, info} (research cmdb §6.1)."""
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
            # Core appends `default` to a projection of >= 2 fields, or of 1 non-empty field.
            if fields and (len(fields) > 1 or fields[0] != ""):
                fields = [*fields, "default"]
            count, info = paginate(docs, page, "bk_set_id")
            rows = [translated_set(row, call.lang) for row in project(info, fields)]
            return self._ok(call, {"count": count, "info": rows})
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
        """POST /api/v3/find/topoinst/biz/{bk_biz_id}: the whole tree, `level` ignored (research cmdb §6.1)."""
        try:
            self._check_path_biz(biz_id)
            with self.store.transaction() as tx:
                biz = tx.business(biz_id)
                if biz is None:
                    return self._ok(call, [])
                # Sets are attached by bk_parent_id only (no bk_biz_id filter), without the idle set
                # (default != 1; a string "1" is not 1 to Mongo), sorted by `default`.
                sets = [s for s in tx.sets_under_parent(biz_id) if not _mongo_equals_one(s.get("default"))]
                sets.sort(key=lambda s: (_sort_key(s.get("default", 0)), s["bk_set_id"]))
                modules = {s["bk_set_id"]: tx.modules_of_set(s["bk_set_id"]) for s in sets}
            children = [{
                "bk_inst_id": s["bk_set_id"], "bk_inst_name": translated_set(s, call.lang)["bk_set_name"],
                "bk_obj_id": "set", "bk_obj_name": "集群", "default": default_flag(s),
                "child": [{
                    "bk_inst_id": mod["bk_module_id"], "bk_inst_name": mod["bk_module_name"],
                    "bk_obj_id": "module", "bk_obj_name": "模块", "default": mod.get("default", 0),
                    "child": [],
                } for mod in sorted(modules[s["bk_set_id"]], key=lambda d: (d.get("default", 0), d["bk_module_id"]))],
            } for s in sets]
            return self._ok(call, [{
                "bk_inst_id": biz_id, "bk_inst_name": biz["bk_biz_name"], "bk_obj_id": "biz",
                "bk_obj_name": "业务", "default": biz.get("default", 0), "child": children,
            }])
        except CmdbError as error:
            return self._err(call, error)

    def search_object_attribute(self, call: Call, condition: dict[str, Any]) -> CmdbResponse:
        """POST /api/v3/find/objectattr: the set model as the API shows it (research model §4)."""
        try:
            cond = dict(condition)
            biz_id = cond.pop("bk_biz_id", None)
            if biz_id is not None and not is_json_int(biz_id):
                raise CmdbError(m.JSON_UNMARSHAL_FAILED)  # ModelType.BizID is an int64
            page = cond.pop("page", None)
            if page is not None and not isinstance(page, dict):
                raise CmdbError(m.PARAMS_IS_INVALID, "page")
            # topo forces these, whatever the client asked for
            cond["bk_issystem"] = False
            cond["bk_isapi"] = False
            scope = biz_id if biz_id and biz_id > 0 else 0
            attrs = [a for a in self.world.set_model.for_business(scope)
                     if a.bk_property_type != "innertable" and match_condition(document(a), cond)]
            docs = [{"id": a.id, "attr": a} for a in attrs]
            _, shown = paginate(docs, page, "id")
            return self._ok(call, [describe(d["attr"], call.lang) for d in shown])
        except CmdbError as error:
            return self._err(call, error)


def _same(a: Any, b: Any) -> bool:
    """reflect.DeepEqual of two decoded JSON values (true is not 1)."""
    return a == b and type(a) is type(b)


def _mongo_equals_one(value: Any) -> bool:
    """Whether Mongo's {default: {$ne: 1}} leaves the row out (numbers equal to 1, not the string "1")."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 1


# ---------------------------------------------------------------- query helpers
_MISSING = object()


def _eq(a: Any, b: Any) -> bool:
    # Mongo does not equate true with 1.
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _cmp(op: str, have: Any, want: Any) -> bool:
    """Mongo-style ordering: numbers with numbers, strings with strings, else no match."""
    if isinstance(have, bool) or isinstance(want, bool):
        return False
    both_numbers = isinstance(have, (int, float)) and isinstance(want, (int, float))
    if not both_numbers and not (isinstance(have, str) and isinstance(want, str)):
        return False
    if op == "$gt":
        return bool(have > want)
    if op == "$gte":
        return bool(have >= want)
    if op == "$lt":
        return bool(have < want)
    return bool(have <= want)


def match_condition(doc: dict[str, Any], condition: dict[str, Any]) -> bool:
    """Mongo-style condition: equality, $eq/$ne/$in/$nin/$regex/$gt/$gte/$lt/$lte."""
    for key, want in condition.items():
        have = doc.get(key, _MISSING)
        if isinstance(want, dict) and want and all(str(k).startswith("$") for k in want):
            for op, arg in want.items():
                if op == "$eq":
                    ok = have is not _MISSING and _eq(have, arg)
                elif op == "$ne":
                    ok = have is _MISSING or not _eq(have, arg)
                elif op in ("$in", "$nin"):
                    if not isinstance(arg, list):
                        raise CmdbError(m.PARAMS_IS_INVALID, "condition")
                    ok = have is not _MISSING and any(_eq(have, x) for x in arg)
                    ok = ok if op == "$in" else not ok
                elif op == "$regex":
                    if not isinstance(arg, str):
                        raise CmdbError(m.PARAMS_IS_INVALID, "condition")
                    try:
                        ok = isinstance(have, str) and re.search(arg, have) is not None
                    except (re.error, RecursionError, OverflowError):
                        raise CmdbError(m.PARAMS_IS_INVALID, "condition") from None
                elif op in ("$gt", "$gte", "$lt", "$lte"):
                    ok = have is not _MISSING and _cmp(op, have, arg)
                else:
                    raise CmdbError(m.PARAMS_IS_INVALID, "condition")
                if not ok:
                    return False
        elif have is _MISSING:
            if want is not None:  # {field: null} matches a missing field, as in Mongo
                return False
        elif not _eq(have, want):
            return False
    return True


_FILTER_OPS = {
    "equal": lambda h, v: _eq(h, v),
    "not_equal": lambda h, v: not _eq(h, v),
    "in": lambda h, v: isinstance(v, list) and any(_eq(h, x) for x in v),
    "not_in": lambda h, v: isinstance(v, list) and not any(_eq(h, x) for x in v),
    "less": lambda h, v: _cmp("$lt", h, v),
    "less_or_equal": lambda h, v: _cmp("$lte", h, v),
    "greater": lambda h, v: _cmp("$gt", h, v),
    "greater_or_equal": lambda h, v: _cmp("$gte", h, v),
    "contains": lambda h, v: isinstance(h, str) and isinstance(v, str) and v.lower() in h.lower(),
    "begins_with": lambda h, v: isinstance(h, str) and isinstance(v, str) and h.startswith(v),
    "ends_with": lambda h, v: isinstance(h, str) and isinstance(v, str) and h.endswith(v),
    "exist": lambda h, v: h is not _MISSING,
    "not_exist": lambda h, v: h is _MISSING,
}


def match_filter(doc: dict[str, Any], node: Any, depth: int = 0) -> bool:
    """CMDB querybuilder filter: {condition: AND|OR, rules: [...]} or one rule."""
    if not isinstance(node, dict) or depth > 3:
        raise CmdbError(m.PARAMS_IS_INVALID, "filter")
    if "rules" in node:
        rules = node["rules"]
        cond = node.get("condition")
        if not isinstance(rules, list) or not rules or cond not in ("AND", "OR"):
            raise CmdbError(m.PARAMS_IS_INVALID, "filter")
        results = [match_filter(doc, r, depth + 1) for r in rules]
        return all(results) if cond == "AND" else any(results)
    field, op = node.get("field"), node.get("operator")
    if not isinstance(field, str) or op not in _FILTER_OPS:
        raise CmdbError(m.PARAMS_IS_INVALID, "filter")
    have = doc.get(field, _MISSING)
    if have is _MISSING and op not in ("exist", "not_exist", "not_equal", "not_in"):
        return False
    return bool(_FILTER_OPS[op](have, node.get("value")))


def paginate(docs: list[dict[str, Any]], page: dict[str, Any] | None,
             default_sort: str) -> tuple[int, list[dict[str, Any]]]:
    """Sort and slice by page{start, limit, sort}; returns (count, page of docs)."""
    page = page or {}
    start, limit, sort = page.get("start", 0), page.get("limit", 0), page.get("sort") or default_sort
    if not is_json_int(start) or start < 0 or not is_json_int(limit) or limit < 0 \
            or not isinstance(sort, str):
        raise CmdbError(m.PARAMS_IS_INVALID, "page")
    docs = list(docs)
    for key in reversed([k.strip() for k in sort.split(",") if k.strip()]):
        reverse = key.startswith("-")
        name = key.lstrip("-+")
        docs.sort(key=lambda d: _sort_key(d.get(name)), reverse=reverse)
    count = len(docs)
    return count, docs[start:start + limit] if limit else docs[start:]


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (3, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (4, str(value))


def project(docs: list[dict[str, Any]], fields: list[Any] | None) -> list[dict[str, Any]]:
    """Keep only `fields` (all when empty)."""
    if not fields:
        return docs
    wanted = [f for f in fields if isinstance(f, str)]
    return [{k: d[k] for k in wanted if k in d} for d in docs]
