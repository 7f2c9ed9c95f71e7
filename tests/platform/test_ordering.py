"""``?ordering=`` always ends on the primary key, so tied rows page the same way twice."""

from __future__ import annotations

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.audit.models import AuditEvent
from cloudpam.api.filters import StableOrderingFilter


class _View:
    ordering_fields = ["timestamp", "id", "sequence"]
    ordering = ["-timestamp", "-id"]


def _ordering(query: str) -> list[str] | None:
    request = Request(APIRequestFactory().get(f"/?{query}"))
    ordering = StableOrderingFilter().get_ordering(request, AuditEvent.objects.none(), _View())
    return list(ordering) if ordering else None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ordering=sequence", ["sequence", "pk"]),
        ("ordering=-timestamp", ["-timestamp", "-pk"]),
        ("ordering=timestamp,-sequence", ["timestamp", "-sequence", "-pk"]),
        ("ordering=-id", ["-id"]),
        ("ordering=id,timestamp", ["id", "timestamp"]),
        ("", ["-timestamp", "-id"]),
        ("ordering=unknown", ["-timestamp", "-id"]),
    ],
)
def test_the_ordering_ends_on_the_primary_key(query, expected):
    assert _ordering(query) == expected
