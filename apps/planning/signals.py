"""
Signals of planning events that change no row, for the audit trail.

The audit app listens to them; planning never imports audit.
"""

from django.dispatch import Signal

# kwargs: organization, actor (cloudpam.context.Actor), details (format, filters, parts)
pools_exported = Signal()
