"""Large subtrees for scale tests, inserted in bulk with precomputed treebeard paths.

The services would take minutes for 12,000 pools; these rows are what they would write
(path, depth, numchild, parent, the address keys), checked by ``tree_check.tree_problems``.
"""

from __future__ import annotations

from apps.pools import cidr as engine
from apps.pools.models import Pool


def bulk_children(parent: Pool, count: int, prefix_length: int, name: str = "c") -> list[Pool]:
    """Add ``count`` consecutive children of ``prefix_length`` under ``parent``; return them.

    ``parent`` must have no children yet.
    """
    size = 1 << ((32 if parent.family == 4 else 128) - prefix_length)
    first = parent.prefix.first
    children = []
    for n in range(count):
        child = Pool(
            organization_id=parent.organization_id,
            parent=parent,
            name=f"{name}{n}",
            path=Pool._get_path(parent.path, parent.depth + 1, n + 1),
            depth=parent.depth + 1,
            numchild=0,
        )
        child.set_prefix(engine.Prefix(parent.family, first + n * size, prefix_length))
        children.append(child)
    created = Pool.objects.bulk_create(children, batch_size=2000)
    Pool.objects.filter(pk=parent.pk).update(numchild=count)
    parent.numchild = count
    return created
