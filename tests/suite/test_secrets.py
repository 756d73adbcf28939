"""Secrets by construction: no app secret or token, in any encoding, in any artifact or output, hostile ones included."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import REAL_ARGS, REPO, Watched, creds_env, report_text, run_suite

# Quotes, backslash, control characters, non-ASCII, %, + and spaces: each breaks a naive redaction or replay line.
HOSTILE = [
    pytest.param('Cq"7\\x%2B é+z', 'T0k"\\en é%2F+ /', id="quote-backslash-non-ascii"),
    pytest.param("tab\there\x01ctl 'single' ünï", "x+y%41 z\\n", id="control-and-quotes"),
]
SUBSET = ["-k", "test_minimal_set_is_created or test_every_optional_field_is_stored or test_catalogued_defect_is_rejected or "
                "test_valid_payloads_are_created or test_header_authorization_creates_set"]


def forms(secret: str) -> set[str]:
    """Every form the secret could take in text."""
    raw = secret.encode("utf-8")
    out = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], urllib.parse.quote(secret, safe=""),
           urllib.parse.quote_plus(secret), repr(secret)[1:-1], ascii(secret)[1:-1]}
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        out |= {enc(raw).decode(), enc(raw).decode().rstrip("=")}
    return out


def artifacts(folder: Path) -> list[str]:
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*") if p.is_file()]
    texts += [report_text(p) for p in folder.rglob("*.html")]
    return texts


@pytest.mark.parametrize(("secret", "token"), HOSTILE)
@pytest.mark.parametrize("fault", [None, "data-desc-dropped", "accept-wrong-secret"], ids=["passing", "failing", "auth-fault"])
def test_no_secret_reaches_any_artifact(tmp_path: Path, secret: str, token: str, fault: str | None) -> None:
    """Hostile secret and token: absent in every form from the report, JUnit, ledger, baseline and all output, even with locals shown."""
    env = creds_env(BK_APP_SECRET=secret, BK_TOKEN=token)
    args = [f"--reports-dir={tmp_path}", "-l", "-rA", "-vv", "--tb=long", "--record-baseline", str(tmp_path / "baseline.jsonl"), *SUBSET]
    if fault:
        args += ["--emulator-fault", fault]
    res = run_suite(*args, env=env)
    assert res.returncode == (0 if fault is None else 1), res.stdout[-3000:]
    assert (tmp_path / "baseline.jsonl").stat().st_size > 1000, "the baseline is among the files searched"
    texts = [res.stdout, res.stderr, *artifacts(tmp_path)]
    for form in forms(secret) | forms(token):
        for text in texts:
            assert form not in text, f"{form!r} leaked"
    html = report_text(tmp_path / "contract-report.html")
    if fault == "data-desc-dropped":  # the failing exchange carried the real credentials: the replay line reads them
        assert "${BK_APP_SECRET}" in html and "${BK_TOKEN}" in html and "curl -sS" in html


def test_no_secret_of_either_target_reaches_a_diff_artifact(watched: Callable[..., Watched], tmp_path: Path) -> None:
    """A diff against a real B with its own hostile BK_*_B secret: neither secret in any artifact, and B's sets all cleaned up."""
    a_secret, b_secret = (str(v) for v in HOSTILE[0].values)
    target = watched(secret=b_secret)
    other = _b_call(target.url, b_secret, "create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": "not-ours"}})
    assert other["result"] is True, other
    env = creds_env(BK_APP_SECRET=a_secret, BK_APP_CODE_B="suite-tests", BK_APP_SECRET_B=b_secret, BK_USERNAME_B="admin")
    cmd = [sys.executable, "-m", "cmdb_contract.cli", "diff", "--a", "embedded", "--b", target.url, "--allow-writes", *REAL_ARGS[1:],
           "--reports-dir", str(tmp_path), "--record-baseline", str(tmp_path / "baseline.jsonl"), "-l", "-rA", "--tb=long",
           SUBSET[0], SUBSET[1] + " or test_replay"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:]
    assert (tmp_path / "diff-report.json").exists() and (tmp_path / "baseline.jsonl").exists()
    texts = [res.stdout, res.stderr, *artifacts(tmp_path)]
    for form in forms(a_secret) | forms(b_secret):
        for text in texts:
            assert form not in text, f"{form!r} leaked"
    assert "target B: cleanup complete" in res.stdout and not list(tmp_path.glob("ledger-*"))
    left = _b_call(target.url, b_secret, "search_set", {"bk_biz_id": 2, "fields": [], "condition": {}, "page": {"start": 0, "limit": 500}})
    assert sorted(x["bk_set_id"] for x in left["data"]["info"]) == sorted([2, other["data"]["bk_set_id"]]), "B keeps its own sets, no others"


def _b_call(url: str, secret: str, api: str, params: dict[str, Any]) -> dict[str, Any]:
    body = {"bk_app_code": "suite-tests", "bk_app_secret": secret, "bk_username": "admin", **params}
    answer: dict[str, Any] = requests.post(f"{url}/api/c/compapi/v2/cc/{api}/", json=body, timeout=10).json()
    return answer


def test_one_character_secret_does_not_blank_the_report(tmp_path: Path) -> None:
    """A one-character secret is kept out by construction, not by blanking that letter everywhere."""
    res = run_suite(f"--reports-dir={tmp_path}", "--emulator-fault", "data-desc-dropped", "-k", "test_every_optional_field_is_stored",
                    env=creds_env(BK_APP_SECRET="e", BK_USERNAME="admin"))
    assert res.returncode == 1, res.stdout[-3000:]
    html = report_text(tmp_path / "contract-report.html")
    assert "bk_set_desc is echoed as stored" in res.stdout and "Expected" in html
    assert '"bk_app_secret": "${BK_APP_SECRET}"' in html
    assert not re.search(r'"bk_app_secret": "e"', html)


@pytest.mark.parametrize(("secret", "token"), HOSTILE)
def test_curl_line_from_the_report_replays_with_a_hostile_secret(watched: Callable[..., Watched], tmp_path: Path,
                                                                  secret: str, token: str) -> None:
    """The curl line of a failure, run as printed with the secret in the environment, authenticates (no 1306000)."""
    target = watched(faults=("data-desc-dropped",), secret=secret)
    env = creds_env(BK_APP_SECRET=secret)
    res = run_suite("--target-url", target.url, *REAL_ARGS, f"--reports-dir={tmp_path}", "-k", "test_every_optional_field_is_stored",
                    env=env)
    assert res.returncode == 1, res.stdout[-3000:]
    html = report_text(tmp_path / "contract-report.html")
    lines = re.findall(r"(curl -sS -X POST \S*/create_set/\S* .*?)</pre>", html)
    assert lines, "no curl line for the create"
    out = subprocess.run(["bash", "-c", lines[0]], capture_output=True, text=True, env=env, timeout=60)
    answer = json.loads(out.stdout)
    assert answer["code"] != 1306000, answer
    assert answer["result"] is True or answer["code"] == 1101108, answer
