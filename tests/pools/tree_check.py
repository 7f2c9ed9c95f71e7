"""treebeard's ``find_problems`` in a few queries, for tests that build big trees.

``Pool.objects.find_problems()`` runs two queries per node (its parent, its children):
about 32 s for a 12,000-pool tree on SQLite, most of the test that builds it. This
answers the same five lists from one read of the rows (plus one for ancestors outside a
subtree); ``test_tree_check.py`` shows the two agree on damaged trees.
"""

from __future__ import annotations

from collections import Counter

from apps.pools.models import Pool

Problems = tuple[list[int], list[int], list[int], list[int], list[int]]


def tree_problems(parent: Pool | None = None) -> Problems:
    steplen, alphabet = Pool.steplen, set(Pool.alphabet)
    rows = Pool.objects.all()
    if parent is not None:
        rows = rows.filter(path__startswith=parent.path)
    nodes = list(rows.order_by("path").values_list("pk", "path", "depth", "numchild"))
    paths = {path for _, path, _, _ in nodes}
    wanted = {path[:-steplen] for _, path, _, _ in nodes if len(path) > steplen} - paths
    paths |= set(Pool.objects.filter(path__in=wanted).values_list("path", flat=True))
    # Counted as treebeard's query counts: by the prefix and the path's whole steps.
    children = Counter(path[: (len(path) // steplen - 1) * steplen] for _, path, _, _ in nodes)

    evil_chars: list[int] = []
    bad_steplen: list[int] = []
    orphans: list[int] = []
    wrong_depth: list[int] = []
    wrong_numchild: list[int] = []
    # The same order of checks as treebeard: a node is reported for its first problem only.
    for pk, path, depth, numchild in nodes:
        if not set(path) <= alphabet:
            evil_chars.append(pk)
        elif len(path) % steplen:
            bad_steplen.append(pk)
        elif len(path) > steplen and path[:-steplen] not in paths:
            orphans.append(pk)
        elif depth != len(path) // steplen:
            wrong_depth.append(pk)
        elif numchild != children[path]:
            wrong_numchild.append(pk)
    return evil_chars, bad_steplen, orphans, wrong_depth, wrong_numchild
