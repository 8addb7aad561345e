"""The pages' markup lives in Jinja2 templates (``publish/templates``, autoescape on): the publishing Python writes
no HTML, no template marks anything safe, every template compiles, text from the warehouse comes out escaped, a
misspelt field fails instead of printing nothing, and every flag a result can carry has words on the page."""

from __future__ import annotations

import ast
import re
import typing

import jinja2
import pytest

from equity_outcomes.judge.catalog import FLAGS, Status
from equity_outcomes.publish import labels
from equity_outcomes.publish.html import ENV, rating

from .conftest import ROOT

PUBLISH = ROOT / "src" / "equity_outcomes" / "publish"
TAG = re.compile(r"</?(?:html|td|tr|th|span|div|table|thead|tbody|caption|p|section|header|main|footer|a|b|h\d|"
                 r"figure|figcaption|script|details|summary|dl|dt|dd|select|option|label|input)\b")
HOSTILE = "<script>alert(1)</script> O'Neil & Sons"


def markup(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string in ``source`` holding an HTML tag, docstrings left out."""
    tree = ast.parse(source)
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef))]
    docs = {id(n.body[0].value) for n in nodes if n.body and isinstance(n.body[0], ast.Expr)}
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs and TAG.search(n.value)]


def test_the_page_python_writes_no_markup():
    """publish/*.py (the pages, charts, exports, PDF printing); publish/disclosure reads pages back, writes none."""
    found = [f"{p.name}:{line}: {s[:50]!r}" for p in sorted(PUBLISH.glob("*.py"))
             for line, s in markup(p.read_text(encoding="utf-8"))]
    assert not found, f"HTML built in Python (move it to publish/templates): {found}"


def test_the_check_sees_markup():
    assert sorted(markup('"""A <figure> in a docstring is words."""\nX = f"<td>{1}</td>" + "<p>a < b"\n')) == [
        (2, "</td>"), (2, "<p>a < b"), (2, "<td>")]


def test_templates_compile_autoescape_and_mark_nothing_safe():
    names = ENV.list_templates(extensions=["html"])
    assert {"page.html", "macros.html", "school.html", "network.html", "report_bands.html"} <= set(names)
    for name in names:
        ENV.get_template(name)
        assert ENV.autoescape(name) is True, name
        text = (PUBLISH / "templates" / name).read_text(encoding="utf-8")
        assert not re.search(r"\|\s*safe\b|autoescape\s+false|Markup\(", text), name


def test_text_from_the_warehouse_comes_out_escaped():
    m = ENV.get_template("macros.html").module
    cell = str(m.rating_cell(rating({"status": "insufficient_data", "status_reason": HOSTILE}), "rating"))
    assert "<script>" not in cell and cell.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    assert "O&#39;Neil &amp; Sons" in cell
    fig = str(m.figure({"id": "chart-1", "title": HOSTILE, "caption": HOSTILE, "payload": {"title": HOSTILE},
                        "tables": [{"head": ["Year", HOSTILE], "rows": [(HOSTILE, [HOSTILE], [HOSTILE])]}]}))
    assert fig.count("<script") == 1 and "<script>alert" not in fig
    assert '"\\u003cscript\\u003ealert(1)\\u003c/script\\u003e O\\u0027Neil \\u0026 Sons"' in fig  # tojson
    band = str(ENV.get_template("report_bands.html").module.header(HOSTILE, "judged 2025", "today"))
    assert "<script>" not in band and "&lt;script&gt;" in band


def test_a_misspelt_field_fails():
    m = ENV.get_template("macros.html").module
    with pytest.raises(jinja2.UndefinedError):
        str(m.figure({"id": "chart-1", "title": "t", "payload": {}}))  # no caption, no tables


def test_every_flag_a_result_can_carry_has_words():
    carried = {*FLAGS, "suppressed_small_cell"}  # the disclosure control adds the last one
    assert not carried - set(labels.FLAG_TEXT) and not carried - set(labels.FLAG_SHORT)
    assert set(labels.FLAG_TEXT) == carried  # no words for a flag nothing sets


def test_every_status_a_result_can_carry_has_words():
    assert set(labels.STATUS_TEXT) == set(typing.get_args(Status)) | set(labels.RATED)
