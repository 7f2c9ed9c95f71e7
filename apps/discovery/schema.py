"""OpenAPI descriptions of the agents' authentication classes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ProvisioningTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.discovery.authentication.ProvisioningTokenAuthentication"
    name = "agentProvisioningToken"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "http", "scheme": "bearer", "bearerFormat": "cpap_<prefix>_<secret>"}


class AgentCredentialScheme(OpenApiAuthenticationExtension):
    target_class = "apps.discovery.authentication.AgentAuthentication"
    name = "agentCredential"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "http", "scheme": "bearer", "bearerFormat": "cpag_<prefix>_<secret>"}
