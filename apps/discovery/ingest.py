"""What an agent's batch must look like before anything of it is stored.

Pure Python, no Django: the ingest endpoint calls :func:`clean_batch` on the decoded
JSON and stores the result, or answers 400 with the first reason found. The wire format
of a record is :meth:`DiscoveredRecord.as_dict`; of a region, :meth:`RegionOutcome.as_dict`.

>>> batch = clean_batch({
...     "batch_id": "b-1", "provider": "aws", "account_external_id": "123456789012",
...     "regions": [{"region": "eu-west-1", "ok": True, "records": 1}],
...     "records": [{"provider": "aws", "resource_type": "vpc", "resource_id": "vpc-1",
...                  "cidr": "10.0.0.0/16", "region": "eu-west-1"}],
... })
>>> batch.records[0]["cidr"], batch.records[0]["tags"], batch.regions[0]["error_code"]
('10.0.0.0/16', {}, None)
>>> try:
...     clean_batch({"batch_id": "b-1", "provider": "aws", "account_external_id": "1",
...                  "records": [{"provider": "aws", "resource_type": "vpc",
...                               "resource_id": "vpc-1", "cidr": "10.1.2.3/8"}]})
... except BatchInvalid as error:
...     print(error)
records.0.cidr: '10.1.2.3/8' is not canonical; send '10.0.0.0/8'.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apps.discovery.collectors.base import PROVIDERS, canonical_cidr

__all__ = ["MAX_RECORDS", "BatchInvalid", "CleanBatch", "clean_batch"]

MAX_RECORDS = 5000
MAX_REGIONS = 500
MAX_TAGS = 100
BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

# Record fields with their longest accepted length; every one is a string.
RECORD_STRINGS: dict[str, int] = {
    "provider": 16,
    "resource_type": 64,
    "resource_id": 255,
    "cidr": 64,
    "name": 255,
    "region": 64,
    "network_id": 255,
    "parent_resource_id": 255,
    "account_external_id": 255,
    "state": 64,
}
REQUIRED_RECORD_FIELDS = ("provider", "resource_type", "resource_id", "cidr")
RECORD_FIELDS = frozenset({*RECORD_STRINGS, "tags", "attributes"})
REGION_FIELDS = frozenset({"region", "ok", "records", "error_code", "error_message"})
BATCH_FIELDS = frozenset({"batch_id", "provider", "account_external_id", "regions", "records"})
MAX_TAG_KEY, MAX_TAG_VALUE = 128, 256
MAX_ERROR_MESSAGE = 1000


class BatchInvalid(ValueError):
    """The batch breaks a rule: ``field`` says where (``records.17.cidr``), the text why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CleanBatch:
    """A validated batch: every record and region complete, in the wire format."""

    batch_id: str
    provider: str
    account_external_id: str
    regions: tuple[dict[str, Any], ...]
    records: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "provider": self.provider,
            "account_external_id": self.account_external_id,
            "regions": list(self.regions),
            "records": list(self.records),
        }

    def canonical_json(self) -> bytes:
        """Return the batch as compact JSON with sorted keys: equal batches, equal bytes."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":")).encode()

    @staticmethod
    def digest_of(canonical: bytes) -> str:
        return hashlib.sha256(canonical).hexdigest()


def _string(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise BatchInvalid(field, "must be a string.")
    if required and not value.strip():
        raise BatchInvalid(field, "must not be empty.")
    if len(value) > limit:
        raise BatchInvalid(field, f"is longer than {limit} characters.")
    return value


def _unknown(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise BatchInvalid(f"{where}{extra[0]}", "is not a known field.")


def _tags(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BatchInvalid(field, "must be an object of strings.")
    if len(value) > MAX_TAGS:
        raise BatchInvalid(field, f"has more than {MAX_TAGS} tags.")
    for key, tag in value.items():
        _string(key, field, MAX_TAG_KEY)
        _string(tag, f"{field}.{key}", MAX_TAG_VALUE)
    return dict(value)


def _record(data: Any, index: int, provider: str, account: str) -> dict[str, Any]:
    where = f"records.{index}"
    if not isinstance(data, dict):
        raise BatchInvalid(where, "must be an object.")
    _unknown(data, RECORD_FIELDS, f"{where}.")
    for name in REQUIRED_RECORD_FIELDS:
        if name not in data:
            raise BatchInvalid(f"{where}.{name}", "is required.")
    clean: dict[str, Any] = {}
    for name, limit in RECORD_STRINGS.items():
        clean[name] = _string(
            data.get(name, ""),
            f"{where}.{name}",
            limit,
            required=name in REQUIRED_RECORD_FIELDS,
        )
    if clean["provider"] != provider:
        raise BatchInvalid(
            f"{where}.provider", f"is '{clean['provider']}' in a batch of '{provider}'."
        )
    if clean["account_external_id"] not in ("", account):
        raise BatchInvalid(
            f"{where}.account_external_id", f"is not the batch's account '{account}'."
        )
    clean["account_external_id"] = account
    try:
        canonical = canonical_cidr(clean["cidr"])
    except ValueError:
        raise BatchInvalid(f"{where}.cidr", f"'{clean['cidr']}' is not a CIDR.") from None
    if canonical != clean["cidr"]:
        raise BatchInvalid(
            f"{where}.cidr", f"'{clean['cidr']}' is not canonical; send '{canonical}'."
        )
    clean["tags"] = _tags(data.get("tags", {}), f"{where}.tags")
    attributes = data.get("attributes", {})
    if not isinstance(attributes, dict):
        raise BatchInvalid(f"{where}.attributes", "must be an object.")
    clean["attributes"] = attributes
    return clean


def _region(data: Any, index: int) -> dict[str, Any]:
    where = f"regions.{index}"
    if not isinstance(data, dict):
        raise BatchInvalid(where, "must be an object.")
    _unknown(data, REGION_FIELDS, f"{where}.")
    region = _string(data.get("region"), f"{where}.region", 64, required=True)
    ok = data.get("ok")
    if not isinstance(ok, bool):
        raise BatchInvalid(f"{where}.ok", "must be true or false.")
    if "records" not in data:
        raise BatchInvalid(f"{where}.records", "is required.")
    records = data["records"]
    if isinstance(records, bool) or not isinstance(records, int) or records < 0:
        raise BatchInvalid(f"{where}.records", "must be a whole number of at least 0.")
    error_code, error_message = data.get("error_code"), data.get("error_message")
    if error_code is not None:
        _string(error_code, f"{where}.error_code", 64)
    if error_message is not None:
        _string(error_message, f"{where}.error_message", MAX_ERROR_MESSAGE)
    return {
        "region": region,
        "ok": ok,
        "records": records,
        "error_code": error_code,
        "error_message": error_message,
    }


def clean_batch(data: Any) -> CleanBatch:
    """Return ``data`` (decoded JSON) as a :class:`CleanBatch`, or raise ``BatchInvalid``.

    Every record is checked: provider, required fields, string lengths, a canonical CIDR
    (what ``canonical_cidr`` returns), tags of strings. The first fault found is reported.
    """
    if not isinstance(data, dict):
        raise BatchInvalid("__all__", "The batch must be a JSON object.")
    _unknown(data, BATCH_FIELDS, "")
    batch_id = _string(data.get("batch_id"), "batch_id", 64, required=True)
    if not BATCH_ID_RE.match(batch_id):
        raise BatchInvalid("batch_id", "may hold only letters, digits and . _ : -")
    provider = _string(data.get("provider"), "provider", 16, required=True)
    if provider not in PROVIDERS:
        raise BatchInvalid("provider", f"must be one of {', '.join(PROVIDERS)}.")
    account = _string(data.get("account_external_id"), "account_external_id", 255, required=True)
    records = data.get("records")
    if not isinstance(records, list):
        raise BatchInvalid("records", "must be a list.")
    if len(records) > MAX_RECORDS:
        raise BatchInvalid(
            "records", f"holds {len(records)} records; send at most {MAX_RECORDS} a batch."
        )
    regions = data.get("regions", [])
    if not isinstance(regions, list):
        raise BatchInvalid("regions", "must be a list.")
    if len(regions) > MAX_REGIONS:
        raise BatchInvalid("regions", f"holds more than {MAX_REGIONS} regions.")
    return CleanBatch(
        batch_id=batch_id,
        provider=provider,
        account_external_id=account,
        regions=tuple(_region(region, i) for i, region in enumerate(regions)),
        records=tuple(_record(item, i, provider, account) for i, item in enumerate(records)),
    )
