"""Make the OpenAPI schema say what the server really sends (checked by schemathesis).

Errors:

Litestar documents its own error shape (``{"status_code", "detail", "extra"}``) for the
refusals it knows of; every refusal of ours, and every framework refusal too (``http_error``
in the app factory), is ``{"code", "message"}`` with an optional ``detail``. This rewrites
each operation's error responses to that body and adds the ones every operation can give
(``4XX``: refused, ``500``: internal error), so a client generated from the schema, or a
schema checker, sees what it will get.

Unions of scalars (audit details: ``str | int | float | bool | None``) are generated as
``oneOf``, which an integer fails (it is both ``integer`` and ``number``): they become
``anyOf``. The transparency record is JSON or, with ``format=markdown``, Markdown text: both
media types are declared.
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


def _scalar_unions_any_of(schema: Schema | Reference) -> None:
    """``oneOf`` of plain scalar types -> ``anyOf``, throughout a schema."""
    if not isinstance(schema, Schema):
        return
    if schema.one_of and all(isinstance(s, Schema) and s.type is not None
                             and s.properties is None for s in schema.one_of):
        schema.any_of, schema.one_of = schema.one_of, None
    children: list[Schema | Reference] = [*(schema.one_of or []), *(schema.any_of or []),
                                          *(schema.properties or {}).values()]
    if isinstance(schema.items, Schema | Reference):
        children.append(schema.items)
    if isinstance(schema.additional_properties, Schema | Reference):
        children.append(schema.additional_properties)
    for child in children:
        _scalar_unions_any_of(child)


def _markdown_too(operation: Operation) -> None:
    """The transparency record's 200: JSON, or Markdown text with ``format=markdown``."""
    ok = (operation.responses or {}).get("200")
    if isinstance(ok, OpenAPIResponse) and ok.content is not None:
        ok.content["text/markdown"] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))


def finish_schema(app: Litestar) -> None:
    """Rewrite the app's OpenAPI schema in place (call once, after every route is added)."""
    openapi = app.plugins.get(OpenAPIPlugin).provide_openapi()
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    for component in openapi.components.schemas.values():
        _scalar_unions_any_of(component)
    openapi.components.schemas["ErrorBody"] = ERROR_SCHEMA
    for path_item in (openapi.paths or {}).values():
        for operation in (path_item.get, path_item.put, path_item.post, path_item.delete,
                          path_item.patch, path_item.head, path_item.options):
            if operation is not None:
                _fix(operation)
                if operation.operation_id == "transparencyRecord":
                    _markdown_too(operation)
