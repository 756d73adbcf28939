"""Read a target's set model at session start, or from a ``--set-model`` file, and save one.

The model of the business under test comes from ``search_object_attribute``
(global + that business's attributes, research cmdb_model_attributes.md §4).
To prove that another business's attributes are dropped, the suite also
reads the models of up to ``OTHER_BUSINESSES`` other businesses (found with
``search_business``) and keeps the attributes scoped to them. When the model
cannot be read the run goes on with the built-in schema and says why.

Boundary: read-only requests through ``Target`` and the model file's I/O;
what the items mean is ``setmodel``'s job. A saved file holds the items as
the target answered them and the target URL without user info: no secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .client import Exchange, Target, TargetUnavailable
from .setmodel import ModelError, SetModel

OTHER_BUSINESSES = 4


def _data(ex: Exchange) -> tuple[Any, str]:
    """The data of a successful answer, or None and why not."""
    body = ex.json
    if not isinstance(body, dict):
        return None, f"HTTP {ex.status}, not a JSON object"
    if body.get("result") is not True:
        return None, f"code {body.get('code')}: {str(body.get('message'))[:200]}"
    return body.get("data"), ""


def _where(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _other_businesses(target: Target, bk_biz_id: int) -> tuple[list[int], str]:
    """Business ids other than ``bk_biz_id`` (ordinary ones, then the resource pool: search_business adds default 0)."""
    found: list[int] = []
    for condition in ({}, {"default": 1}):
        data, why = _data(target.search_business(condition))
        if not isinstance(data, dict) or not isinstance(data.get("info"), list):
            return found, f"search_business answered {why or 'without info'}"
        found += [b["bk_biz_id"] for b in data["info"] if isinstance(b, dict) and type(b.get("bk_biz_id")) is int]
    return sorted(set(found) - {bk_biz_id})[:OTHER_BUSINESSES], ""


def read_model(target: Target, bk_biz_id: int, supplier: str | None = None) -> SetModel:
    """The set model of ``bk_biz_id`` on ``target`` (read-only), or the built-in one with the reason it could not be read."""
    try:
        data, why = _data(target.search_object_attribute(bk_biz_id, supplier))
        if not isinstance(data, list):
            return SetModel.builtin(bk_biz_id, f"search_object_attribute of business {bk_biz_id} answered {why or 'no list'}")
        notes: list[str] = []
        others, why = _other_businesses(target, bk_biz_id)
        if why:
            notes.append(f"other businesses not listed ({why}): no attribute of another business to send")
        foreign: dict[int, Sequence[Any]] = {}
        for biz in others:
            theirs, why = _data(target.search_object_attribute(biz, supplier))
            if isinstance(theirs, list):
                foreign[biz] = theirs
            else:
                notes.append(f"the model of business {biz} was not read ({why})")
    except TargetUnavailable as err:
        return SetModel.builtin(bk_biz_id, f"the target did not answer search_object_attribute ({err.reason})")
    origin = f"search_object_attribute of business {bk_biz_id} at {_where(target.url)}"
    try:
        return SetModel.of_items(bk_biz_id, data, foreign, origin, notes)
    except ModelError as exc:
        return SetModel.builtin(bk_biz_id, f"search_object_attribute answered an item the suite cannot read: {exc}")


def load_model(path: Path) -> SetModel:
    """A --set-model file (ModelError with a one-line reason when it cannot be used)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"--set-model {path}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise ModelError(f"--set-model {path}: not JSON ({exc})") from None
    try:
        return SetModel.from_file(data, f"--set-model {path}")
    except ModelError as exc:
        raise ModelError(f"--set-model {path}: {exc}") from None


def save_model(model: SetModel, path: Path) -> None:
    """Write ``model`` as a --set-model file."""
    path.write_text(json.dumps(model.to_file(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
