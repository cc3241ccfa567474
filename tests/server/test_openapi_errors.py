"""The OpenAPI schema declares the error body the server sends (issue 15, item 15)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.server.conftest import LiveServer, make_token

METHODS = ("get", "put", "post", "delete", "patch")


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def conforms(body: dict[str, Any], declared: dict[str, Any]) -> bool:
    types = {"string": str, "integer": int, "object": dict}
    for key in declared.get("required", []):
        if key not in body:
            return False
    for key, prop in declared.get("properties", {}).items():
        want = types.get(prop.get("type", ""))
        if key in body and want is not None and not isinstance(body[key], want):
            return False
    return True


async def test_error_responses_match_the_schema(live: LiveServer) -> None:
    _, admin = await make_token(live.settings, "admin", "root")
    async with httpx.AsyncClient(base_url=live.http, timeout=60) as client:
        schema = (await client.get("/schema/openapi.json")).json()
        # Every operation declares its refusals with the body the server sends.
        for path, item in schema["paths"].items():
            for method in METHODS:
                if method not in item:
                    continue
                errors = {code: r for code, r in item[method]["responses"].items()
                          if code[0] in "45"}
                assert {"4XX", "500"} <= set(errors), (method, path)
                for code, response in errors.items():
                    declared = resolve(schema, response["content"]["application/json"]
                                       ["schema"])
                    assert declared["required"] == ["code", "message"], (method, path, code)
        auth = {"Authorization": f"Bearer {admin}"}
        refusals = [
            await client.post("/api/deployments", json={"name": 1}, headers=auth),  # 400
            await client.get("/api/accounts"),  # 401
            await client.post("/api/accounts/adm-nobody/revoke", headers=auth),  # 404
            await client.request("TRACE", "/api/accounts", headers=auth),  # 405
        ]
        for r in refusals:
            op = schema["paths"][r.request.url.path.replace("adm-nobody",
                                                            "{account_id}")]
            responses = op.get(r.request.method.lower(), op.get("get", {}))["responses"]
            declared = resolve(schema, (responses.get(str(r.status_code))
                                        or responses["4XX"])["content"]["application/json"]
                               ["schema"])
            assert conforms(r.json(), declared), (r.status_code, r.text)
        assert [r.status_code for r in refusals] == [400, 401, 404, 405]
        assert "GET" in refusals[-1].headers["allow"]  # RFC 9110: a 405 names what is allowed
