"""Signals of the pools app, for writes that send no model signals of their own."""

from django.dispatch import Signal

# Sent once per bulk insert of pools (``bulk_create`` sends no ``post_save``), with
# ``organization_id``: observers of pool changes (the analysis cache) react as to a save.
pools_bulk_created = Signal()

# Sent once per set-based change of many pools (a subtree's delete, restore or purge, done
# with ``QuerySet.update`` or one ``DELETE`` that send no model signals), with
# ``organization_id``: observers react as to a save.
pools_bulk_changed = Signal()

# Sent once when ``manage.py generate_plan`` filled an organization, with ``organization``,
# ``actor`` and ``details`` (size, seed, roots): the audit trail records one ``import``
# event for the plan (see apps.pools.generation). The pools app never imports audit.
plan_generated = Signal()
