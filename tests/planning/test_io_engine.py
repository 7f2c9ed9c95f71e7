"""The pure import and export modules: readers, row checks, writers. No database, no Django.

``pytest -p no:django --noconftest tests/planning/test_io_engine.py``
"""

from __future__ import annotations

import doctest
import io
import random
import subprocess
import sys
from pathlib import Path

import pytest

from apps.planning.io import cells, imports, readers, writers
from apps.planning.io.imports import ExistingPool, pool_operations
from apps.planning.io.readers import FileError, Record, read_file

ROOT = Path(__file__).resolve().parents[2]
TYPES = ("supernet", "region", "environment", "vpc", "subnet", "reserved", "custom")
STATUSES = ("planned", "active", "reserved", "deprecated")


def records(*rows: dict[str, str]) -> list[Record]:
    return [Record(number, row) for number, row in enumerate(rows, start=2)]


def build(rows: list[Record], **kwargs):  # type: ignore[no-untyped-def]
    return pool_operations(rows, types=TYPES, statuses=STATUSES, **kwargs)


def test_importing_the_io_modules_loads_no_django() -> None:
    code = (
        "import sys, apps.planning.io.readers, apps.planning.io.imports, "
        "apps.planning.io.writers\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("module", [cells, imports, writers])
def test_worked_examples_in_docstrings(module) -> None:  # type: ignore[no-untyped-def]
    failures, _attempted = doctest.testmod(module)
    assert failures == 0


@pytest.mark.parametrize(
    ("text", "formula"),
    [
        ("=1+1", True),
        ('=HYPERLINK("x")', True),
        ("+1+2", True),
        ("-2*A1", True),
        ("@SUM(A1:A2)", True),
        ("-cmd|' /C calc'!A0", True),
        ("  =1", True),
        ("- legacy range", False),
        ("-1", False),
        ("+44 20 7946 0000", False),
        ("@team", False),
        ("'=quoted", False),
        ("plain", False),
    ],
)
def test_formula_cells(text: str, formula: bool) -> None:
    assert cells.looks_like_formula(text) is formula


def test_escaped_cells_read_back_as_written() -> None:
    for text in ("=1+1", "- legacy", "@team", "plain", "'quoted"):
        assert cells.unescape_formula(cells.escape_formula(text)) == text


def test_tags_round_trip_through_the_cell_format() -> None:
    tags = {"a=b": "c;d", "back\\slash": "x\\;y", "empty": ""}
    assert imports.parse_tags(imports.format_tags(tags)) == tags


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("novalue", "The tag 'novalue' has no '='; write key=value."),
        ("=x", "A tag has an empty key."),
        ("a=1;a=2", "The tag 'a' is given twice."),
    ],
)
def test_bad_tags(cell: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        imports.parse_tags(cell)


def test_rows_in_any_order_nest_by_containment_and_come_out_parents_first() -> None:
    rows = [
        {"name": "subnet", "cidr": "10.1.2.0/24"},
        {"name": "vpc", "cidr": "10.1.0.0/16"},
        {"name": "root", "cidr": "10.0.0.0/8"},
        {"name": "v6", "cidr": "fd00::/48"},
        {"name": "v6-sub", "cidr": "fd00:0:0:1::/64"},
    ]
    random.Random(4).shuffle(rows)
    result = build(records(*rows), nest=True)
    assert result.errors == []
    by_name = {op["name"]: op for op in result.operations}
    assert by_name["root"]["parent"] is None
    assert by_name["vpc"]["parent"] == by_name["root"]["ref"]
    assert by_name["subnet"]["parent"] == by_name["vpc"]["ref"]
    assert by_name["v6-sub"]["parent"] == by_name["v6"]["ref"]
    order = [op["name"] for op in result.operations]
    assert order.index("root") < order.index("vpc") < order.index("subnet")


def test_without_nest_a_blank_parent_is_a_root() -> None:
    result = build(
        records({"name": "a", "cidr": "10.0.0.0/8"}, {"name": "b", "cidr": "10.1.0.0/16"})
    )
    assert result.errors == [
        imports.RowError(
            3, "cidr", "10.1.0.0/16 overlaps row 2 (10.0.0.0/8) among the root pools.", "overlap"
        )
    ]


def test_nest_uses_existing_pools_too() -> None:
    existing = [
        ExistingPool(7, "corp", "10.0.0.0/8", None),
        ExistingPool(8, "eu", "10.1.0.0/16", 7),
    ]
    result = build(records({"name": "x", "cidr": "10.1.4.0/24"}), existing=existing, nest=True)
    assert result.operations[0]["parent"] == 8
    result = build(
        records({"name": "x", "cidr": "10.2.0.0/16", "parent": "corp/eu"}), existing=existing
    )
    assert result.errors[0].code == "outside_parent"
    result = build(
        records({"name": "x", "cidr": "10.1.9.0/24", "parent": "corp/eu"}), existing=existing
    )
    assert result.operations[0]["parent"] == 8


@pytest.mark.parametrize(
    ("row", "column", "message", "code"),
    [
        ({"name": "", "cidr": "10.0.0.0/8"}, "name", "A pool needs a name.", "validation_error"),
        (
            {"name": "a", "cidr": "10.0.0.1/8"},
            "cidr",
            "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?",
            "validation_error",
        ),
        (
            {"name": "a", "cidr": "10.0.0.0"},
            "cidr",
            "'10.0.0.0' has no prefix length; write it as 10.0.0.0/32.",
            "validation_error",
        ),
        (
            {"name": "a", "cidr": "nope"},
            "cidr",
            "'nope' is not a valid IPv4 or IPv6 prefix",
            "validation_error",
        ),
        (
            {"name": "a", "cidr": "10.0.0.0/8", "type": "galaxy"},
            "type",
            "'galaxy' is not a valid type; choose one of supernet, region, environment, vpc, "
            "subnet, reserved, custom.",
            "validation_error",
        ),
        (
            {"name": "a", "cidr": "10.0.0.0/8", "status": "gone"},
            "status",
            "'gone' is not a valid status; choose one of planned, active, reserved, deprecated.",
            "validation_error",
        ),
        (
            {"name": "a", "cidr": "10.0.0.0/8", "parent": "192.168.0.0/16"},
            "parent",
            "No row of the file and no pool of the organization has the CIDR 192.168.0.0/16.",
            "not_found",
        ),
    ],
)
def test_row_errors(row: dict[str, str], column: str, message: str, code: str) -> None:
    result = build(records(row))
    assert result.errors == [imports.RowError(2, column, message, code)]
    assert result.operations == []


def test_a_child_of_a_bad_row_fails_with_it() -> None:
    result = build(
        records(
            {"name": "root", "cidr": "10.0.0.0/8", "type": "bogus"},
            {"name": "child", "cidr": "10.1.0.0/16", "parent": "10.0.0.0/8"},
        )
    )
    assert [(error.row, error.code) for error in result.errors] == [
        (2, "validation_error"),
        (3, "not_found"),
    ]


def test_duplicates_and_ambiguous_names() -> None:
    result = build(
        records(
            {"name": "a", "cidr": "10.0.0.0/8"},
            {"name": "a", "cidr": "10.0.0.0/8"},
            {"name": "b", "cidr": "192.168.0.0/16"},
            {"name": "b", "cidr": "172.16.0.0/12"},
            {"name": "c", "cidr": "192.168.1.0/24", "parent": "b"},
        )
    )
    assert [(error.row, error.code) for error in result.errors] == [
        (3, "duplicate"),
        (6, "validation_error"),
    ]
    assert result.errors[1].message == "Several pools are named 'b'; give the parent's CIDR."


def test_readers_count_rows_and_refuse_too_many() -> None:
    content = b"name,cidr\n" + b"x,10.0.0.0/8\n" * (readers.MAX_ROWS + 1)
    with pytest.raises(FileError, match="more than 100,000 rows"):
        read_file(io.BytesIO(content), filename="x.csv")


def test_a_utf8_bom_and_crlf_are_fine() -> None:
    content = "\ufeffName,CIDR\r\nZürich,10.0.0.0/8\r\n".encode()
    result = read_file(io.BytesIO(content), filename="x.csv")
    assert result.pools == [Record(2, {"name": "Zürich", "cidr": "10.0.0.0/8"})]


def test_a_long_cell_is_refused() -> None:
    content = b"name,cidr,description\nx,10.0.0.0/8," + b"d" * 10_001 + b"\n"
    with pytest.raises(FileError) as caught:
        read_file(io.BytesIO(content), filename="x.csv")
    assert caught.value.message == (
        "Row 2, column 'description': The cell has 10,001 characters; at most 10,000 are accepted."
    )


def test_formats_are_detected_by_content() -> None:
    assert readers.detect_format("upload", b'{"pools": []}') == "json"
    assert readers.detect_format("upload", b"pools:\n- name: a") == "yaml"
    assert readers.detect_format("upload", b"PK\x03\x04...") == "xlsx"
    assert readers.detect_format("upload", b"name,cidr") == "csv"
    assert readers.detect_format("x.YML", b"") == "yaml"


def test_terraform_names_are_unique_identifiers() -> None:
    pools = [
        writers.ExportPool(1, None, 1, "9 lives!", "10.0.0.0/8", 4, "", "custom", "active", ""),
        writers.ExportPool(2, None, 1, "9 lives!", "11.0.0.0/8", 4, "", "custom", "active", ""),
    ]
    assert [writers.resource_name(pool) for pool in pools] == ["pool_9_lives_1", "pool_9_lives_2"]
