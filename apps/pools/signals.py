"""Signals of the pools app, for writes that send no model signals of their own."""

from django.dispatch import Signal

# Sent once per bulk insert of pools (``bulk_create`` sends no ``post_save``), with
# ``organization_id``: observers of pool changes (the analysis cache) react as to a save.
pools_bulk_created = Signal()
