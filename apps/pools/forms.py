"""Console forms for pools. They parse input only; the services check the rules."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from apps.pools.choices import AllocationStrategy, PoolStatus, PoolType
from apps.pools.models import Pool
from apps.pools.services import NAME_MAX_LENGTH
from cloudpam.exceptions import ApplicationError
from cloudpam.forms import PickerWidget


def tags_to_text(tags: dict[str, str]) -> str:
    """Return tags as the ``key=value`` lines the tags box shows."""
    return "\n".join(f"{key}={value}" for key, value in tags.items())


class TagsField(forms.CharField):
    """Tags typed as ``key=value``, one per line."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "team=network\ncost_center=4711"})

    def to_python(self, value: Any) -> dict[str, str]:
        text = super().to_python(value) or ""
        tags: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, equals, tag_value = line.partition("=")
            if not equals or not key.strip():
                raise forms.ValidationError(f"Line {number}: write a tag as key=value.")
            tags[key.strip()] = tag_value.strip()
        return tags


def pool_reference(pool: Pool) -> str:
    """Return the text a pool picker writes for ``pool``: ``#12 10.0.0.0/8 corp``."""
    return f"#{pool.pk} {pool.cidr} {pool.name}"


_REFERENCE = re.compile(r"#?(\d{1,18})(?:\s.*)?", re.S)


class PoolReferenceField(forms.CharField):
    """A pool of the active organization, chosen with the pool picker.

    The picker writes ``#<id> <cidr> <name>``; without JavaScript one types the
    id (``12`` or ``#12``), the CIDR or the name, and a CIDR or name shared by
    several pools is refused with a request for the id. ``family`` narrows the
    choice to IPv4 or IPv6 pools.
    """

    def __init__(self, *args: Any, family: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 400)
        params = {"family": str(family)} if family else {}
        kwargs.setdefault(
            "widget",
            PickerWidget(
                "pools:pool-picker",
                kind="pools",
                placeholder="Name, CIDR or address",
                params=params,
            ),
        )
        super().__init__(*args, **kwargs)
        self.organization: Any = None
        self.family = family

    def _pools(self) -> Any:
        pools = Pool.objects.for_organization(self.organization).live()
        return pools.filter(family=self.family) if self.family else pools

    def prepare_value(self, value: Any) -> Any:
        """Show an initial pool (or its id) as the picker would have written it."""
        if isinstance(value, Pool):
            return pool_reference(value)
        text = str(value).strip() if value is not None else ""
        if self.organization is not None and text.isascii() and text.isdigit() and len(text) < 19:
            pool = self._pools().filter(pk=int(text)).first()
            if pool is not None:
                return pool_reference(pool)
        return value

    def clean(self, value: Any) -> Pool | None:
        text = (super().clean(value) or "").strip()
        if not text:
            return None
        pools = self._pools()
        reference = _REFERENCE.fullmatch(text)
        if reference:
            pool = pools.filter(pk=int(reference.group(1))).first()
        else:
            matches = list(pools.filter(cidr=text)[:2]) or list(pools.filter(name=text)[:2])
            if len(matches) > 1:
                raise forms.ValidationError(
                    f"Several pools are '{text}'; choose one in the list or enter its id."
                )
            pool = matches[0] if matches else None
        if pool is None:
            kind = {4: "IPv4 ", 6: "IPv6 "}.get(self.family or 0, "")
            raise forms.ValidationError(f"No live {kind}pool '{text}' in this organization.")
        return pool


class PoolAttributesForm(forms.Form):
    """The attributes every pool form edits."""

    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    type = forms.ChoiceField(choices=PoolType.choices, initial=PoolType.CUSTOM)
    status = forms.ChoiceField(choices=PoolStatus.choices, initial=PoolStatus.ACTIVE)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    tags = TagsField(required=False, help_text="One key=value per line.")

    def apply_error(self, error: ApplicationError) -> None:
        """Show a service error with the API's message.

        Field errors go on the fields they name; the message also goes above the form
        unless a field already shows it.
        """
        shown: set[str] = set()
        for field, messages in error.fields.items():
            if field in self.fields:
                for message in messages:
                    self.add_error(field, message)
                    shown.add(message)
        if error.message not in shown:
            self.add_error(None, error.message)


class PoolCreateForm(PoolAttributesForm):
    """Create a pool: a root, or a child of the pool given as parent."""

    cidr = forms.CharField(
        label="CIDR", max_length=100, widget=forms.TextInput(attrs={"placeholder": "10.0.0.0/16"})
    )
    parent = PoolReferenceField(
        required=False,
        label="Parent",
        help_text="Search by name, CIDR or address; empty for a root pool.",
    )
    field_order = ["name", "cidr", "parent", "type", "status", "description", "tags"]

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent"].organization = organization


class PoolEditForm(PoolAttributesForm):
    """Change a pool's attributes and prefix."""

    cidr = forms.CharField(label="CIDR", max_length=100)
    field_order = ["name", "cidr", "type", "status", "description", "tags"]

    @classmethod
    def initial_for(cls, pool: Pool) -> dict[str, Any]:
        return {
            "name": pool.name,
            "cidr": pool.cidr,
            "type": pool.type,
            "status": pool.status,
            "description": pool.description,
            "tags": tags_to_text(pool.tags),
        }


class PoolMoveForm(forms.Form):
    """Move a pool and its subtree under another parent, or to the roots."""

    parent = PoolReferenceField(
        required=False,
        label="New parent",
        help_text="Search by name, CIDR or address; empty to make the pool a root.",
    )

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent"].organization = organization

    apply_error = PoolAttributesForm.apply_error

    @staticmethod
    def initial_for(pool: Pool) -> dict[str, Any]:
        return {"parent": pool.parent if pool.parent_id else ""}


class PoolDeleteForm(forms.Form):
    """Confirm a soft delete."""

    recursive = forms.BooleanField(
        required=False, label="Also delete every pool inside it (recursive)"
    )

    apply_error = PoolAttributesForm.apply_error


class PoolAllocateForm(PoolAttributesForm):
    """Allocate the next free block of a length as a new child."""

    prefix_length = forms.IntegerField(label="Prefix length", min_value=0, max_value=128)
    strategy = forms.ChoiceField(
        choices=AllocationStrategy.choices, initial=AllocationStrategy.FIRST_FIT
    )
    field_order = ["prefix_length", "name", "strategy", "type", "status", "description", "tags"]

    def __init__(self, *args: Any, pool: Pool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bits = 32 if pool.family == 4 else 128
        self.fields["prefix_length"].widget.attrs.update(
            {"min": min(pool.prefix_length + 1, bits), "max": bits}
        )
        self.fields["prefix_length"].help_text = f"Between /{pool.prefix_length + 1} and /{bits}."
