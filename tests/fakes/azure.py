"""A fake Azure Resource Manager for one subscription: network list calls and Resource Graph.

It answers exactly the calls the Azure provider and collector make, in the wire format of
the REST API reference:

* ``GET /subscriptions/{id}/providers/Microsoft.Network/virtualNetworks`` (the SDK's
  ``virtual_networks.list_all``), paged with ``value`` and an absolute ``nextLink``;
* ``POST /providers/Microsoft.ResourceGraph/resources`` (``ResourceGraphClient.resources``)
  for the two query shapes the collector sends (``distinct location``, and one location's
  resources), paged with ``$top`` (default 100, at most 1000) and ``$skipToken``.

Errors are ARM's ``{"error": {"code", "message"}}``. Resources are stored as ARM returns
them (``id``, ``name``, ``type``, ``location``, ``tags``, ``properties``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.http import FakeCloud, Request

_CODES = {
    400: "BadRequest",
    401: "AuthenticationFailed",
    403: "AuthorizationFailed",
    404: "SubscriptionNotFound",
    429: "RateLimiting",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}
_LIST_VNETS = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Network/virtualNetworks$", re.I
)
_TYPES = re.compile(r"type in~ \(([^)]*)\)")
_LOCATION = re.compile(r"location =~ '([^']*)'")


class FakeArm(FakeCloud):
    """One subscription's VNets, NICs, public IPs and prefixes, served as ARM does."""

    def __init__(self, subscription: str = "00000000-0000-0000-0000-00000000c0de") -> None:
        super().__init__()
        self.subscription = subscription
        self.resources: list[dict[str, Any]] = []
        self.vnet_page_size = 50
        # Answer Resource Graph queries cut short, without a $skipToken to go on with.
        self.truncate = False

    # Building the estate.
    def arm_id(self, group: str, kind: str, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{group}"
            f"/providers/Microsoft.Network/{kind}/{name}"
        )

    def _add(
        self, group: str, kind: str, name: str, location: str, properties: dict[str, Any], **extra
    ) -> dict[str, Any]:
        resource = {
            "name": name,
            "id": self.arm_id(group, kind, name),
            "etag": 'W/"00000000-0000-0000-0000-000000000001"',
            "type": f"Microsoft.Network/{kind}",
            "location": location,
            "tags": extra.pop("tags", None) or {},
            "properties": {"provisioningState": "Succeeded", **properties},
            **extra,
        }
        self.resources.append(resource)
        return resource

    def add_vnet(
        self,
        group: str,
        name: str,
        location: str,
        prefixes: list[str],
        subnets: dict[str, list[str]] | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Add a VNet; a subnet with one prefix gets ``addressPrefix``, else ``addressPrefixes``."""
        vnet_id = self.arm_id(group, "virtualNetworks", name)
        subnet_list = []
        for subnet_name, subnet_prefixes in (subnets or {}).items():
            properties: dict[str, Any] = {"provisioningState": "Succeeded"}
            if len(subnet_prefixes) == 1:
                properties["addressPrefix"] = subnet_prefixes[0]
            else:
                properties["addressPrefixes"] = subnet_prefixes
            subnet_list.append(
                {
                    "name": subnet_name,
                    "id": f"{vnet_id}/subnets/{subnet_name}",
                    "etag": 'W/"00000000-0000-0000-0000-000000000002"',
                    "type": "Microsoft.Network/virtualNetworks/subnets",
                    "properties": properties,
                }
            )
        return self._add(
            group,
            "virtualNetworks",
            name,
            location,
            {
                "resourceGuid": "5d6b1c0e-0000-0000-0000-000000000000",
                "addressSpace": {"addressPrefixes": prefixes},
                "subnets": subnet_list,
                "virtualNetworkPeerings": [],
                "enableDdosProtection": False,
            },
            tags=tags,
        )

    def add_nic(
        self, group: str, name: str, location: str, configurations: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """Add a NIC with one IP configuration per ``(subnet id, private address)``."""
        nic_id = self.arm_id(group, "networkInterfaces", name)
        ip_configurations = [
            {
                "name": f"ipconfig{index}",
                "id": f"{nic_id}/ipConfigurations/ipconfig{index}",
                "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                "properties": {
                    "provisioningState": "Succeeded",
                    "privateIPAddress": address,
                    "privateIPAllocationMethod": "Dynamic",
                    "privateIPAddressVersion": "IPv6" if ":" in address else "IPv4",
                    "subnet": {"id": subnet_id},
                    "primary": index == 1,
                },
            }
            for index, (subnet_id, address) in enumerate(configurations, start=1)
        ]
        return self._add(
            group,
            "networkInterfaces",
            name,
            location,
            {"ipConfigurations": ip_configurations, "enableAcceleratedNetworking": False},
        )

    def add_public_ip(
        self,
        group: str,
        name: str,
        location: str,
        address: str | None,
        *,
        attached_to: str = "",
        allocation: str = "Static",
    ) -> dict[str, Any]:
        """Add a public IP (``address`` None: a dynamic one not allocated yet)."""
        properties: dict[str, Any] = {
            "publicIPAddressVersion": "IPv6" if address and ":" in address else "IPv4",
            "publicIPAllocationMethod": allocation,
            "idleTimeoutInMinutes": 4,
        }
        if address:
            properties["ipAddress"] = address
        if attached_to:
            properties["ipConfiguration"] = {"id": attached_to}
        return self._add(
            group,
            "publicIPAddresses",
            name,
            location,
            properties,
            sku={"name": "Standard", "tier": "Regional"},
        )

    def add_public_ip_prefix(
        self, group: str, name: str, location: str, prefix: str
    ) -> dict[str, Any]:
        length = int(prefix.split("/")[1])
        return self._add(
            group,
            "publicIPPrefixes",
            name,
            location,
            {"prefixLength": length, "ipPrefix": prefix, "publicIPAddressVersion": "IPv4"},
            sku={"name": "Standard", "tier": "Regional"},
        )

    # Serving it.
    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": _CODES.get(status, "InternalServerError"), "message": message}}

    def route(self, request: Request) -> tuple[int, dict[str, Any]]:
        if "api-version" not in request.query:
            return 400, {
                "error": {
                    "code": "MissingApiVersionParameter",
                    "message": "The api-version query parameter (?api-version=) is required.",
                }
            }
        match = _LIST_VNETS.match(request.path)
        if request.method == "GET" and match:
            if match["sub"] != self.subscription:
                return 404, self.error_body(
                    404, f"The subscription '{match['sub']}' could not be found."
                )
            return 200, self._vnet_page(request)
        if request.method == "POST" and request.path.lower() == (
            "/providers/microsoft.resourcegraph/resources"
        ):
            return self._graph(json.loads(request.body or "{}"))
        return 404, {
            "error": {
                "code": "InvalidResourceType",
                "message": f"The resource type could not be found for {request.path}.",
            }
        }

    def _vnet_page(self, request: Request) -> dict[str, Any]:
        vnets = [r for r in self.resources if r["type"] == "Microsoft.Network/virtualNetworks"]
        start = int(request.query.get("$skiptoken") or 0)
        end = start + self.vnet_page_size
        page: dict[str, Any] = {"value": vnets[start:end]}
        if end < len(vnets):
            page["nextLink"] = (
                f"{self.url}{request.path}?api-version={request.query['api-version']}"
                f"&$skiptoken={end}"
            )
        return page

    def _graph(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        query = body.get("query") or ""
        types_match = _TYPES.search(query)
        if self.subscription not in (body.get("subscriptions") or []) or not types_match:
            return 400, {
                "error": {
                    "code": "BadRequest",
                    "message": "Please provide below info when asking for support",
                    "details": [{"code": "InvalidQuery", "message": "Query is invalid."}],
                }
            }
        types = {t.strip(" '").lower() for t in types_match.group(1).split(",")}
        rows = [r for r in self.resources if r["type"].lower() in types]
        location = _LOCATION.search(query)
        if "distinct location" in query:
            data = [{"location": name} for name in sorted({r["location"] for r in rows})]
        elif location:
            data = sorted(
                (
                    {
                        key: r.get(key)
                        for key in ("id", "name", "type", "location", "tags", "sku", "properties")
                    }
                    | {"type": r["type"].lower()}
                    for r in rows
                    if r["location"].lower() == location.group(1).lower()
                ),
                key=lambda row: row["id"],
            )
        else:
            return 400, self.error_body(400, "The fake only answers the collector's queries.")
        options = body.get("options") or {}
        top = min(int(options.get("$top") or 100), 1000)
        start = int(options.get("$skipToken") or 0)
        end = min(start + top, len(data))
        if self.truncate and end < len(data):
            return 200, {
                "totalRecords": len(data),
                "count": end - start,
                "resultTruncated": "true",
                "data": data[start:end],
                "facets": [],
            }
        page: dict[str, Any] = {
            "totalRecords": len(data),
            "count": end - start,
            "resultTruncated": "false",
            "data": data[start:end],
            "facets": [],
        }
        if end < len(data):
            page["$skipToken"] = str(end)
        return 200, page
