"""
The pure plan engine: operation shapes and checks, preview and risk over plain data.

No Django import (a test walks the imports): the services feed it dataclasses and dicts.
"""

from apps.planning.engine.operations import (
    MAX_OPERATIONS,
    Checked,
    OperationError,
    runnable,
    to_change,
    to_operation,
    validate_operations,
)

__all__ = [
    "MAX_OPERATIONS",
    "Checked",
    "OperationError",
    "runnable",
    "to_change",
    "to_operation",
    "validate_operations",
]
