"""Entry points of the processes a whole-organization analysis spreads its parts over.

A fresh (spawned) process imports this module before Django is set up, to find its
initializer and the function it runs: so nothing here imports a model at module level.
"""

from __future__ import annotations

from typing import Any


def setup(database: str) -> None:
    """Set up Django in a new process, on the database of the process that started it."""
    import django

    django.setup()
    from django.db import connections

    # The settings name the configured database; a test run's is another one.
    connections["default"].settings_dict["NAME"] = database


def analyse_part(task: tuple[Any, ...]) -> Any:
    """Analyse one part in this process (``apps.analysis.parts.analyse_part_here``)."""
    from apps.analysis.parts import analyse_part_here

    return analyse_part_here(*task)
