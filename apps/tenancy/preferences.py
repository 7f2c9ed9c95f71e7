"""A user's console table preferences: the columns shown and the rows per page.

A preference is a display choice, the user's own and the same in every organization; it
is not audited (see ``apps/audit/registration.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from apps.tenancy.models import TablePreference, User


def table_preference_get(*, user: User, table: str) -> TablePreference | None:
    """Return ``user``'s preference for ``table``, or None when they never chose."""
    if not user.is_authenticated:
        return None
    return TablePreference.objects.filter(user=user, table=table).first()


@transaction.atomic
def table_preference_save(
    *, user: User, table: str, columns: Sequence[str], page_size: int | None
) -> TablePreference:
    """Remember the columns ``user`` shows in ``table`` and the rows per page.

    The caller has checked ``columns`` and ``page_size`` against the table's own.
    """
    preference, _ = TablePreference.objects.update_or_create(
        user=user,
        table=table,
        defaults={"columns": list(columns), "page_size": page_size},
    )
    return preference
