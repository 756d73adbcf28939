"""Credentials and where they go: the one object that holds the app secret and the token.

Boundary: reading the four credential variables from the environment, applying
an authentication variant (where the credentials go and symbolic edits to
them) to build the credential fields of one request, and the second-net text
redaction. Nothing recorded, reported or printed is built from the real
values: the client renders every request twice, once with these credentials
for the wire and once with ``Credentials.placeholders()`` for the record.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENV_APP_CODE = "BK_APP_CODE"
ENV_APP_SECRET = "BK_APP_SECRET"
ENV_USERNAME = "BK_USERNAME"
ENV_TOKEN = "BK_TOKEN"
# What a recorded request carries where a secret went: a shell reference to its variable.
SECRET_PLACEHOLDER = "${BK_APP_SECRET}"
TOKEN_PLACEHOLDER = "${BK_TOKEN}"
PLACEHOLDERS = {"bk_app_secret": (SECRET_PLACEHOLDER, ENV_APP_SECRET), "bk_token": (TOKEN_PLACEHOLDER, ENV_TOKEN)}
REDACTED = "***"
# Text redaction is the second net only. A secret this short would blank out
# common letters everywhere; it is kept out of records by construction alone.
MIN_REDACTED_LENGTH = 4


def env_value(environ: Mapping[str, str], name: str) -> str:
    """The variable's value; an empty value is the same as an unset one (what CI gives for a missing secret)."""
    return environ.get(name, "") or ""


@dataclass(frozen=True)
class Auth:
    """Where the credentials of one request go, and symbolic edits to them.

    ``where``: ``body`` (the blueking.component style), ``header``
    (``X-Bkapi-Authorization``, the bkapi-component-open style) or ``none``.
    ``drop`` removes credential fields, ``replace`` sets a field to a literal
    (added when absent), ``header_raw`` sends the header verbatim (e.g. not JSON).
    """

    where: str = "body"
    drop: tuple[str, ...] = ()
    replace: tuple[tuple[str, str], ...] = ()
    header_raw: str | None = None

    @classmethod
    def from_spec(cls, entry: Mapping[str, Any]) -> Auth:
        """An Auth from the ``auth`` object of an error class in spec/errors.json."""
        replace = tuple(sorted((str(k), str(v)) for k, v in dict(entry.get("replace", {})).items()))
        return cls(where=str(entry.get("where", "body")), drop=tuple(entry.get("drop", ())), replace=replace,
                   header_raw=entry.get("header"))

    def as_user(self, username: str) -> Auth:
        """The same placement acting as another user (bk_token would win over bk_username, so it goes)."""
        return Auth(self.where, (*self.drop, "bk_token"), (*self.replace, ("bk_username", username)), self.header_raw)

    def __repr__(self) -> str:
        parts = [self.where]
        if self.drop:
            parts.append("drop=" + ",".join(self.drop))
        if self.replace:
            parts.append("replace=" + ",".join(k for k, _ in self.replace))
        if self.header_raw is not None:
            parts.append("header=" + json.dumps(self.header_raw))
        return f"Auth({' '.join(parts)})"


BODY = Auth("body")
HEADER = Auth("header")


class Credentials:
    """The app code, app secret, user name and token of a run; its repr never shows a secret."""

    __slots__ = ("_forms", "_secret", "_token", "app_code", "username")

    def __init__(self, app_code: str, app_secret: str, username: str = "", token: str = "") -> None:
        self.app_code = app_code
        self._secret = app_secret
        self.username = username
        self._token = token
        self._forms = _redaction_forms([s for s in (app_secret, token) if len(s) >= MIN_REDACTED_LENGTH])

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Credentials:
        """Credentials from BK_APP_CODE, BK_APP_SECRET, BK_USERNAME, BK_TOKEN (empty = unset)."""
        return cls(env_value(environ, ENV_APP_CODE), env_value(environ, ENV_APP_SECRET),
                   env_value(environ, ENV_USERNAME), env_value(environ, ENV_TOKEN))

    def missing(self) -> str:
        """The variables still to set, as one phrase ('' when complete)."""
        names = [n for n, v in ((ENV_APP_CODE, self.app_code), (ENV_APP_SECRET, self._secret)) if not v]
        user = "" if (self.username or self._token) else f"{ENV_USERNAME} or {ENV_TOKEN}"
        if names and user:
            return f"{', '.join(names)}, and {user}"
        return ", ".join(names) or user

    @property
    def uses_token(self) -> bool:
        return bool(self._token)

    def placeholders(self) -> Credentials:
        """The same credentials with shell references where the secret and the token go (for records)."""
        return Credentials(self.app_code, SECRET_PLACEHOLDER, self.username, TOKEN_PLACEHOLDER if self._token else "")

    def fields(self, auth: Auth = BODY) -> dict[str, str]:
        """The credential fields of one request under ``auth`` (the client never knows why they are edited)."""
        out: dict[str, str] = {"bk_app_code": self.app_code, "bk_app_secret": self._secret}
        if self._token:
            out["bk_token"] = self._token
        else:
            out["bk_username"] = self.username
        for name in auth.drop:
            out.pop(name, None)
        out.update(auth.replace)
        return out

    def redact(self, text: str) -> str:
        """Second net: replace every form of the secret and token a target could echo back."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"Credentials(app_code={self.app_code!r}, app_secret=<redacted>, user={self.username!r}, token={'<redacted>' if self._token else 'none'})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pragma: no cover - defensive: never pickle or copy a secret into a worker
        raise TypeError("Credentials cannot be pickled")


def _redaction_forms(secrets: list[str]) -> tuple[str, ...]:
    """Every form a secret can take in text: raw, JSON-escaped (both modes), URL-encoded, base64, repr."""
    forms: set[str] = set()
    for s in secrets:
        raw = s.encode("utf-8")
        escaped = json.dumps(s)[1:-1]
        quoted = urllib.parse.quote(s, safe="")
        forms.update({
            s,
            escaped,
            json.dumps(s, ensure_ascii=False)[1:-1],
            json.dumps(escaped)[1:-1],  # escaped twice: a body echoed inside JSON
            # Go's encoding/json also escapes <, > and & (CMDB is written in Go).
            escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"),
            quoted,
            re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted),  # lower-case percent-encoding
            urllib.parse.quote(s),  # the default safe="/"
            urllib.parse.quote_plus(s, safe=""),
            repr(s)[1:-1],
            ascii(s)[1:-1],
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            raw.hex(),
        })
    # Longest first, so a form containing another goes whole.
    return tuple(sorted((f for f in forms if len(f) >= MIN_REDACTED_LENGTH), key=len, reverse=True))
