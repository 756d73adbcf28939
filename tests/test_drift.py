"""``find_drift`` and ``cmdb-contract drift``: silent on the seed doc, loud on every kind of edit to it."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cmdb_contract.drift import Drift, NoDocumentationTables, find_drift, parse_tables
from cmdb_contract.spec import Spec, load_spec

SEED = Path(__file__).resolve().parents[2] / "shared/seeds/create_set.md"
CAPACITY_ROW = "|bk_capacity        |   int      |  否   |   设计容量    |"
SET_ID_ROW = "| bk_set_id | int | 集群 id |"


@pytest.fixture(scope="module")
def seed() -> str:
    """The upstream apidoc Markdown, from the shared/ checkout beside the repository."""
    if not SEED.is_file():
        pytest.skip(f"seed doc not found at {SEED} (CI keeps shared/ beside the repository)")
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def spec() -> Spec:
    """The spec/ the suite runs on."""
    return load_spec()


def edit(text: str, old: str, new: str) -> str:
    """``text`` with the one occurrence of ``old`` replaced, so a changed seed fails loudly here."""
    assert text.count(old) == 1, f"the seed no longer has exactly one {old!r}"
    return text.replace(old, new)


def keys(drifts: list[Drift]) -> set[tuple[str, str]]:
    return {(d.table, d.field) for d in drifts}


def with_schema(spec: Spec, which: str, path: tuple[str, ...], change: Any) -> Spec:
    """A copy of ``spec`` whose request or response schema node at ``path`` is passed through ``change``."""
    root = copy.deepcopy(getattr(spec, which))
    node = root
    for part in path:
        node = node[part]
    change(node)
    return dataclasses.replace(spec, **{which: root})


SET_TEMPLATE_VERSION = ("$defs", "set", "properties", "set_template_version")


def test_seed_doc_has_no_drift(seed: str, spec: Spec) -> None:
    """The seed doc and spec/ agree on every row and both examples."""
    assert [str(d) for d in find_drift(seed, spec)] == []


def test_every_seed_table_row_is_parsed(seed: str) -> None:
    """All 35 rows of the seed's five tables are read, irregular pipes and spacing included."""
    rows = parse_tables(seed)
    counts = {t: sum(r.table == t for r in rows) for t in ("通用参数", "接口参数", "data", "response", "data (response)")}
    assert counts == {"通用参数": 4, "接口参数": 3, "data": 7, "response": 6, "data (response)": 15}
    capacity = next(r for r in rows if r.key == ("data", "bk_capacity"))
    assert (capacity.type, capacity.required) == ("int", False)


def test_drift_reads_as_table_field_and_problem() -> None:
    """A drift prints as 'table.field: problem'."""
    assert str(Drift("data", "bk_capacity", "doc says type int, spec encodes number")) == (
        "data.bk_capacity: doc says type int, spec encodes number"
    )


def test_removed_request_row_is_reported(seed: str, spec: Spec) -> None:
    """A request data row the doc no longer lists is reported as encoded in spec/ but absent from the doc."""
    drifts = find_drift(edit(seed, CAPACITY_ROW + "\n", ""), spec)
    assert keys(drifts) == {("data", "bk_capacity")}
    assert "doc does not have" in drifts[0].problem


def test_removed_response_row_is_reported(seed: str, spec: Spec) -> None:
    """A response data row the doc no longer lists is reported under 'data (response)'."""
    drifts = find_drift(edit(seed, SET_ID_ROW + "\n", ""), spec)
    assert keys(drifts) == {("data (response)", "bk_set_id")}


def test_added_row_is_reported(seed: str, spec: Spec) -> None:
    """A doc row that no x-doc encodes is reported as missing from spec/."""
    text = edit(seed, CAPACITY_ROW, CAPACITY_ROW + "\n| bk_set_owner | string | 否 | 负责人 |")
    drifts = find_drift(text, spec)
    assert keys(drifts) == {("data", "bk_set_owner")}
    assert drifts[0].problem.startswith("doc row (string) has no x-doc in spec/: add it as a property")
    assert drifts[0].problem.endswith("under request.schema.json#/$defs/set_data/properties")


def test_changed_type_is_one_drift_naming_x_doc_and_schema(seed: str, spec: Spec) -> None:
    """A changed doc type is reported once, naming both the x-doc record and the schema's JSON type that disagree."""
    drifts = find_drift(edit(seed, CAPACITY_ROW, "|bk_capacity        |   string      |  否   |   设计容量    |"), spec)
    assert len(drifts) == 1 and (drifts[0].table, drifts[0].field) == ("data", "bk_capacity")
    assert drifts[0].problem.startswith("doc says type string; x-doc records int (")
    assert "; the schema encodes integer (request.schema.json#/$defs/set_data/properties/bk_capacity)" in drifts[0].problem


