"""Real clients (research esb §5): the official `bkapi-component-open` SDK
(auth in X-Bkapi-Authorization, JSON body) and a `blueking.component`-style
client (auth inside the JSON body, no Content-Type) both create, search and
delete.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from .helpers import AUTH, BIZ, unique

pytest.importorskip("bkapi_component.open.client")
from bkapi_component.open.client import Client


def test_official_sdk_creates_searches_and_deletes(url: str) -> None:
    """research esb §5: bkapi-component-open Client(bk_api_ver='v2') works end to end."""
    client = Client(endpoint=url, bk_api_ver="v2")
    client.update_bkapi_authorization(bk_app_code=AUTH["bk_app_code"], bk_app_secret=AUTH["bk_app_secret"],
                                      bk_username="sdk-user")
    name = unique("sdk")
    created = client.cc.create_set({"bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": name}})
    assert created["result"] is True and created["data"]["bk_created_by"] == "sdk-user"
    set_id = created["data"]["bk_set_id"]
    found = client.cc.search_set({"bk_biz_id": BIZ, "condition": {"bk_set_id": set_id}})
    assert found["data"]["info"][0]["bk_set_name"] == name
    assert client.cc.delete_set({"bk_biz_id": BIZ, "bk_set_id": set_id})["result"] is True
    gone = client.cc.search_set({"bk_biz_id": BIZ, "condition": {"bk_set_id": set_id}})
    assert gone["data"]["count"] == 0
    # The SDK does not raise on result false: business errors come back as envelopes.
    duplicate = client.cc.create_set({"bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": "空闲机池"}})
    assert duplicate["code"] == 1101108


def test_official_sdk_reads_the_set_model(url: str) -> None:
    """research model §4.1: the SDK's cc.search_object_attribute returns the business's visible model."""
    client = Client(endpoint=url, bk_api_ver="v2")
    client.update_bkapi_authorization(bk_app_code=AUTH["bk_app_code"], bk_app_secret=AUTH["bk_app_secret"],
                                      bk_username="sdk-user")
    body = client.cc.search_object_attribute({"bk_obj_id": "set", "bk_biz_id": BIZ})
    shown = [item["bk_property_id"] for item in body["data"]]
    assert body["result"] is True and "zone" in shown and "bk_parent_id" not in shown


class BodyAuthClient:
    """A minimal `blueking.component`-style client: auth merged into the JSON body, no Content-Type."""

    def __init__(self, endpoint: str, username: str) -> None:
        self.endpoint = endpoint
        self.common = {"bk_app_code": AUTH["bk_app_code"], "bk_app_secret": AUTH["bk_app_secret"],
                       "bk_username": username}
        self.session = requests.Session()

    def call(self, component: str, params: dict[str, Any]) -> dict[str, Any]:
        """POST /api/c/compapi/v2/cc/<component>/ the way BaseComponentClient.request does."""
        request = requests.Request("POST", f"{self.endpoint}/api/c/compapi/v2/cc/{component}/",
                                   data=json.dumps({**self.common, **params}))
        prepared = self.session.prepare_request(request)
        prepared.headers.pop("Content-Type", None)
        response = self.session.send(prepared, timeout=10)
        body: dict[str, Any] = response.json()
        return body

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()


def test_body_auth_client_creates_searches_and_deletes(url: str) -> None:
    """research esb §1.1/§5: auth fields in the body and no Content-Type work through sniffing."""
    client = BodyAuthClient(url, "legacy-user")
    try:
        name = unique("legacy")
        created = client.call("create_set", {"bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": name}})
        assert created["result"] is True and created["data"]["bk_created_by"] == "legacy-user"
        set_id = created["data"]["bk_set_id"]
        found = client.call("search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_name": name}})
        assert [s["bk_set_id"] for s in found["data"]["info"]] == [set_id]
        assert client.call("delete_set", {"bk_biz_id": BIZ, "bk_set_id": set_id})["code"] == 0
        assert client.call("search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_name": name}})["data"]["count"] == 0
    finally:
        client.close()
