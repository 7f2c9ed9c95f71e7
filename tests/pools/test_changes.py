"""The batch checks that need no database (``apps.pools.changes``)."""

from __future__ import annotations

from apps.pools.changes import (
    MAX_CHANGES,
    PoolCreate,
    PoolDelete,
    PoolUpdate,
    change_count,
    check_changes,
    existing_ids,
)


def codes(changes):
    return [(error.ref, error.code) for error in check_changes(changes)]


def test_a_sound_batch_has_no_errors():
    changes = [
        PoolCreate(ref="eu", name="eu", cidr="10.0.0.0/12", parent=7),
        PoolCreate(ref="eu-prod", name="eu-prod", cidr="10.0.0.0/14", parent="eu"),
        PoolCreate(ref="eu-dev", name="eu-dev", prefix_length=14, parent="eu"),
        PoolUpdate(ref="rename", pool=9, fields={"name": "x"}),
        PoolDelete(ref="drop", pool=11, recursive=True),
    ]
    assert check_changes(changes) == []
    assert existing_ids(changes) == {7, 9, 11}
    assert change_count(changes) == {"create": 3, "update": 1, "delete": 1}


def test_every_error_is_reported_in_change_order():
    changes = [
        PoolCreate(ref="a", name="a", cidr="10.0.0.1/16", parent=1),
        PoolCreate(ref="a", name="dup", cidr="10.1.0.0/16", parent=1),
        PoolCreate(ref="b", name="b", cidr="10.2.0.0/16", parent="nowhere"),
        PoolCreate(ref="c", name="c", parent=1),
        PoolCreate(ref="d", name="d", cidr="10.3.0.0/16", prefix_length=24, parent=1),
        PoolUpdate(ref="e", pool="a-typo", fields={"owner": "me"}),
        PoolDelete(ref="f", pool=None),
    ]
    errors = check_changes(changes)
    assert [error.index for error in errors] == sorted(error.index for error in errors)
    assert [(e.ref, e.field) for e in errors] == [
        ("a", "cidr"),
        ("a", "ref"),
        ("b", "parent"),
        ("c", "cidr"),
        ("d", "cidr"),
        ("e", "pool"),
        ("e", "fields"),
        ("f", "pool"),
    ]
    assert "did you mean" in errors[0].message or "10.0.0.0/16" in errors[0].message
    assert errors[1].message == "ref: 'a' is already used by change 1."
    assert errors[2].describe() == "change 3 (b): parent: no earlier change has the ref 'nowhere'."


def test_a_create_cannot_name_itself_or_a_later_create_as_parent():
    changes = [
        PoolCreate(ref="self", name="s", cidr="10.0.0.0/16", parent="self"),
        PoolCreate(ref="early", name="e", cidr="10.1.0.0/24", parent="late"),
        PoolCreate(ref="late", name="l", cidr="10.1.0.0/16", parent=1),
    ]
    assert codes(changes) == [("self", "validation_error"), ("early", "validation_error")]


def test_a_ref_to_an_update_is_not_a_pool():
    changes = [
        PoolUpdate(ref="rename", pool=3, fields={"name": "x"}),
        PoolCreate(ref="child", name="c", cidr="10.0.0.0/24", parent="rename"),
    ]
    assert codes(changes) == [("child", "validation_error")]


def test_creates_of_the_batch_stay_inside_their_batch_parent():
    changes = [
        PoolCreate(ref="vpc", name="vpc", cidr="10.0.0.0/16", parent=1),
        PoolCreate(ref="in", name="in", cidr="10.0.1.0/24", parent="vpc"),
        PoolCreate(ref="out", name="out", cidr="10.1.0.0/24", parent="vpc"),
        PoolCreate(ref="same", name="same", cidr="10.0.0.0/16", parent="vpc"),
        PoolCreate(ref="v6", name="v6", cidr="fd00::/64", parent="vpc"),
    ]
    assert codes(changes) == [
        ("out", "outside_parent"),
        ("same", "outside_parent"),
        ("v6", "outside_parent"),
    ]


def test_creates_of_the_batch_do_not_overlap_under_one_parent():
    changes = [
        PoolCreate(ref="a", name="a", cidr="10.0.0.0/24", parent=1),
        PoolCreate(ref="b", name="b", cidr="10.0.0.128/25", parent=1),
        PoolCreate(ref="c", name="c", cidr="10.0.1.0/24", parent=1),
        PoolCreate(ref="d", name="d", cidr="10.0.0.0/24", parent=2),
        PoolCreate(ref="e", name="e", cidr="10.0.0.0/23", parent=1),
    ]
    errors = check_changes(changes)
    assert [(e.ref, e.code) for e in errors] == [("b", "overlap"), ("e", "overlap")]
    assert errors[0].message == "10.0.0.128/25 overlaps 10.0.0.0/24 ('a')."


def test_roots_are_left_to_the_stored_check():
    # Whether roots may overlap is the organization's setting, read under its lock.
    changes = [
        PoolCreate(ref="a", name="a", cidr="10.0.0.0/8"),
        PoolCreate(ref="b", name="b", cidr="10.0.0.0/8"),
    ]
    assert check_changes(changes) == []


def test_a_bad_prefix_length_and_misplaced_within_are_named():
    changes = [
        PoolCreate(ref="a", name="a", prefix_length=129, within=1),
        PoolCreate(ref="b", name="b", prefix_length=True, within=1),
        PoolCreate(ref="c", name="c", cidr="10.0.0.0/24", within=1, parent=1),
        PoolCreate(ref="d", name="d", prefix_length=24),
    ]
    assert [(e.ref, e.field) for e in check_changes(changes)] == [
        ("a", "prefix_length"),
        ("b", "prefix_length"),
        ("c", "within"),
        ("d", "within"),
    ]


def test_a_batch_has_a_size_limit():
    changes = [PoolDelete(ref=str(n), pool=n + 1) for n in range(MAX_CHANGES + 1)]
    (error,) = check_changes(changes)
    assert error.message == (
        f"A batch holds at most {MAX_CHANGES} changes; this one has {MAX_CHANGES + 1}."
    )


# Module boundaries


def test_the_batch_checks_import_only_the_standard_library_and_the_cidr_engine():
    import ast
    import sys
    from pathlib import Path

    from apps.pools import changes

    tree = ast.parse(Path(changes.__file__).read_text(encoding="utf-8"))
    modules = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    outside = {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names}
    assert outside <= {"__future__", "apps.pools"}, outside
