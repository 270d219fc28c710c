"""The web app's OpenAPI document, complete enough for a client generator in any language.

FastAPI writes the routes, their parameters and response models; this adds what it cannot
know: the request bodies of the routes that read theirs by hand (campaign create, contact
import as CSV or JSON, do-not-call numbers), and on every ``/v1`` operation but Exotel's
callback (signed by its own token) the bearer security scheme and the error answers every
route can give (401, 503), all with the one error body
(:class:`dialer.api_models.ErrorBody`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dialer.api_models import REQUEST_MODELS, ErrorBody, error_response

REF = "#/components/schemas/{model}"
EVERY_API_ERROR = (401, 503)


def json_body(model: str, description: str = "") -> dict[str, Any]:
    """``openapi_extra`` for a route that reads a JSON body of schema ``model`` by hand."""
    return {"requestBody": {"required": True, "description": description, "content": {
        "application/json": {"schema": {"$ref": REF.format(model=model)}}}}}


def contacts_body() -> dict[str, Any]:
    """``openapi_extra`` of the contact import: CSV (a header row) or JSON."""
    return {"requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}, "example":
                     "number,name,timezone,custom_field\n+919812345678,Asha,,order-1\n"},
        "application/json": {"schema": {"oneOf": [
            {"$ref": REF.format(model="ContactsIn")},
            {"type": "array", "items": {"$ref": REF.format(model="ContactIn")}}]}},
    }}}


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with the completed document (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes)
        complete(doc)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def complete(doc: dict[str, Any]) -> None:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    models: list[type[BaseModel]] = [*REQUEST_MODELS, ErrorBody]
    _, extra = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    for name, schema in extra.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's, replaced by ours
        schemas.pop(name, None)
    for path, item in doc.get("paths", {}).items():
        for op in item.values():
            responses = op.setdefault("responses", {})
            for code, answer in list(responses.items()):
                if _is_fastapi_422(answer):
                    responses[code] = error_response(422)
            if not path.startswith("/v1/") or path.startswith("/v1/callbacks/"):
                continue
            op.setdefault("security", [{"bearerAuth": []}])
            for code in EVERY_API_ERROR:
                responses.setdefault(str(code), error_response(code))
    schemes = doc["components"].setdefault("securitySchemes", {})
    schemes.setdefault("bearerAuth", {"type": "http", "scheme": "bearer"})


def _is_fastapi_422(answer: dict[str, Any]) -> bool:
    schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", "")).endswith("/HTTPValidationError")
