"""The hash of an event covers every recorded field and the previous hash (no database)."""

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apps.audit import hashing
from apps.audit.hashing import GENESIS_HASH, canonical_json, chain_hash
from apps.audit.models import HASHED_FIELDS, hash_content

VALUES = {
    "organization_id": 1,
    "sequence": 7,
    "timestamp": datetime(2031, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
    "action": "update",
    "object_type": "pool",
    "object_pk": "42",
    "object_repr": "vpc 10.1.0.0/16",
    "changes": {"name": ["a", "b"], "tags": [{}, {"env": "prod"}]},
    "additional_data": None,
    "actor_id": 3,
    "actor_email": "alice@example.com",
    "actor_token_id": None,
    "actor_token_name": "",
    "actor_system": "",
    "cid": "req-1",
    "remote_addr": "2001:DB8:0:0::1",
    "user_agent": "curl/8",
}
CHANGED = {
    "organization_id": 2,
    "sequence": 8,
    "timestamp": datetime(2031, 3, 1, 12, 0, 0, 123457, tzinfo=UTC),
    "action": "delete",
    "object_type": "membership",
    "object_pk": "43",
    "object_repr": "vpc 10.1.0.0/17",
    "changes": {"name": ["a", "c"]},
    "additional_data": {"removed": 1},
    "actor_id": 4,
    "actor_email": "mallory@example.com",
    "actor_token_id": 9,
    "actor_token_name": "ci",
    "actor_system": "task:x",
    "cid": "req-2",
    "remote_addr": "192.0.2.1",
    "user_agent": "curl/9",
}


def test_the_engine_imports_no_django():
    tree = ast.parse(Path(hashing.__file__).read_text())
    modules = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(str(module).startswith("django") for module in modules)


def test_canonical_json_ignores_key_order_and_whitespace():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == canonical_json(
        {"a": [1, {"c": 3, "d": 2}], "b": 1}
    )
    assert canonical_json({"a": "é"}) == '{"a":"é"}'


def test_the_hash_is_sha256_hex_of_content_and_previous_hash():
    digest = chain_hash(hash_content(VALUES), GENESIS_HASH)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert digest == chain_hash(hash_content(dict(VALUES)), GENESIS_HASH)
    assert digest != chain_hash(hash_content(VALUES), "1" * 64)


def test_an_address_is_hashed_in_one_spelling():
    spelled = {**VALUES, "remote_addr": "2001:db8::1"}
    assert chain_hash(hash_content(spelled), GENESIS_HASH) == chain_hash(
        hash_content(VALUES), GENESIS_HASH
    )


@pytest.mark.parametrize("field", HASHED_FIELDS)
def test_every_recorded_field_is_covered(field):
    changed = {**VALUES, field: CHANGED[field]}
    assert chain_hash(hash_content(changed), GENESIS_HASH) != chain_hash(
        hash_content(VALUES), GENESIS_HASH
    )
