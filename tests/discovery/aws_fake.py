"""moto's server behind a small HTTP proxy: AWS on loopback, with paging and faults.

moto answers the real wire format but serves every VPC, subnet and interface in one page
and never fails. The proxy in front of it adds what the collector must cope with in AWS:

* EC2 paging: ``DescribeVpcs``, ``DescribeSubnets`` and ``DescribeNetworkInterfaces``
  with ``MaxResults`` get that many items and a ``nextToken``, as EC2 does;
* faults: any answer (a 500, a 429 with ``Retry-After``, a 403) for the requests a rule
  matches by service, action, region or parameters, a number of times or for ever, or a
  delay before the answer;
* a log of every request seen (service, region, action, parameters, status).

Clients reach it through ``endpoint_url``, as ``CLOUDPAM_AWS_ENDPOINT_URL`` does in
production, so the code under test is the production code.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import re
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

import boto3

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from moto.server import ThreadedMotoServer

ACCOUNT = "123456789012"
PAGED = {
    "DescribeVpcs": "vpcSet",
    "DescribeSubnets": "subnetSet",
    "DescribeNetworkInterfaces": "networkInterfaceSet",
}
SCOPE = re.compile(r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/aws4_request")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


@dataclass
class Seen:
    """One request the proxy received, and the status it answered."""

    service: str
    region: str
    action: str
    params: dict[str, str]
    access_key: str = ""
    status: int = 0


@dataclass
class Fault:
    """An answer the proxy gives instead of moto's to the requests it matches."""

    status: int = 500
    code: str = "InternalError"
    message: str = "We encountered an internal error. Please try again."
    service: str | None = None
    action: str | None = None
    region: str | None = None
    when: Callable[[Mapping[str, str]], bool] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    times: int | None = None
    delay: float = 0.0
    answer: bytes | None = None
    used: int = 0

    def matches(self, seen: Seen) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        return (
            (self.service is None or self.service == seen.service)
            and (self.action is None or self.action == seen.action)
            and (self.region is None or self.region == seen.region)
            and (self.when is None or self.when(seen.params))
        )

    def body(self, service: str) -> bytes:
        if self.answer is not None:
            return self.answer
        if service == "organizations":
            return json.dumps({"__type": self.code, "message": self.message}).encode()
        if service == "ec2":
            return (
                f"<Response><Errors><Error><Code>{self.code}</Code>"
                f"<Message>{self.message}</Message></Error></Errors>"
                "<RequestID>fault</RequestID></Response>"
            ).encode()
        return (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{self.code}</Code>"
            f"<Message>{self.message}</Message></Error><RequestId>fault</RequestId>"
            "</ErrorResponse>"
        ).encode()


