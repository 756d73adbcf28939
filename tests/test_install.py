"""A non-editable install (pip install .) carries spec/ and its commands work from any directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project installed with pip into a folder of its own (no editable link back to the checkout)."""
    target = tmp_path_factory.mktemp("site")
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                          "--target", str(target), str(REPO)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return target


def _run(installed: Path, cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_installed_package_reads_its_own_spec_copy(installed: Path, tmp_path: Path) -> None:
    """The installed cmdb_contract loads spec/ from its package data, not from a checkout."""
    res = _run(installed, tmp_path, "import cmdb_contract.spec as s; print(s.SPEC_DIR); print(len(s.load_spec().rules))")
    assert res.returncode == 0, res.stderr[-2000:]
    where, rules = res.stdout.split()
    assert Path(where).is_relative_to(installed) and int(rules) > 0
    shipped = sorted(p.name for p in Path(where).glob("*.json"))
    assert shipped == sorted(p.name for p in (REPO / "spec").glob("*.json"))


def test_installed_drift_and_export_work_from_another_directory(installed: Path, tmp_path: Path) -> None:
    """cmdb-contract drift and export-openapi of an installed copy run outside the checkout."""
    page = tmp_path / "page.md"
    page.write_text("# nothing but prose\n\nno tables here\n", encoding="utf-8")
    res = _run(installed, tmp_path, "import sys; from cmdb_contract.cli import main; "
                                    "sys.exit(main(['export-openapi', '-o', 'openapi.json']))")
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((tmp_path / "openapi.json").read_text(encoding="utf-8"))["openapi"].startswith("3.1")
    res = _run(installed, tmp_path, f"import sys; from cmdb_contract.cli import main; sys.exit(main(['drift', {str(page)!r}]))")
    assert "FileNotFoundError" not in res.stderr
    assert res.returncode == 2 and "no documentation tables" in res.stdout + res.stderr
