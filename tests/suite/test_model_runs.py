"""The suite against targets with a set model of their own: it reads and follows the target's model, not the emulator's default.

Each test starts an in-process emulator standing in for a real CMDB with a
seeded set model (or none), runs the contract suite against it as a user
would, and reads the exit code, the JUnit XML and the HTML report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cmdb_emulator.esb import JSON_TYPE, Reply, dumps
from cmdb_emulator.server import Emulator, start_server
from cmdb_emulator.world import parse_world

from .conftest import APP_CODE, APP_SECRET, REAL_ARGS, REPO, SEED, creds_env, report_text, run_suite

ENUM = [{"id": "1", "name": "一", "type": "text", "is_default": True}, {"id": "2", "name": "二", "type": "text", "is_default": False}]
# A model unlike the emulator's default one: every emulated type, other ranges, defaults and a regex.
OWN_MODEL = [
    {"bk_property_id": "rack", "bk_property_name": "机架", "bk_property_type": "int", "option": {"min": -5, "max": 99}, "default": 7},
    {"bk_property_id": "ratio", "bk_property_name": "比例", "bk_property_type": "float", "option": {"min": "-1.5", "max": ""}, "default": 0.5},
    {"bk_property_id": "code", "bk_property_name": "编码", "bk_property_type": "singlechar", "option": "^[A-Z]{2}\\d{3}$", "default": "AB123"},
    {"bk_property_id": "notes", "bk_property_name": "说明", "bk_property_type": "longchar"},
    {"bk_property_id": "tier", "bk_property_name": "层级", "bk_property_type": "enum", "option": ENUM},
    {"bk_property_id": "tags", "bk_property_name": "标签", "bk_property_type": "enummulti", "ismultiple": True, "option": ENUM},
    {"bk_property_id": "home", "bk_property_name": "归属", "bk_property_type": "enumquote", "ismultiple": False,
     "option": [{"bk_obj_id": "biz", "bk_inst_id": 2, "type": "int"}]},
    {"bk_property_id": "since", "bk_property_name": "起始", "bk_property_type": "date", "default": "2020-01-01"},
    {"bk_property_id": "at", "bk_property_name": "时刻", "bk_property_type": "time"},
    {"bk_property_id": "ops", "bk_property_name": "运维", "bk_property_type": "objuser", "ismultiple": False},
    {"bk_property_id": "tz", "bk_property_name": "时区", "bk_property_type": "timezone", "default": "Asia/Shanghai"},
    {"bk_property_id": "stage", "bk_property_name": "阶段", "bk_property_type": "list", "option": ["dev", "prod"], "default": "dev"},
    {"bk_property_id": "org", "bk_property_name": "组织", "bk_property_type": "organization", "ismultiple": False},
    {"bk_property_id": "shard", "bk_property_name": "分片", "bk_property_type": "int", "bk_biz_id": 2},
    {"bk_property_id": "pool_only", "bk_property_name": "池专用", "bk_property_type": "bool", "bk_biz_id": 1},
]
MODEL_TESTS = ["-k", "test_model or test_lookalike"]


@pytest.fixture
def seeded() -> Iterator[Callable[..., Emulator]]:
    """Factory: an emulator with the test credentials and the given set model (None: the stock model); stopped afterwards."""
    started: list[Emulator] = []

    def make(attributes: list[dict[str, Any]] | None, faults: tuple[str, ...] = (), version: str = "3.14") -> Emulator:
        # SEED is the emulator's default world; None gives the stock model (no custom attribute at all).
        seed = {k: v for k, v in SEED.items() if k != "set_attributes"}
        seed["businesses"] = [*SEED["businesses"]]
        if attributes is not None:
            seed["set_attributes"] = attributes
        emu = start_server(app_code=APP_CODE, app_secret=APP_SECRET, world=parse_world(seed), faults=faults, cmdb_version=version)
        started.append(emu)
        return emu

    try:
        yield make
    finally:
        for emu in started:
            emu.stop()


def _cases(junit: Path) -> dict[str, ET.Element]:
    return {f"{c.get('classname')}::{c.get('name')}": c for c in ET.parse(junit).getroot().iter("testcase")}


def test_suite_follows_the_model_it_reads_from_the_target(seeded: Callable[..., Emulator], tmp_path: Path) -> None:
    """A target whose model differs from the emulator's default gets tests for its own attributes, and passes."""
    target = seeded(OWN_MODEL)
    res = run_suite("--target-url", target.url, *REAL_ARGS, f"--reports-dir={tmp_path}", *MODEL_TESTS)
    assert res.returncode == 0, res.stdout[-4000:]
    names = " ".join(_cases(tmp_path / "contract-junit.xml"))
    for own in ("rack=min", "model.code.regex-mismatch", "model.tags.unknown-id", "home=option", "ratio=", "pool_only"):
        assert own in names, own
    assert "region" not in names and "cost_centre" not in names  # the emulator's default model is not the target's
    report = report_text(tmp_path / "contract-report.html")
    assert "Set model attributes exercised" in report and "search_object_attribute of business 2" in report
    assert "机架" in report and "another business's: sent to be dropped" in report


