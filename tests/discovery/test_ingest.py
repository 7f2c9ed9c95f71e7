"""The batch rules, without a database."""

from __future__ import annotations

import doctest
import importlib

import pytest

from apps.discovery.ingest import BatchInvalid, CleanBatch, clean_batch
from tests.discovery.factories import batch


@pytest.mark.parametrize("name", ["apps.discovery.ingest", "apps.discovery.agent.runner"])
def test_worked_examples_in_docstrings(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0


def test_records_are_completed_and_the_account_filled_in() -> None:
    data = batch(count=1)
    data["records"][0] = {
        "provider": "aws",
        "resource_type": "vpc",
        "resource_id": "vpc-1",
        "cidr": "2600:1f18::/56",
    }
    clean = clean_batch(data)
    assert clean.records[0] == {
        "provider": "aws",
        "resource_type": "vpc",
        "resource_id": "vpc-1",
        "cidr": "2600:1f18::/56",
        "name": "",
        "region": "",
        "network_id": "",
        "parent_resource_id": "",
        "account_external_id": "123456789012",
        "state": "",
        "tags": {},
        "attributes": {},
    }


def test_equal_batches_have_equal_digests_whatever_the_key_order() -> None:
    first = clean_batch(batch(count=3))
    reordered = batch(count=3)
    reordered["records"] = [dict(reversed(list(r.items()))) for r in reordered["records"]]
    second = clean_batch(reordered)
    assert CleanBatch.digest_of(first.canonical_json()) == CleanBatch.digest_of(
        second.canonical_json()
    )


def test_a_record_of_another_account_is_refused() -> None:
    data = batch(count=1)
    data["records"][0]["account_external_id"] = "999999999999"
    with pytest.raises(BatchInvalid) as caught:
        clean_batch(data)
    assert caught.value.field == "records.0.account_external_id"


@pytest.mark.parametrize("body", [[], "batch", None, 7])
def test_a_body_that_is_no_object_is_refused(body: object) -> None:
    with pytest.raises(BatchInvalid, match="must be a JSON object"):
        clean_batch(body)
