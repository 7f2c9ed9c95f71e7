"""A fake Compute Engine API (v1 REST) for one project, for google-cloud-compute clients.

It answers exactly the calls the GCP provider and collector make, in the wire format of the
API reference: ``projects.get``, ``regions.list``, ``networks.list``,
``globalAddresses.list``, ``subnetworks.list`` and ``addresses.list`` per region, and the
aggregated lists of subnetworks and addresses (``items`` keyed by ``regions/<region>``, a
``warning`` for a region with none). Lists page with ``maxResults`` (default and maximum
500) and ``nextPageToken``, and leave ``items`` out when empty, as the API does. Errors are
the API's ``{"error": {"code", "message", "errors", "status"}}``.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.http import FakeCloud, Request

API = "https://www.googleapis.com/compute/v1"
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_ROUTE = re.compile(
    r"^/compute/v1/projects/(?P<project>[^/]+)"
    r"(?:/(?P<scope>global|regions/(?P<region>[^/]+)|aggregated)/(?P<kind>[a-zA-Z]+))?"
    r"(?:/(?P<rest>regions))?$"
)


class FakeCompute(FakeCloud):
    """One project's networks, subnetworks and addresses, served as Compute Engine does."""

    def __init__(self, project: str = "fake-project", regions: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.project = project
        self.regions = list(regions)
        self.networks: list[dict[str, Any]] = []
        self.global_addresses: list[dict[str, Any]] = []
        self.subnetworks: dict[str, list[dict[str, Any]]] = {r: [] for r in regions}
        self.addresses: dict[str, list[dict[str, Any]]] = {r: [] for r in regions}
        self._next_id = 1000

    # Building the estate.
    def _id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def link(self, *parts: str) -> str:
        return "/".join((API, "projects", self.project, *parts))

    def add_network(
        self, name: str, *, mode: str = "custom", ipv4_range: str = ""
    ) -> dict[str, Any]:
        """Add a network: ``custom``, ``auto`` or ``legacy`` (with ``ipv4_range``)."""
        network: dict[str, Any] = {
            "kind": "compute#network",
            "id": self._id(),
            "name": name,
            "selfLink": self.link("global", "networks", name),
            "routingConfig": {"routingMode": "REGIONAL"},
            "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
        }
        if mode == "legacy":
            network["IPv4Range"] = ipv4_range
            network["gatewayIPv4"] = ipv4_range.split("/")[0][:-1] + "1"
        else:
            network["autoCreateSubnetworks"] = mode == "auto"
            network["subnetworks"] = []
        self.networks.append(network)
        return network

    def add_subnetwork(
        self,
        region: str,
        name: str,
        network: dict[str, Any],
        cidr: str,
        *,
        secondary: dict[str, str] | None = None,
        ipv6_internal: str = "",
        ipv6_external: str = "",
    ) -> dict[str, Any]:
        """Add a subnetwork with its primary, secondary and IPv6 ranges."""
        self._region(region)
        subnet: dict[str, Any] = {
            "kind": "compute#subnetwork",
            "id": self._id(),
            "name": name,
            "network": network["selfLink"],
            "ipCidrRange": cidr,
            "gatewayAddress": cidr.split("/")[0][:-1] + "1",
            "region": self.link("regions", region),
            "selfLink": self.link("regions", region, "subnetworks", name),
            "privateIpGoogleAccess": False,
            "purpose": "PRIVATE",
            "stackType": "IPV4_ONLY",
            "fingerprint": "abc=",
        }
        if secondary:
            subnet["secondaryIpRanges"] = [
                {"rangeName": range_name, "ipCidrRange": value}
                for range_name, value in secondary.items()
            ]
        if ipv6_internal:
            subnet.update(
                stackType="IPV4_IPV6",
                ipv6AccessType="INTERNAL",
                ipv6CidrRange=ipv6_internal,
                internalIpv6Prefix=ipv6_internal,
            )
        if ipv6_external:
            subnet.update(
                stackType="IPV4_IPV6", ipv6AccessType="EXTERNAL", externalIpv6Prefix=ipv6_external
            )
        if "subnetworks" in network:
            network["subnetworks"].append(subnet["selfLink"])
        self.subnetworks[region].append(subnet)
        return subnet

    def add_address(
        self,
        name: str,
        address: str,
        *,
        region: str = "",
        address_type: str = "EXTERNAL",
        subnetwork: dict[str, Any] | None = None,
        network: dict[str, Any] | None = None,
        prefix_length: int | None = None,
        purpose: str = "",
        status: str = "RESERVED",
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Add a regional address (``region``) or a global one."""
        scope = ("regions", region) if region else ("global",)
        found: dict[str, Any] = {
            "kind": "compute#address",
            "id": self._id(),
            "name": name,
            "address": address,
            "addressType": address_type,
            "ipVersion": "IPV6" if ":" in address else "IPV4",
            "status": status,
            "networkTier": "PREMIUM",
            "selfLink": self.link(*scope, "addresses", name),
            "labelFingerprint": "42WmSpB8rSM=",
        }
        if region:
            found["region"] = self.link("regions", region)
        if subnetwork is not None:
            found["subnetwork"] = subnetwork["selfLink"]
        if network is not None:
            found["network"] = network["selfLink"]
        if prefix_length is not None:
            found["prefixLength"] = prefix_length
        if purpose:
            found["purpose"] = purpose
        if labels:
            found["labels"] = labels
        if status == "IN_USE":
            found["users"] = [self.link("zones", "z", "instances", name)]
        if region:
            self._region(region)
            self.addresses[region].append(found)
        else:
            self.global_addresses.append(found)
        return found

    def _region(self, region: str) -> None:
        if region not in self.subnetworks:
            self.regions.append(region)
            self.subnetworks[region] = []
            self.addresses[region] = []

    # Serving it.
    def error_body(self, status: int, message: str) -> dict[str, Any]:
        reason = {429: "rateLimitExceeded", 404: "notFound", 403: "forbidden"}.get(
            status, "backendError"
        )
        return {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": _STATUS.get(status, "UNKNOWN"),
            }
        }

    def route(self, request: Request) -> tuple[int, dict[str, Any]]:
        match = _ROUTE.match(request.path)
        if request.method != "GET" or match is None:
            return 404, self.error_body(404, f"The URL {request.path} was not found.")
        if match["project"] != self.project:
            return 404, self.error_body(
                404, f"The resource 'projects/{match['project']}' was not found"
            )
        scope, kind, region = match["scope"], match["kind"], match["region"]
        if scope is None and match["rest"] is None:
            return 200, {
                "kind": "compute#project",
                "id": "4242",
                "name": self.project,
                "selfLink": self.link(),
                "defaultNetworkTier": "PREMIUM",
            }
        if match["rest"] == "regions":
            regions = [
                {
                    "kind": "compute#region",
                    "name": r,
                    "status": "UP",
                    "selfLink": self.link("regions", r),
                }
                for r in self.regions
            ]
            return 200, self._page(request, "compute#regionList", "regions", regions)
        if scope == "aggregated" and kind in ("subnetworks", "addresses"):
            return 200, self._aggregated(request, kind)
        if scope == "global" and kind in ("networks", "addresses"):
            items = self.networks if kind == "networks" else self.global_addresses
            return 200, self._page(request, f"compute#{kind[:-1]}List", f"global/{kind}", items)
        if region is not None and kind in ("subnetworks", "addresses"):
            if region not in self.subnetworks:
                return 404, self.error_body(
                    404, f"The resource 'projects/{self.project}/regions/{region}' was not found"
                )
            items = (self.subnetworks if kind == "subnetworks" else self.addresses)[region]
            return 200, self._page(
                request, f"compute#{kind[:-1]}List", f"regions/{region}/{kind}", items
            )
        return 404, self.error_body(404, f"The URL {request.path} was not found.")

    def _window(self, request: Request, total: int) -> tuple[int, int, str]:
        size = min(int(request.query.get("maxResults") or 500), 500)
        start = int(request.query.get("pageToken") or 0)
        end = min(start + size, total)
        return start, end, str(end) if end < total else ""

    def _page(
        self, request: Request, kind: str, path: str, items: list[dict[str, Any]]
    ) -> dict[str, Any]:
        start, end, token = self._window(request, len(items))
        page: dict[str, Any] = {
            "kind": kind,
            "id": f"projects/{self.project}/{path}",
            "selfLink": self.link(path),
        }
        if end > start:
            page["items"] = items[start:end]
        if token:
            page["nextPageToken"] = token
        return page

    def _aggregated(self, request: Request, kind: str) -> dict[str, Any]:
        """Return an aggregated list page: a window over every region's items, in order."""
        source = self.subnetworks if kind == "subnetworks" else self.addresses
        flat = [(region, item) for region in self.regions for item in source[region]]
        start, end, token = self._window(request, len(flat))
        items: dict[str, Any] = {}
        for region in self.regions:
            items[f"regions/{region}"] = {
                "warning": {
                    "code": "NO_RESULTS_ON_PAGE",
                    "message": f"There are no results for scope 'regions/{region}' on this page.",
                    "data": [{"key": "scope", "value": f"regions/{region}"}],
                }
            }
        for region, item in flat[start:end]:
            items[f"regions/{region}"].pop("warning", None)
            items[f"regions/{region}"].setdefault(kind, []).append(item)
        page: dict[str, Any] = {
            "kind": f"compute#{kind[:-1]}AggregatedList",
            "id": f"projects/{self.project}/aggregated/{kind}",
            "items": items,
            "selfLink": self.link("aggregated", kind),
        }
        if token:
            page["nextPageToken"] = token
        return page
