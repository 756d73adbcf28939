"""Fault catalogue: named, realistic server bugs the emulator can switch on.

Boundary: this module only names and describes faults and answers "is fault X
on?".  A fault is one of three kinds, and never a branch in the faithful code:
- a rule fault overrides one entry of the rule table (`rules.OVERRIDES`);
- an envelope or data fault post-processes the answer (`postprocess.POSTPROCESSORS`);
- a behavioural fault (`SEAMS`: races, persistence, ids, deletes, auth,
  robustness) is read at one named seam in `cmdb.py`, `store.py` or `esb.py`.
The contract suite's mutation self-test starts the emulator with
`--fault NAME` and expects at least one of its checks to fail.
"""

from __future__ import annotations

from collections.abc import Iterable

CATALOGUE: dict[str, str] = {
    # Envelope
    "envelope-result-string": 'result serialized as the string "true"/"false"',
    "envelope-code-string": 'code serialized as a string ("0", "1199011")',
    "envelope-result-true-on-error": "CMDB errors answered with result true (code kept)",
    "envelope-code-nonzero-on-success": "successful create answered with code 1 (result true)",
    "envelope-no-request-id": "no request_id key on create_set responses",
    "envelope-request-id-dashed": "request_id as a 36-char dashed uuid4",
    "envelope-empty-message-on-error": 'message "" on CMDB errors',
    "envelope-data-on-error": "data {} (not null) on CMDB errors",
    "envelope-permission-null-on-403": "9900403 answered with permission null",
    "envelope-permission-on-success": "permission {} on success",
    "envelope-content-type-html": "Content-Type text/html; charset=utf-8 on every response",
    "envelope-http-400-on-error": "HTTP 400 status for CMDB (not ESB) errors",
    # Success data
    "data-capacity-string": "bk_capacity returned as a string when set",
    "data-set-id-string": "bk_set_id returned as a string",
    "data-name-untrimmed": "the response echoes the name as sent (untrimmed) though storage is trimmed",
    "data-desc-dropped": 'bk_set_desc returned "" even when sent',
    "data-env-default-2": 'bk_set_env defaults to "2"',
    "data-status-default-2": 'bk_service_status defaults to "2"',
    "data-default-missing": "default key missing from the create response",
    "data-template-version-array": "set_template_version [] instead of null",
    "data-time-not-rfc3339": "create_time/last_time like 2022-02-22 20:34:01",
    "data-unknown-field-kept": "unknown data fields stored and returned",
    "data-capacity-default-0": "absent bk_capacity filled with 0",
    "data-template-id-dropped": "set_template_id stored 0 even with a valid template",
    "data-supplier-account-empty": 'bk_supplier_account "" in responses',
    # Accepting invalid input
    "accept-forbidden-chars": "name regex check off",
    "accept-long-name": "256-rune name limit off",
    "accept-long-name-bytes": "256-byte name limit off",
    "accept-blank-name": "name empty after trim accepted",
    "accept-capacity-out-of-range": "bk_capacity range check off",
    "accept-bad-enum": "enum id check off (any string accepted)",
    "accept-missing-parent": "bk_parent_id not required (stored null)",
    "accept-unknown-business": "business existence check off",
    "accept-wrong-secret": "app secret not verified",
    "accept-missing-user": "user identity not required",
    "accept-empty-data": "data {} passes the ESB form (then CMDB answers 1199010)",
    "accept-long-desc": "bk_set_desc byte limit off",
    "accept-unknown-template": "unknown set_template_id ignored (created with 0)",
    "accept-bad-default": "unparsable default accepted and stored as 0",
    "accept-non-string-name": "non-string names converted with str()",
    # Rejecting valid input
    "reject-name-256": "name limit off by one (256 runes rejected with 1199073)",
    "reject-multibyte-name": "non-ASCII names rejected with 1199006",
    "reject-padded-name": "names not trimmed before the regex (leading/trailing spaces rejected)",
    "reject-capacity-max": "bk_capacity 999999999 rejected",
    "reject-capacity-min": "bk_capacity 1 rejected",
    "reject-header-auth": "X-Bkapi-Authorization ignored (auth only from params)",
    "reject-body-auth": "credentials in the body ignored (header only)",
    "reject-description": "description treated as unknown attribute -> 1199006",
    "reject-template": "any non-zero set_template_id -> 1199019",
    "reject-env-test": 'bk_set_env "1" rejected with 1199006',
    "reject-no-content-type": "bodies without Content-Type: application/json not parsed",
    # State
    "state-persist-on-error": "create_set failing in C7 attribute validation still stores the set",
    "state-not-persisted": "successful create_set not stored (search finds nothing)",
    "state-duplicate-allowed": "(parent, name) uniqueness off",
    "state-race-duplicate": "uniqueness is check-then-insert with a ~20 ms gap and no unique index",
    "state-case-insensitive-names": "uniqueness compares names case-insensitively",
    "state-delete-noop": "delete_set / batch_delete_set answer success and delete nothing",
    "state-id-reuse": "new bk_set_id = max(existing id) + 1 (deleted ids come back)",
    # Versions
    "version-313-codes-under-314": "when running as 3.14, serve 3.13's (unwrapped) codes",
    "version-314-codes-under-313": "when running as 3.13, serve 3.14's wrapped codes",
    # Robustness
    "robust-html-500-on-bad-json": "malformed JSON body -> HTTP 500 with an HTML traceback page",
    "robust-500-on-list-data": "data that is a JSON list -> HTTP 500 with a plain-text traceback",
    # The set model (custom attributes, research cmdb_model_attributes.md)
    "model-regex-not-enforced": "the regex option of custom singlechar/longchar attributes is not checked",
    "model-range-not-enforced": "the min/max option of custom int/float attributes is not checked",
    "model-default-not-applied": "absent custom attributes are filled by type only; their default is ignored",
    "model-biz-attr-everywhere": "business-scoped attributes are loaded in every business",
    "model-float-string-coerced": 'float attributes store a numeric string ("1.5") as a number',
    "model-313-codes-under-314": "when running as 3.14, custom attributes' errors keep 3.13's unwrapped codes",
    "model-recorded-fields-not-validated": "client values of bk_created_by/_at, bk_updated_by/_at are not validated",
    "model-bool-string-accepted": 'bool attributes accept "true"/"false" strings and store them as sent',
    "model-error-arg-property-id": "attribute errors name the property id instead of bk_property_name",
    "model-int-fraction-rejected": "int attributes refuse non-integral numbers even when 0 is in range",
}