class FakeAws:
    """moto's server and the proxy in front of it, both on loopback threads."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self._listings: dict[tuple[Any, ...], _Listing] = {}
        self._lock = threading.Lock()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._proxy = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._proxy.daemon_threads = True

    def __enter__(self) -> FakeAws:
        self._moto.start()
        self.moto_address = self._moto.get_host_and_port()
        threading.Thread(target=self._proxy.serve_forever, daemon=True).start()
        host, port = self._proxy.server_address[:2]
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._proxy.shutdown()
        self._proxy.server_close()
        self._moto.stop()

    def reset(self) -> None:
        """Forget every resource, fault and logged request."""
        connection = http.client.HTTPConnection(*self.moto_address, timeout=30)
        connection.request("POST", "/moto-api/reset")
        connection.getresponse().read()
        connection.close()
        self.faults.clear()
        self.seen.clear()
        self._listings.clear()

    def fail(self, **rule: Any) -> Fault:
        """Add a :class:`Fault` and return it (its ``used`` counts the answers it gave)."""
        fault = Fault(**rule)
        self.faults.append(fault)
        return fault

    def requests(self, action: str, region: str | None = None) -> list[Seen]:
        """Return the logged requests for ``action`` (in ``region``)."""
        return [
            seen
            for seen in self.seen
            if seen.action == action and (region is None or seen.region == region)
        ]

    def client(self, service: str, region: str = "us-east-1", **credentials: str) -> Any:
        """Return a boto3 client straight to moto (for building estates, not under test)."""
        credentials.setdefault("aws_access_key_id", "testing")
        credentials.setdefault("aws_secret_access_key", "testing")
        host, port = self.moto_address
        return boto3.client(
            service, region_name=region, endpoint_url=f"http://{host}:{port}", **credentials
        )

    def _fault_for(self, seen: Seen) -> Fault | None:
        with self._lock:
            self.seen.append(seen)
            for fault in self.faults:
                if fault.matches(seen):
                    fault.used += 1
                    return fault
        return None


def _handler(fake: FakeAws) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: pytest shows the log of a failing test."""

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            scope = SCOPE.search(self.headers.get("Authorization", ""))
            access_key, region, service = scope.groups() if scope else ("", "", "")
            target = self.headers.get("X-Amz-Target", "")
            if target:
                params = json.loads(body or b"{}")
                action = target.rsplit(".", 1)[-1]
            else:
                params = dict(parse_qsl(body.decode()))
                action = params.get("Action", "")
            seen = Seen(service, region, action, params, access_key)
            fault = fake._fault_for(seen)
            if fault is not None:
                time.sleep(fault.delay)
                if fault.status:
                    seen.status = fault.status
                    kind = "json" if service == "organizations" else "xml"
                    self._answer(
                        fault.status, {"Content-Type": kind, **fault.headers}, fault.body(service)
                    )
                    return
            page = None
            if action in PAGED and "MaxResults" in params:
                forwarded = dict(params)
                size = int(forwarded.pop("MaxResults"))
                start = int(forwarded.pop("NextToken", "0"))
                body = urlencode(forwarded).encode()
                if not 5 <= size <= 1000:
                    seen.status = 400
                    error = Fault(400, "InvalidParameterValue", f"MaxResults {size} not in 5-1000")
                    self._answer(400, {"Content-Type": "xml"}, error.body("ec2"))
                    return
                # Later pages come from the list the first page saw, as a NextToken
                # walks one listing in EC2, and moto is asked for the whole list once.
                key = (access_key, region, action, body)
                listing = fake._listings.get(key) if start else None
                if listing is not None:
                    seen.status = 200
                    self._answer(200, {"Content-Type": "text/xml"}, listing.page(start, size))
                    return
                page = (key, PAGED[action], start, size)
            try:
                status, headers, answer = self._forward(body)
            except OSError:
                # moto has stopped (a delayed request outlived its test): nobody listens.
                return
            if page is not None and status == 200:
                key, set_name, start, size = page
                listing = fake._listings[key] = _Listing(answer, set_name)
                answer = listing.page(start, size)
            seen.status = status
            self._answer(status, headers, answer)

        def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            connection = http.client.HTTPConnection(*fake.moto_address, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            connection.request("POST", self.path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            connection.close()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            return response.status, kept, answer

        def _answer(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Proxy


class _Listing:
    """One full EC2 list answer from moto, served a page at a time."""

    def __init__(self, answer: bytes, set_name: str) -> None:
        self.root = ET.fromstring(answer)  # noqa: S314 - moto's own answer on loopback
        tag = self.root.tag
        self.namespace = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
        found = self.root.find(f"{self.namespace}{set_name}")
        self.items = found if found is not None else ET.Element(f"{self.namespace}{set_name}")

    def page(self, start: int, size: int) -> bytes:
        """Return ``size`` items from ``start``, with a ``nextToken`` when more follow."""
        root = ET.Element(self.root.tag)
        for child in self.root:
            if child is self.items:
                cut = ET.SubElement(root, self.items.tag)
                cut.extend(list(self.items)[start : start + size])
            else:
                root.append(child)
        if start + size < len(self.items):
            ET.SubElement(root, f"{self.namespace}nextToken").text = str(start + size)
        if self.namespace:
            ET.register_namespace("", self.namespace[1:-1])
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)


Expected = tuple[str, str, str, str, str, str, str]


def expected(record: Any) -> Expected:
    """Return what a record must match in an estate: type, id, CIDR, region, links, name."""
    return (
        record.resource_type,
        record.resource_id,
        record.cidr,
        record.region,
        record.network_id,
        record.parent_resource_id,
        record.name,
    )


def _named(kind: str, name: str) -> list[dict[str, Any]]:
    return [
        {
            "ResourceType": kind,
            "Tags": [{"Key": "Name", "Value": name}, {"Key": "app", "Value": "cloudpam"}],
        }
    ]


def build_estate(
    ec2: Any,
    region: str,
    *,
    vpcs: int = 2,
    subnets: int = 2,
    interfaces: int = 1,
    addresses: int = 2,
    eips: int = 2,
    first_octet: int = 10,
) -> set[Expected]:
    """Create an estate in ``region`` through ``ec2`` and return the records it must give.

    The default VPC moto creates in every region goes first, so the estate is exactly
    what this function made. Each VPC has two IPv4 blocks and an Amazon IPv6 /56; each
    subnet an IPv4 /24 and, one in two, an IPv6 /64; each interface ``addresses`` private
    IPv4 addresses and, in an IPv6 subnet, one IPv6 address. The first ``eips - 1``
    Elastic IPs are associated with the first interfaces, the last one is not. The
    expected records come from what was asked for and what the create calls answered,
    never from a describe call.
    """
    if not vpcs <= 120 or not subnets <= 250 or not interfaces * addresses <= 240:
        raise ValueError("estate too large for its address plan")
    for default in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
        found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default["VpcId"]]}])
        for subnet in found["Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=default["VpcId"])
    want: set[Expected] = set()
    interface_ids: list[str] = []
    for v in range(vpcs):
        first, second = f"{first_octet}.{2 * v}", f"{first_octet}.{2 * v + 1}"
        name = f"{region}-vpc-{v}"
        vpc = ec2.create_vpc(
            CidrBlock=f"{first}.0.0/16",
            AmazonProvidedIpv6CidrBlock=True,
            TagSpecifications=_named("vpc", name),
        )["Vpc"]
        vpc_id = vpc["VpcId"]
        ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock=f"{second}.0.0/16")
        ipv6 = ipaddress.ip_network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
        for cidr in (f"{first}.0.0/16", f"{second}.0.0/16", str(ipv6)):
            want.add(("vpc", vpc_id, cidr, region, vpc_id, "", name))
        blocks = ipv6.subnets(new_prefix=64)
        for s in range(subnets):
            name = f"{region}-subnet-{v}-{s}"
            block = next(blocks)
            params: dict[str, Any] = {"Ipv6CidrBlock": str(block)} if s % 2 == 0 else {}
            subnet_id = ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=f"{first}.{s}.0/24",
                TagSpecifications=_named("subnet", name),
                **params,
            )["Subnet"]["SubnetId"]
            want.add(("subnet", subnet_id, f"{first}.{s}.0/24", region, vpc_id, vpc_id, name))
            if params:
                want.add(("subnet", subnet_id, str(block), region, vpc_id, vpc_id, name))
            for e in range(interfaces):
                name = f"{region}-eni-{v}-{s}-{e}"
                private = [f"{first}.{s}.{4 + e * addresses + i}" for i in range(addresses)]
                extra: dict[str, Any] = {}
                if params:
                    extra["Ipv6Addresses"] = [{"Ipv6Address": str(block[e + 16])}]
                interface_id = ec2.create_network_interface(
                    SubnetId=subnet_id,
                    PrivateIpAddresses=[
                        {"PrivateIpAddress": ip, "Primary": i == 0} for i, ip in enumerate(private)
                    ],
                    TagSpecifications=_named("network-interface", name),
                    **extra,
                )["NetworkInterface"]["NetworkInterfaceId"]
                interface_ids.append(interface_id)
                for ip in private:
                    want.add(("eni", interface_id, f"{ip}/32", region, vpc_id, subnet_id, name))
                if params:
                    cidr = f"{block[e + 16]}/128"
                    want.add(("eni", interface_id, cidr, region, vpc_id, subnet_id, name))
    for n in range(eips):
        name = f"{region}-eip-{n}"
        allocated = ec2.allocate_address(Domain="vpc", TagSpecifications=_named("elastic-ip", name))
        parent = ""
        if n < eips - 1 and n < len(interface_ids):
            parent = interface_ids[n]
            ec2.associate_address(AllocationId=allocated["AllocationId"], NetworkInterfaceId=parent)
        cidr = f"{allocated['PublicIp']}/32"
        want.add(("eip", allocated["AllocationId"], cidr, region, "", parent, name))
    return want
