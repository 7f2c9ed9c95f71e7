"""The console's "Order by" choices of the cloud and discovery lists read as words."""

from __future__ import annotations

import pytest

from apps.cloud.filters import AccountFilterSet
from apps.discovery.filters import ResourceFilterSet, RunFilterSet


@pytest.mark.parametrize("filterset", [AccountFilterSet, ResourceFilterSet, RunFilterSet])
def test_ordering_choices_have_labels_not_field_names(filterset) -> None:  # type: ignore[no-untyped-def]
    choices = filterset(data={}).form.fields["ordering"].choices
    empty, *orderings = choices
    assert empty[0] == ""
    assert "(default)" in empty[1]
    for value, label in orderings:
        assert label != value, value
        assert "_" not in label, label
        assert label[0].isupper(), label
