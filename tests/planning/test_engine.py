"""The pure plan engine: operation shapes, conversion and the shared batch checks.

No database and no Django: ``pytest -p no:django --noconftest tests/planning/test_engine.py``.
"""

from __future__ import annotations

import subprocess
import sys

from apps.planning import engine
from apps.pools import changes as batch


def create(ref: str, cidr: str, parent: object = None, **extra: object) -> dict:
    return {"op": "create", "ref": ref, "name": ref, "cidr": cidr, "parent": parent, **extra}


def test_a_valid_plan_converts_to_pool_changes() -> None:
    checked = engine.validate_operations(
        [
            create("a", "10.0.0.0/16", 7, type="vpc", tags={"env": "prod"}),
            {"op": "create", "ref": "b", "name": "b", "prefix_length": 24, "parent": "a"},
            {"op": "update", "ref": "u", "pool": 9, "fields": {"name": "renamed"}},
            {"op": "delete", "ref": "d", "pool": 11, "recursive": True},
        ],
        source="template",
    )
    assert checked.ok
    first, second, third, fourth = checked.changes
    assert first == batch.PoolCreate(
        ref="a",
        name="a",
        cidr="10.0.0.0/16",
        parent=7,
        type="vpc",
        tags={"env": "prod"},
        source="template",
    )
    assert isinstance(second, batch.PoolCreate)
    assert (second.prefix_length, second.parent, second.cidr) == (24, "a", None)
    assert third == batch.PoolUpdate(ref="u", pool=9, fields={"name": "renamed"})
    assert fourth == batch.PoolDelete(ref="d", pool=11, recursive=True)


def test_every_malformed_operation_is_reported_with_index_ref_and_field() -> None:
    checked = engine.validate_operations(
        [
            "not an object",
            {"op": "rename", "ref": "x"},
            {"op": "create", "ref": "c", "name": "c", "cidr": "10.0.0.0/8", "colour": "red"},
            {"op": "update", "ref": "u", "pool": 3, "fields": {}},
            {"op": "delete", "ref": "d", "pool": -1},
        ]
    )
    assert [error.as_dict() for error in checked.errors] == [
        {
            "index": 0,
            "ref": "",
            "code": "validation_error",
            "message": "An operation is a JSON object.",
            "field": "",
        },
        {
            "index": 1,
            "ref": "x",
            "code": "validation_error",
            "message": "op: choose one of create, update, delete.",
            "field": "op",
        },
        {
            "index": 2,
            "ref": "c",
            "code": "validation_error",
            "message": "Unknown field(s) for create: colour.",
            "field": "colour",
        },
        {
            "index": 3,
            "ref": "u",
            "code": "validation_error",
            "message": "fields: an object of the fields to change is required.",
            "field": "fields",
        },
        {
            "index": 4,
            "ref": "d",
            "code": "validation_error",
            "message": "pool: a pool id is a positive whole number.",
            "field": "pool",
        },
    ]


def test_prefix_refs_and_overlaps_come_from_the_shared_batch_checks() -> None:
    checked = engine.validate_operations(
        [
            create("a", "10.0.0.0/16", 1),
            create("b", "10.0.0.1/24", "a"),
            create("c", "10.1.128.0/17", 1),
            create("d", "10.1.192.0/18", 1),
            create("e", "10.3.0.0/24", "nowhere"),
            create("a", "10.2.0.0/16", 1),
            create("f", "10.9.0.0/24", "c"),
        ]
    )
    assert [(error.index, error.ref, error.code, error.field) for error in checked.errors] == [
        (1, "b", "validation_error", "cidr"),
        (3, "d", "overlap", "cidr"),
        (4, "e", "validation_error", "parent"),
        (5, "a", "validation_error", "ref"),
        (6, "f", "outside_parent", "cidr"),
    ]
    assert "did you mean 10.0.0.0/24" in checked.errors[0].message
    assert checked.errors[1].message == "10.1.192.0/18 overlaps 10.1.128.0/17 ('c')."


def test_too_many_operations_is_one_error_of_the_plan() -> None:
    operations = [create(f"p{i}", "10.0.0.0/8") for i in range(engine.MAX_OPERATIONS + 1)]
    checked = engine.validate_operations(operations)
    assert [error.as_dict() for error in checked.errors] == [
        {
            "index": None,
            "ref": "",
            "code": "validation_error",
            "message": "A plan holds at most 20000 operations; this one has 20001.",
            "field": "",
        }
    ]


