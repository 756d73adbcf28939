"""The rule table: every limit, pattern and switch the faithful validators read.

Boundary: data only.  `Rules()` holds what the research says the server
does (cmdb_create_set.md §1.1 step table, §2; cmdb_model_attributes.md
§2.2); `rules_for(version, faults)` starts from it and applies, for each
switched-on fault that is a rule fault, its override from `OVERRIDES`.
`cmdb.py` and `values.py` read the table and never ask which fault is on,
so a fault changes the answer only through the value it overrides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .faults import CATALOGUE, Faults

# C5 valid.ValidTopoNameField: RE2's \s is [\t\n\f\r ] (not Python's Unicode \s), so spell it out.
NAME_PATTERN = re.compile(r'[^\\|/:*,<>"?#\t\n\f\r ]+')
# The same pattern limited to printable ASCII (fault reject-multibyte-name).
ASCII_NAME_PATTERN = re.compile(r'[!-~]+')

VERSIONS = ("3.13", "3.14")


@dataclass(frozen=True)
class Rules:
    """What the emulated CMDB (release-v3.13.14 or release-v3.14.7) enforces."""

    version: str = "3.14"
    # 3.14: every C3-C8 error (and every update_set value error) becomes 1199011 "'<inner>' ..."
    wrap_errors: bool = True
    wrap_custom_errors: bool = True
    # E2: data {} is "This field is required."
    empty_data_accepted: bool = False
    # T4: an unparsable default is a plain Go error (1199998)
    bad_default_stored_as_zero: bool = False
    # T5-T7: "exact" = found by (id, business); else never found / unknown ids ignored
    template_lookup: Literal["exact", "never-found", "unknown-ignored"] = "exact"
    template_id_recorded: bool = True
    # C1, C2, C6
    business_checked: bool = True
    parent_required: bool = True
    # C4, C5 (mainline name check) and validChar's "##" check
    name_coerced: bool = False
    name_trim: str = " "
    name_may_be_blank: bool = False
    name_max_runes: int = 256
    name_pattern: re.Pattern[str] | None = NAME_PATTERN
    name_split_flag_refused: bool = True
    # C7
    unknown_keys_dropped: bool = True
    refused_keys: frozenset[str] = frozenset()
    enum_ids_checked: bool = True
    byte_limits_off: frozenset[str] = frozenset()
    option_overrides: Mapping[str, Any] = field(default_factory=dict)
    # C3: fill values that replace the type's fill for one attribute
    fill_overrides: Mapping[str, Any] = field(default_factory=dict)
    # C9: how the server's clock is printed ("rfc3339" is Go's RFC3339Nano)
    time_layout: Literal["rfc3339", "datetime"] = "rfc3339"
    # the set model (cmdb_model_attributes.md)
    regex_checked: bool = True
    custom_ranges_checked: bool = True
    attribute_defaults_applied: bool = True
    business_scoped: bool = True
    float_strings_kept: bool = True
    recorded_fields_validated: bool = True
    bool_strings_accepted: bool = False
    error_argument: Literal["name", "id"] = "name"
    int_fractions_accepted: bool = True

    @classmethod
    def for_version(cls, version: str) -> Rules:
        """The faithful table of `version` ("3.13" = release-v3.13.14, "3.14" = release-v3.14.7)."""
        if version not in VERSIONS:
            raise ValueError(f"unknown CMDB version {version!r}")
        wrap = version == "3.14"
        return cls(version=version, wrap_errors=wrap, wrap_custom_errors=wrap)


Override = Callable[[Rules], Rules]


def _option(attr: str, option: Any) -> Override:
    return lambda r: replace(r, option_overrides={**r.option_overrides, attr: option})


def _fill(attr: str, value: Any) -> Override:
    return lambda r: replace(r, fill_overrides={**r.fill_overrides, attr: value})


def _wrap(version: str, wrap: bool) -> Override:
    return lambda r: replace(r, wrap_errors=wrap, wrap_custom_errors=wrap) if r.version == version else r


_ENV_WITHOUT_TESTING = [{"id": "2", "name": "体验", "type": "text", "is_default": False},
                        {"id": "3", "name": "正式", "type": "text", "is_default": True}]

# Rule faults: each one is an override of one entry of the table above.
OVERRIDES: dict[str, Override] = {
    "data-env-default-2": _fill("bk_set_env", "2"),
    "data-status-default-2": _fill("bk_service_status", "2"),
    "data-time-not-rfc3339": lambda r: replace(r, time_layout="datetime"),
    "data-unknown-field-kept": lambda r: replace(r, unknown_keys_dropped=False),
    "data-capacity-default-0": _fill("bk_capacity", 0),
    "data-template-id-dropped": lambda r: replace(r, template_id_recorded=False),
    "accept-forbidden-chars": lambda r: replace(r, name_pattern=None, name_split_flag_refused=False),
    "accept-long-name": lambda r: replace(r, name_max_runes=2**31),
    "accept-long-name-bytes": lambda r: replace(r, byte_limits_off=r.byte_limits_off | {"bk_set_name"}),
    "accept-blank-name": lambda r: replace(r, name_may_be_blank=True),
    "accept-capacity-out-of-range": _option("bk_capacity", ""),
    "accept-bad-enum": lambda r: replace(r, enum_ids_checked=False),
    "accept-missing-parent": lambda r: replace(r, parent_required=False),
    "accept-unknown-business": lambda r: replace(r, business_checked=False),
    "accept-empty-data": lambda r: replace(r, empty_data_accepted=True),
    "accept-long-desc": lambda r: replace(r, byte_limits_off=r.byte_limits_off | {"bk_set_desc"}),
    "accept-unknown-template": lambda r: replace(r, template_lookup="unknown-ignored"),
    "accept-bad-default": lambda r: replace(r, bad_default_stored_as_zero=True),
    "accept-non-string-name": lambda r: replace(r, name_coerced=True),
    "reject-name-256": lambda r: replace(r, name_max_runes=255),
    "reject-multibyte-name": lambda r: replace(r, name_pattern=ASCII_NAME_PATTERN),
    "reject-padded-name": lambda r: replace(r, name_trim=""),
    "reject-capacity-max": _option("bk_capacity", {"min": "1", "max": "999999998"}),
    "reject-capacity-min": _option("bk_capacity", {"min": "2", "max": "999999999"}),
    "reject-description": lambda r: replace(r, refused_keys=r.refused_keys | {"description"}),
    "reject-template": lambda r: replace(r, template_lookup="never-found"),
    "reject-env-test": _option("bk_set_env", _ENV_WITHOUT_TESTING),
    "version-313-codes-under-314": _wrap("3.14", False),
    "version-314-codes-under-313": _wrap("3.13", True),
    "model-regex-not-enforced": lambda r: replace(r, regex_checked=False),
    "model-range-not-enforced": lambda r: replace(r, custom_ranges_checked=False),
    "model-default-not-applied": lambda r: replace(r, attribute_defaults_applied=False),
    "model-biz-attr-everywhere": lambda r: replace(r, business_scoped=False),
    "model-float-string-coerced": lambda r: replace(r, float_strings_kept=False),
    "model-313-codes-under-314": lambda r: replace(r, wrap_custom_errors=False) if r.version == "3.14" else r,
    "model-recorded-fields-not-validated": lambda r: replace(r, recorded_fields_validated=False),
    "model-bool-string-accepted": lambda r: replace(r, bool_strings_accepted=True),
    "model-error-arg-property-id": lambda r: replace(r, error_argument="id"),
    "model-int-fraction-rejected": lambda r: replace(r, int_fractions_accepted=False),
}


def rules_for(version: str, faults: Faults) -> Rules:
    """The faithful table of `version` with the overrides of the switched-on rule faults."""
    rules = Rules.for_version(version)
    for name in CATALOGUE:
        if faults.on(name) and name in OVERRIDES:
            rules = OVERRIDES[name](rules)
    return rules