def test_changed_required_is_one_drift_naming_x_doc_and_required_list(seed: str, spec: Spec) -> None:
    """A row switched from 否 to 是 is reported once, naming the x-doc record and the schema's required list."""
    drifts = find_drift(edit(seed, "|bk_set_desc|string|否|集群描述|", "|bk_set_desc|string|是|集群描述|"), spec)
    assert keys(drifts) == {("data", "bk_set_desc")} and len(drifts) == 1
    assert drifts[0].problem.startswith("doc says required (是); x-doc records optional (否)")
    assert "the schema has it not in its required list" in drifts[0].problem


@pytest.mark.parametrize("cell", ["maybe", ""], ids=["a word in 必选 is reported", "a blank 必选 is reported"])
def test_unreadable_required_value_is_reported(seed: str, spec: Spec, cell: str) -> None:
    """A 必选 cell that is neither 是 nor 否 is reported rather than guessed."""
    drifts = find_drift(edit(seed, "|bk_set_desc|string|否|集群描述|", f"|bk_set_desc|string|{cell}|集群描述|"), spec)
    assert [str(d) for d in drifts] == [f"data.bk_set_desc: doc says 必选 {cell!r}, which is neither 是 nor 否"]


@pytest.mark.parametrize(
    "row",
    ["bk_capacity | int | 否 | 设计容量", "|bk_capacity|int|否|设计容量", "bk_capacity|int|否|设计容量|",
     "  | bk_capacity |int |   否|设计容量   |  "],
    ids=["row without outer pipes is parsed", "row without spaces is parsed",
         "row without leading pipe is parsed", "row with stray spaces is parsed"],
)
def test_irregular_pipe_row_is_parsed(seed: str, spec: Spec, row: str) -> None:
    """A row with missing outer pipes or odd spacing is still read, so its cells are still compared."""
    assert find_drift(edit(seed, CAPACITY_ROW, row), spec) == []
    changed = find_drift(edit(seed, CAPACITY_ROW, row.replace("int", "float")), spec)
    assert keys(changed) == {("data", "bk_capacity")}


def test_request_example_that_breaks_the_schema_is_reported(seed: str, spec: Spec) -> None:
    """A documented request example that the request schema rejects is an 'example' drift naming the value."""
    drifts = find_drift(edit(seed, '"bk_parent_id": 1,', '"bk_parent_id": "1",'), spec)
    assert [(d.table, d.field) for d in drifts] == [("example", "request")]
    assert drifts[0].problem.startswith("data.bk_parent_id: '1' is not of type 'integer'")


def test_response_example_that_breaks_the_schema_is_reported(seed: str, spec: Spec) -> None:
    """A documented response example that neither envelope accepts is reported against the closest envelope."""
    drifts = find_drift(edit(seed, '"bk_set_id": 4780,', '"bk_set_id": 0,'), spec)
    assert [(d.table, d.field) for d in drifts] == [("example", "response")]
    assert drifts[0].problem.startswith("data.bk_set_id: 0 is less than the minimum of 1")


def test_unparsable_example_is_reported(seed: str, spec: Spec) -> None:
    """A documented example that is neither JSON nor a Python literal is reported, not skipped."""
    drifts = find_drift(edit(seed, '"bk_biz_id": 1,', '"bk_biz_id": 1,,'), spec)
    assert [(d.table, d.field) for d in drifts] == [("example", "request")]


def test_registered_deviation_exempts_the_schema_type(seed: str, spec: Spec) -> None:
    """set_template_version (doc: array, server: null) is silent only because its x-deviation is registered."""
    assert find_drift(seed, spec) == []
    bare = with_schema(spec, "response", SET_TEMPLATE_VERSION, lambda node: node.pop("x-deviation"))
    drifts = find_drift(seed, bare)
    assert [str(d).rsplit(" (", 1)[0] for d in drifts] == [
        "data (response).set_template_version: doc says type array; the schema encodes integer or null"
    ]


def test_unregistered_deviation_is_reported_and_exempts_nothing(seed: str, spec: Spec) -> None:
    """An x-deviation that deviations.json does not register is itself a drift and excuses no type mismatch."""
    unknown = with_schema(spec, "response", SET_TEMPLATE_VERSION, lambda node: node.update({"x-deviation": "no-such-deviation"}))
    problems = sorted(d.problem.split(" (")[0] for d in find_drift(seed, unknown))
    assert problems == ["doc says type array; the schema encodes integer or null", "x-deviation 'no-such-deviation' is not in deviations.json"]


def test_example_failure_at_a_deviation_node_is_explained_by_the_registry(seed: str, spec: Spec) -> None:
    """An example value that fails only where a registered deviation sits is no drift; without the deviation it is."""
    strict = with_schema(spec, "response", SET_TEMPLATE_VERSION, lambda node: node.update({"type": "integer"}))
    assert find_drift(seed, strict) == []
    bare = with_schema(strict, "response", SET_TEMPLATE_VERSION, lambda node: node.pop("x-deviation"))
    assert ("example", "response") in keys(find_drift(seed, bare))