# Behavioural faults, each read at one named seam (the rest are rule overrides or post-processors).
SEAMS: frozenset[str] = frozenset({
    "state-persist-on-error", "state-not-persisted", "state-duplicate-allowed", "state-race-duplicate",
    "state-case-insensitive-names", "state-delete-noop", "state-id-reuse",
    "accept-wrong-secret", "accept-missing-user", "reject-header-auth", "reject-body-auth",
    "reject-no-content-type", "robust-html-500-on-bad-json", "robust-500-on-list-data",
})


class UnknownFault(ValueError):
    """Raised for a fault name that is not in the catalogue."""


class Faults:
    """The set of switched-on faults; `faults.on(name)` is the only query."""

    __slots__ = ("_active",)

    def __init__(self, names: Iterable[str] = ()) -> None:
        active = frozenset(names)
        unknown = sorted(active - CATALOGUE.keys())
        if unknown:
            raise UnknownFault(", ".join(unknown))
        self._active = active

    def on(self, name: str) -> bool:
        """Return True when fault `name` is switched on."""
        # Hot path: no name check here; a misspelt hook never fires, which the
        # per-fault probe in tests/emulator/test_faults.py would catch.
        return name in self._active

    def __bool__(self) -> bool:
        return bool(self._active)

    def __repr__(self) -> str:
        return f"Faults({sorted(self._active)!r})"
