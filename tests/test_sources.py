"""Every research fact in spec/ names a public source a reviewer can open, and none cites notes outside the repository."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from cmdb_contract.spec import load_spec, spec_path

SPEC = load_spec()
SPEC_FILES = ("request.schema.json", "response.schema.json", "errors.json", "deviations.json", "rules.json", "sources.json", "model.json")


def _research_nodes(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "x-research" in node:
            yield where, node["x-research"]
        for key, value in node.items():
            yield from _research_nodes(value, f"{where}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from _research_nodes(value, f"{where}/{n}")


def _model_facts() -> list[tuple[str, dict[str, Any]]]:
    """Every object of spec/model.json that states a fact."""
    doc = json.loads(spec_path("model.json").read_text(encoding="utf-8"))
    out: list[tuple[str, dict[str, Any]]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "fact" in node:
                out.append((where or "(root)", node))
            for key, value in node.items():
                walk(value, f"{where}/{key}")

    walk(doc, "")
    return out


def _cited() -> list[tuple[str, list[str]]]:
    """(what, source ids) for every fact, error class, accepted input, state entry, deviation and research rule."""
    out: list[tuple[str, list[str]]] = []
    for name, root in (("request.schema.json", SPEC.request), ("response.schema.json", SPEC.response)):
        out += [(f"{name}#{where}", list(r.get("sources", []))) for where, r in _research_nodes(root, "")]
    for part in ("classes", "accepted", "state"):
        for entry in SPEC.errors[part]:
            out.append((f"errors.json {part} {entry.get('id', (entry.get('target'), entry.get('defect')))}", list(entry.get("sources", []))))
    out += [(f"errors.json attribute_rules {r['type']}/{r['defect']}", list(r.get("sources", []))) for r in SPEC.errors.get("attribute_rules", ())]
    out += [(f"model.json {where}", list(node.get("sources", []))) for where, node in _model_facts()]
    out += [(f"deviations.json {d['id']}", list(d.get("sources", []))) for d in SPEC.deviations_doc["deviations"]]
    # A reference rule (drift.*) compares with a recorded reference, not with an upstream fact: nothing to cite.
    out += [(f"rules.json {r['id']}", list(r.get("sources", []))) for r in SPEC.rules_doc["rules"]
            if r.get("fact") and r["breaks"] != "reference"]
    return out


@pytest.mark.parametrize(("what", "ids"), _cited(), ids=[w for w, _ in _cited()])
def test_every_fact_cites_an_existing_source(what: str, ids: list[str]) -> None:
    """Each research fact, error class, deviation and research rule lists at least one id that sources.json defines."""
    assert ids, f"{what} cites no source"
    unknown = [i for i in ids if i not in SPEC.sources]
    assert not unknown, f"{what} cites unknown source ids {unknown}"


@pytest.mark.parametrize("name", SPEC_FILES)
def test_no_text_cites_a_section_of_the_notes(name: str) -> None:
    """No string in spec/ cites a section ('§') of research notes a reviewer cannot open."""
    text = spec_path(name).read_text(encoding="utf-8")
    hits = [m.group(0) for m in re.finditer(r".{0,40}§.{0,20}", text)]
    assert not hits, hits


def test_sources_are_pinned_files() -> None:
    """Every source is a file at a full 40-hex commit, so its link never moves."""
    for source in SPEC.sources.values():
        assert re.fullmatch(r"[0-9a-f]{40}", source.commit), source.id
        assert source.path and not source.path.startswith("/") and source.symbol and source.says, source.id
        assert source.url == f"https://github.com/{source.repo}/blob/{source.commit}/{source.path}"


def test_every_source_is_cited() -> None:
    """No source in sources.json goes unused (a stale entry would only mislead)."""
    used = {i for _, ids in _cited() for i in ids}
    assert set(SPEC.sources) - used == set()


def test_spec_files_are_json() -> None:
    """The spec files the test reads parse as JSON objects (guards the path helper)."""
    for name in SPEC_FILES:
        assert isinstance(json.loads(spec_path(name).read_text(encoding="utf-8")), dict)