def test_stock_model_passes_and_says_there_is_nothing_to_exercise(seeded: Callable[..., Emulator], tmp_path: Path) -> None:
    """Against a model with no custom attribute the model tests skip with the reason and nothing fails."""
    target = seeded(None)
    res = run_suite("--target-url", target.url, *REAL_ARGS, f"--reports-dir={tmp_path}", "-rs", *MODEL_TESTS)
    assert res.returncode == 0, res.stdout[-4000:]
    assert "no other business's own attribute found" in res.stdout
    # The recorded fields are model attributes the built-in schema does not encode: they are still exercised.
    assert "model.bk_created_by.bad-name" in " ".join(_cases(tmp_path / "contract-junit.xml"))


def test_a_fault_only_the_target_model_shows_is_caught(seeded: Callable[..., Emulator], tmp_path: Path) -> None:
    """Under 3.14, int fractions refused where 0 is in range (rack's [-5, 99]) break acceptance of the lookalike 1.0."""
    target = seeded(OWN_MODEL, faults=("model-int-fraction-rejected",))
    res = run_suite("--target-url", target.url, *REAL_ARGS, f"--reports-dir={tmp_path}", *MODEL_TESTS)
    assert res.returncode == 1, res.stdout[-3000:]
    assert "rack=" in res.stdout and "[success.accepted]" in res.stdout


def test_unreadable_model_is_noted_and_the_run_goes_on(seeded: Callable[..., Emulator], tmp_path: Path) -> None:
    """When search_object_attribute is refused (9900403) the report says so and the built-in checks still run and pass."""
    target = seeded(OWN_MODEL)
    original = target.httpd.esb.handle

    def handle(method: str, path: str, query: str, headers: Any, body: bytes | None) -> Any:
        if "search_object_attribute" in path:  # IAM denies the model-view permission (research model §4.1)
            return Reply(200, JSON_TYPE, dumps({"result": False, "code": 9900403, "data": None, "message": "没有操作的权限",
                                               "permission": {"system_id": "bk_cmdb", "actions": []}, "request_id": "0" * 32}))
        return original(method, path, query, headers, body)

    target.httpd.esb.handle = handle  # type: ignore[method-assign]
    res = run_suite("--target-url", target.url, *REAL_ARGS, f"--reports-dir={tmp_path}", "-k", "test_minimal_set_is_created or test_model")
    assert res.returncode == 0, res.stdout[-3000:]
    report = report_text(tmp_path / "contract-report.html")
    assert "set model not read: search_object_attribute of business 2 answered code 9900403" in report


def test_model_command_saves_a_model_the_suite_then_uses(seeded: Callable[..., Emulator], tmp_path: Path) -> None:
    """cmdb-contract model writes the target's model with no secret, and --set-model makes the suite use it without reading."""
    target = seeded(OWN_MODEL)
    out = tmp_path / "model.json"
    res = subprocess.run([sys.executable, "-m", "cmdb_contract.cli", "model", "--target-url", target.url, "--bk-biz-id", "2", "-o", str(out)],
                         capture_output=True, text=True, cwd=REPO, env=creds_env(), timeout=60)
    assert res.returncode == 0, res.stderr
    text = out.read_text(encoding="utf-8")
    assert APP_SECRET not in text and "rack" in text and "pool_only" in text
    # The model API is now refused: the run must take the model from the file.
    original = target.httpd.esb.handle
    asked: list[str] = []

    def handle(method: str, path: str, query: str, headers: Any, body: bytes | None) -> Any:
        asked.append(path)
        return original(method, path, query, headers, body)

    target.httpd.esb.handle = handle  # type: ignore[method-assign]
    res = run_suite("--target-url", target.url, *REAL_ARGS, f"--reports-dir={tmp_path / 'r'}", f"--set-model={out}",
                    "-k", "test_model_attribute_value_is_stored and rack")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "rack=min" in " ".join(_cases(tmp_path / "r" / "contract-junit.xml"))
    assert not [p for p in asked if "search_object_attribute" in p]


def test_set_model_of_another_business_is_a_usage_error(tmp_path: Path) -> None:
    """A --set-model file of business 3 with --bk-biz-id 2 stops at start with one line naming both businesses."""
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"format": "cmdb-contract set model 1", "bk_biz_id": 3, "attributes": [], "other_businesses": {}}))
    res = run_suite(f"--set-model={path}", f"--reports-dir={tmp_path}")
    assert res.returncode == 4, res.stdout[-2000:] + res.stderr[-2000:]
    assert "business 3" in res.stdout + res.stderr and "--bk-biz-id 3" in res.stdout + res.stderr


def test_missing_set_model_file_is_a_usage_error(tmp_path: Path) -> None:
    """--set-model naming no file is a one-line usage error that says how to write one."""
    res = run_suite(f"--set-model={tmp_path / 'nope.json'}", f"--reports-dir={tmp_path}")
    assert res.returncode == 4 and "cmdb-contract model" in res.stdout + res.stderr