def test_schema_type_mismatch_with_matching_x_doc_is_reported(seed: str, spec: Spec) -> None:
    """A schema that types a documented int as number is reported even though its x-doc still says int."""
    loose = with_schema(spec, "request", ("$defs", "set_data", "properties", "bk_capacity"), lambda node: node.update({"type": "number"}))
    assert [str(d) for d in find_drift(seed, loose)] == [
        "data.bk_capacity: doc says type int; the schema encodes number (request.schema.json#/$defs/set_data/properties/bk_capacity)"
    ]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``cmdb-contract`` as a user would, through the installed entry point's module."""
    return subprocess.run([sys.executable, "-m", "cmdb_contract.cli", *args], check=False, capture_output=True, text=True, timeout=60)


def test_cli_exits_0_and_prints_zero_drifts_on_the_seed(seed: str) -> None:
    """``cmdb-contract drift`` on the seed exits 0 and says '0 drift(s)'."""
    result = run_cli("drift", str(SEED))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("0 drift(s)") and result.stderr == ""


def test_cli_exits_1_and_lists_drifts_on_a_mutated_doc(seed: str, tmp_path: Path) -> None:
    """``cmdb-contract drift`` on an edited doc prints each drift and the count, and exits 1."""
    doc = tmp_path / "create_set.md"
    doc.write_text(edit(seed, CAPACITY_ROW + "\n", ""), encoding="utf-8")
    result = run_cli("drift", str(doc))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("data.bk_capacity: ") and lines[-1].startswith("1 drift(s)")


def test_cli_exits_2_with_one_line_error_for_a_missing_file(tmp_path: Path) -> None:
    """``cmdb-contract drift`` on a missing file exits 2 with a one-line error and no traceback."""
    result = run_cli("drift", str(tmp_path / "absent.md"))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "absent.md" in result.stderr
    assert result.stdout == ""


# A page written for these tests (no upstream text): the newer apidoc layout, where the
# common-parameter table is a template placeholder, with the seed's tables otherwise.
def placeholder_page(seed: str, extra_rows: str = "") -> str:
    """The seed with its 通用参数 table replaced by the {{ common_args_desc }} placeholder, plus ``extra_rows`` after bk_capacity."""
    start = seed.index("### 通用参数")
    end = seed.index("### 功能描述")
    page = seed[:start] + "### 通用参数\n\n{{ common_args_desc }}\n\n" + seed[end:]
    return edit(page, CAPACITY_ROW, CAPACITY_ROW + extra_rows) if extra_rows else page


def test_common_args_placeholder_stands_for_the_common_parameters(seed: str, spec: Spec) -> None:
    """A page whose common parameters are {{ common_args_desc }} does not report the four common rows as missing."""
    assert find_drift(placeholder_page(seed), spec) == []
    without = placeholder_page(seed).replace("{{ common_args_desc }}", "see elsewhere")
    assert {d.field for d in find_drift(without, spec)} == {"bk_app_code", "bk_app_secret", "bk_token", "bk_username"}


def test_placeholder_page_with_added_rows_reports_each_once_with_its_place(seed: str, spec: Spec) -> None:
    """Rows added to a placeholder page are each one drift that says where their x-doc would go."""
    added = "\n| bk_set_owner | string | 否 | 负责人 |\n| bk_set_level | int | 否 | 层级 |"
    drifts = find_drift(placeholder_page(seed, added), spec)
    assert sorted(keys(drifts)) == [("data", "bk_set_level"), ("data", "bk_set_owner")]
    assert all("under request.schema.json#/$defs/set_data/properties" in d.problem for d in drifts)


def test_row_of_a_new_table_says_the_table_is_new(seed: str, spec: Spec) -> None:
    """A row under a heading spec/ has no table for says the table is new, not where a property goes."""
    page = seed + "\n#### host_info\n\n| 字段 | 类型 | 必选 | 描述 |\n|---|---|---|---|\n| bk_host_id | int | 是 | 主机 |\n"
    drifts = [d for d in find_drift(page, spec) if d.field == "bk_host_id"]
    assert len(drifts) == 1 and "it is a new table" in drifts[0].problem


def test_page_without_tables_is_not_a_drift_of_every_row(spec: Spec) -> None:
    """Markdown with no apidoc table raises NoDocumentationTables instead of reporting every spec row missing."""
    with pytest.raises(NoDocumentationTables):
        find_drift("# create_set\n\nSome prose, a list:\n\n- one\n- two\n", spec)


def test_cli_exits_2_when_the_file_has_no_tables(tmp_path: Path) -> None:
    """``cmdb-contract drift`` on Markdown without tables exits 2 with one line saying no documentation tables were found."""
    doc = tmp_path / "prose.md"
    doc.write_text("# notes\n\nno tables here\n", encoding="utf-8")
    result = run_cli("drift", str(doc))
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "no documentation tables found" in result.stderr


def test_cli_notes_the_placeholder(seed: str, tmp_path: Path) -> None:
    """``cmdb-contract drift`` on a placeholder page says the common rows were taken as documented by reference."""
    doc = tmp_path / "create_set.md"
    doc.write_text(placeholder_page(seed), encoding="utf-8")
    result = run_cli("drift", str(doc))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "{{ common_args_desc }}" in result.stdout and result.stdout.splitlines()[-1].startswith("0 drift(s)")
