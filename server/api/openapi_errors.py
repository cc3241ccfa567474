"""Make the OpenAPI schema declare the error body the server really sends.

Litestar documents its own error shape (``{"status_code", "detail", "extra"}``) for the
refusals it knows of; every refusal of ours, and every framework refusal too (``http_error``
in the app factory), is ``{"code", "message"}`` with an optional ``detail``. This rewrites
each operation's error responses to that body and adds the ones every operation can give
(``4XX``: refused, ``500``: internal error), so a client generated from the schema, or a
schema checker, sees what it will get.
"""

from __future__ import annotations

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.enums import MediaType
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)

ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["code", "message"],
    properties={
        "code": Schema(type=OpenAPIType.STRING,
                       description="stable machine-readable code (docs/protocol.md, section 5)"),
        "message": Schema(type=OpenAPIType.STRING, description="human-readable explanation"),
        "detail": Schema(description="framework validation details, when there are any"),
    },
    description="Every refusal: a stable code and a message.",
)
ERROR_REF = Reference(ref="#/components/schemas/ErrorBody")


def _error_response(description: str) -> OpenAPIResponse:
    return OpenAPIResponse(description=description,
                           content={MediaType.JSON: OpenAPIMediaType(schema=ERROR_REF)})


def _fix(operation: Operation) -> None:
    responses = operation.responses if operation.responses is not None else {}
    for status, response in list(responses.items()):
        if status[:1] in ("4", "5") and isinstance(response, OpenAPIResponse):
            responses[status] = _error_response(response.description or "refused")
    responses.setdefault("4XX", _error_response(
        "refused: bad request, unauthorised, forbidden, not found, conflict, ..."))
    responses.setdefault("500", _error_response("internal error (logged on the server)"))
    operation.responses = responses


def declare_error_bodies(app: Litestar) -> None:
    """Rewrite the app's OpenAPI schema in place (call once, after every route is added)."""
    openapi = app.plugins.get(OpenAPIPlugin).provide_openapi()
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas["ErrorBody"] = ERROR_SCHEMA
    for path_item in (openapi.paths or {}).values():
        for operation in (path_item.get, path_item.put, path_item.post, path_item.delete,
                          path_item.patch, path_item.head, path_item.options):
            if operation is not None:
                _fix(operation)
