"""OpenAPI descriptions of the authentication classes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.tenancy.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "cpam_<prefix>_<secret>",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "cloudpam.api.authentication.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


ERROR_COMPONENT = {
    "type": "object",
    "required": ["error", "request_id"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "example": "validation_error"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "request_id": {"type": "string", "nullable": True},
    },
}

_COMMON_ERRORS = {
    "400": "Invalid input (validation_error)",
    "401": "Missing, bad, revoked or expired credentials (not_authenticated)",
    "403": "The role or token scope lacks the permission (permission_denied)",
    "404": "No such object in the active organization (not_found)",
    "405": "Method not allowed",
    "415": "Unsupported media type",
    "429": "Rate limit or quota exceeded (rate_limited, quota_exceeded)",
}
_WRITE_ERRORS = {"409": "Conflicts with the current state (overlap, no_space, conflict)"}


def add_error_responses(result, generator, request, public):  # type: ignore[no-untyped-def]
    """Document SPEC.md's error schema on every operation (a drf-spectacular hook)."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_COMPONENT
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            errors = dict(_COMMON_ERRORS)
            if method in {"post", "put", "patch", "delete"}:
                errors.update(_WRITE_ERRORS)
            responses = operation.setdefault("responses", {})
            for status, description in errors.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result