def test_operations_must_be_a_list() -> None:
    checked = engine.validate_operations({"op": "create"})
    assert [error.message for error in checked.errors] == ["operations: a JSON list is required."]


def test_runnable_leaves_out_failures_and_what_depends_on_them() -> None:
    checked = engine.validate_operations(
        [
            create("a", "10.0.0.0/33", 1),
            create("b", "10.0.0.0/24", "a"),
            create("c", "10.0.0.64/26", "b"),
            create("d", "10.1.0.0/16", 1),
        ]
    )
    kept, dependants = engine.runnable(checked)
    assert [index for index, _change in kept] == [3]
    assert [(error.index, error.ref, error.code, error.message) for error in dependants] == [
        (1, "b", "conflict", "It depends on 'a', which failed."),
        (2, "c", "conflict", "It depends on 'b', which failed."),
    ]


def test_importing_the_engine_loads_no_django() -> None:
    code = (
        "import sys, apps.planning.engine; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# Preview: risk rules and pictures


def test_parent_findings_flag_the_threshold_and_half_of_the_free_space() -> None:
    from apps.planning.engine import preview

    parents = [
        {
            "pool": 1,
            "label": "10.0.0.0/16 corp",
            "before_percent": 10.0,
            "after_percent": 85.0,
            "free_before": 58982,
            "free_after": 9830,
        },
        {
            "pool": 2,
            "label": "10.1.0.0/16 calm",
            "before_percent": 0.0,
            "after_percent": 50.0,
            "free_before": 65536,
            "free_after": 32768,
        },
    ]
    findings = preview.parent_findings(parents, threshold=80)
    assert [(f["rule"], f["pool"], f["level"], f["severity"]) for f in findings] == [
        ("OVER_THRESHOLD", 1, "medium", "warning"),
        ("TAKES_HALF_FREE", 1, "medium", "warning"),
    ]
    assert findings[0]["message"] == (
        "10.0.0.0/16 corp ends 85.0% used, at or above the 80% threshold."
    )
    assert preview.level_of(findings) == "medium"
    assert preview.level_of([]) == "low"
    assert (
        preview.level_of(
            preview.compliance_findings(
                [{"rule": "SPECIAL_PURPOSE", "severity": "error", "message": ""}]
            )
        )
        == "high"
    )


def test_scale_segments_are_to_scale_with_free_runs_between() -> None:
    from apps.planning.engine import preview

    segments = preview.scale_segments(
        0, 1024, [(512, 767, "added", "b"), (0, 255, "existing", "a")]
    )
    assert [(s["kind"], s["x"], s["width"]) for s in segments] == [
        ("existing", 0.0, 250.0),
        ("free", 250.0, 250.0),
        ("added", 500.0, 250.0),
        ("free", 750.0, 250.0),
    ]


def test_ascii_diagram_marks_each_change_and_draws_bars() -> None:
    from apps.planning.engine import preview

    text = preview.ascii_diagram(
        [
            {"kind": "changed", "depth": 0, "cidr": "10.0.0.0/16", "name": "corp", "detail": ""},
            {"kind": "added", "depth": 1, "cidr": "10.0.1.0/24", "name": "web", "detail": ""},
            {"kind": "removed", "depth": 1, "cidr": "10.0.2.0/24", "name": "old", "detail": ""},
        ],
        [{"label": "10.0.0.0/16 corp", "before_percent": 0.0, "after_percent": 50.0}],
    )
    assert text.splitlines() == [
        "~ 10.0.0.0/16  corp",
        "+   10.0.1.0/24  web",
        "-   10.0.2.0/24  old",
        "",
        "10.0.0.0/16 corp",
        "  before [........................................]   0.00%",
        "  after  [####################....................]  50.00%",
    ]


def test_to_operation_round_trips_through_to_change() -> None:
    changes = [
        batch.PoolCreate(ref="a", name="a", cidr="10.0.0.0/16", parent=3, tags={"k": "v"}),
        batch.PoolCreate(ref="b", name="b", prefix_length=24, parent="a"),
        batch.PoolUpdate(ref="u", pool=4, fields={"cidr": "10.1.0.0/16"}),
        batch.PoolDelete(ref="d", pool=5, recursive=True),
    ]
    assert [engine.to_change(engine.to_operation(change)) for change in changes] == [
        batch.PoolCreate(
            ref="a", name="a", cidr="10.0.0.0/16", parent=3, tags={"k": "v"}, source="plan"
        ),
        batch.PoolCreate(ref="b", name="b", prefix_length=24, parent="a", source="plan"),
        changes[2],
        changes[3],
    ]
