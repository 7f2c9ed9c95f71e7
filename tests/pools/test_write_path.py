"""No code writes pools around the pool services.

The services keep the invariants, the audit trail and the locks; a ``bulk_create``,
``bulk_update``, ``QuerySet.update()`` or ``QuerySet.delete()`` on pools anywhere else
would bypass all three. This walks the source of every app and the project package.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BULK_WRITES = {"bulk_create", "bulk_update", "update", "delete", "raw"}
ALLOWED = {
    ROOT / "apps" / "pools" / "services.py",
    # ``manage.py generate_plan``: an operator's bulk load of an empty organization (COPY),
    # checked by the pure generator's invariants and audited as one import event.
    ROOT / "apps" / "pools" / "generation.py",
}


def _mentions_pool(node: ast.AST) -> bool:
    """Return whether an expression chain starts from ``Pool`` (or a pool queryset name)."""
    while isinstance(node, ast.Call | ast.Attribute | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return isinstance(node, ast.Name) and node.id in {"Pool", "pools_qs", "PoolQuerySet"}


def pool_bulk_writes(source: str) -> list[int]:
    """Return the lines of ``source`` that write pools in bulk."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in BULK_WRITES
        and _mentions_pool(node.func.value)
        and "objects" in ast.unparse(node.func.value)
    ]


def test_the_walker_finds_bulk_writes():
    source = (
        "Pool.objects.filter(pk=1).update(name='x')\n"
        "Pool.objects.bulk_create(rows)\n"
        "Pool.objects.for_organization(org).live().delete()\n"
        "Pool.objects.filter(pk=1).first()\n"
        "pool.delete()\n"
    )
    assert pool_bulk_writes(source) == [1, 2, 3]


def test_no_code_writes_pools_outside_the_pool_services():
    offenders = []
    for path in [*(ROOT / "apps").rglob("*.py"), *(ROOT / "cloudpam").rglob("*.py")]:
        if path in ALLOWED or "migrations" in path.parts:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{line}"
            for line in pool_bulk_writes(path.read_text(encoding="utf-8"))
        ]
    assert offenders == [], "pools are written through apps/pools/services.py only"
