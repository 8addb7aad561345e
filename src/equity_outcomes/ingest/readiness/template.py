"""The fill-in workbook for the readiness self-assessment, and byte-for-byte reproducible saving.

Layout of a rater sheet (``Readiness``, ``Readiness 2``, ...; the reader reads every sheet whose name starts with
"Readiness"):

    row 1         title
    row 2         one-line instructions
    rows 4-9      fields: label in column A ending in ``(key)``, value in column C (yellow input cells):
                  org_code, school_name, school_year, rater_name, rater_role, date
    row 11        table header: item_id | area | item_text | rating | comment
    rows 12-94    one row per catalog item; rating has a drop-down list 1, 2, 3, 4, skip

The sheet is protected without a password so the item columns cannot be edited by accident; input cells are unlocked.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Protection, Side
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from ...catalog import Strict, Text, Word, load_yaml
from ...paths import config_dir
from . import catalog

SHEET_PREFIX = "Readiness"
INSTRUCTIONS_SHEET = "Instructions"


class _Field(Strict):
    key: Word
    label: Text
    help: Text


class _Check(Strict):
    problem: Text  # what is wrong ({value}: the value at fault)
    fix: Text


class Words(Strict):
    """config/readiness_words.yaml: the workbook's title, fields, rater roles and Instructions sheet; the checks'
    messages (the reader's)."""

    title: Text
    version: Text
    fill_in: Text
    fields: tuple[_Field, ...]
    roles: tuple[Text, ...]
    instructions: tuple[str, ...]
    checks: dict[Word, _Check]


WORDS = load_yaml(Words, config_dir() / "readiness_words.yaml", "the readiness self-assessment's words",
                  "restore config/readiness_words.yaml from version control")
REQUIRED_FIELDS = ("org_code", "school_year")
FIRST_FIELD_ROW = 4
FIELD_LABEL_COL = 1  # A
FIELD_VALUE_COL = 3  # C
HEADER_ROW = 11
TABLE_COLUMNS = ["item_id", "area", "item_text", "rating", "comment"]
REQUIRED_TABLE_COLUMNS = ("item_id", "rating")
FIXED_TIMESTAMP = datetime(2020, 1, 1, 0, 0, 0)
FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)

_INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
_CONDITION_FILL = PatternFill("solid", fgColor="DDEBF7")
_PRINCIPLE_FILL = PatternFill("solid", fgColor="E2EFDA")
_THIN = Side(style="thin", color="A6A6A6")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_UNLOCKED = Protection(locked=False)
_WRAP_TOP = Alignment(wrap_text=True, vertical="top")


def _item_styles(wb: Workbook) -> dict[str, str]:
    """Named styles of the item table (registered once per workbook): locked area-coloured text, unlocked inputs."""
    specs = {
        "condition": dict(fill=_CONDITION_FILL, alignment=_WRAP_TOP),
        "principle": dict(fill=_PRINCIPLE_FILL, alignment=_WRAP_TOP),
        "rating": dict(fill=_INPUT_FILL, protection=_UNLOCKED, alignment=Alignment(horizontal="center", vertical="top")),
        "comment": dict(fill=_INPUT_FILL, protection=_UNLOCKED, alignment=_WRAP_TOP),
    }
    names = {}
    for key, spec in specs.items():
        name = f"readiness_{key}"
        if name not in wb.named_styles:
            wb.add_named_style(NamedStyle(name=name, border=_BOX, **spec))
        names[key] = name
    return names


def is_rater_sheet(title: str) -> bool:
    return title.strip().lower().startswith(SHEET_PREFIX.lower())


def _add_rater_sheet(wb: Workbook, title: str, fields: Mapping[str, object], ratings: Mapping[str, object]) -> Worksheet:
    ws = wb.create_sheet(title)
    items = catalog.items()
    areas = catalog.areas()
    area_labels = dict(zip(areas["area_key"], areas["area_label"], strict=True))
    ws["A1"] = WORDS.title
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = WORDS.fill_in
    ws["A2"].font = Font(italic=True)
    for i, f in enumerate(WORDS.fields):
        r = FIRST_FIELD_ROW + i
        ws.cell(r, FIELD_LABEL_COL, f.label).font = Font(bold=True)
        cell = ws.cell(r, FIELD_VALUE_COL, fields.get(f.key))
        cell.fill = _INPUT_FILL
        cell.border = _BOX
        cell.protection = _UNLOCKED
        cell.alignment = Alignment(horizontal="left")
        cell.number_format = "yyyy-mm-dd" if f.key == "date" else ("0" if f.key == "school_year" else "@")
        ws.cell(r, FIELD_VALUE_COL + 1, f.help).font = Font(italic=True, color="7F7F7F")
    field_row = {f.key: FIRST_FIELD_ROW + i for i, f in enumerate(WORDS.fields)}

    dv_code = DataValidation(type="textLength", operator="equal", formula1="8", allow_blank=True,
                             errorTitle="School code", error="The school code has 8 digits, e.g. 01000005.")
    dv_year = DataValidation(type="whole", operator="between", formula1="2000", formula2="2100", allow_blank=True,
                             errorTitle="School year", error="Type the spring year, e.g. 2025 for 2024-25.")
    dv_role = DataValidation(type="list", formula1='"' + ",".join(WORDS.roles) + '"', allow_blank=True,
                             errorStyle="information", errorTitle="Rater role",
                             error="Not one of the listed roles; keep it if it describes you.")
    dv_rating = DataValidation(type="list", formula1='"1,2,3,4,skip"', allow_blank=True, showDropDown=False,
                               errorTitle="Rating", error="Enter 1, 2, 3, 4 or skip.",
                               promptTitle="Rating",
                               prompt="4 Sustainable, 3 Moving toward Sustainability, 2 Initial Steps, "
                                      "1 Area of Concern, skip = cannot judge")
    for dv in (dv_code, dv_year, dv_role, dv_rating):
        dv.showErrorMessage = True
        ws.add_data_validation(dv)
    dv_rating.showInputMessage = True
    dv_code.add(ws.cell(field_row["org_code"], FIELD_VALUE_COL))
    dv_year.add(ws.cell(field_row["school_year"], FIELD_VALUE_COL))
    dv_role.add(ws.cell(field_row["rater_role"], FIELD_VALUE_COL))

    for c, name in enumerate(TABLE_COLUMNS, start=1):
        cell = ws.cell(HEADER_ROW, c, name)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = _HEADER_FILL
        cell.border = _BOX
    rating_col = TABLE_COLUMNS.index("rating") + 1
    comment_col = TABLE_COLUMNS.index("comment") + 1
    first = HEADER_ROW + 1
    styles = _item_styles(wb)
    column_styles = {rating_col: styles["rating"], comment_col: styles["comment"]}
    for offset, item in enumerate(items.itertuples(index=False)):
        area = area_labels[item.item_id.split(".")[0]]
        values = [item.item_id, area, item.item_text, ratings.get(item.item_id), None]
        for c, value in enumerate(values, start=1):  # one named style per cell: fast
            ws.cell(first + offset, c, value).style = column_styles.get(c, styles[item.area_type])
    last = first + len(items) - 1
    dv_rating.add(f"{ws.cell(first, rating_col).coordinate}:{ws.cell(last, rating_col).coordinate}")

    for letter, width in zip("ABCDE", (24, 30, 90, 10, 36), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = ws.cell(first, 1)
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.protection.sheet = True
    ws.protection.formatColumns = False  # False = allowed: let raters widen columns and rows
    ws.protection.formatRows = False
    return ws


def _add_instructions(wb: Workbook) -> None:
    ws = wb.create_sheet(INSTRUCTIONS_SHEET)
    scale = catalog.scale()
    areas = catalog.areas()
    listed = {"{scale}": [f"{row.value} - {row.label}: {row.description}" for row in scale.itertuples(index=False)],
              "{areas}": [f"{a.area_label} ({a.n_items} items)" for a in areas.itertuples(index=False)]}
    texts = [text for line in WORDS.instructions
             for text in (listed[line] if line in listed else [line.format(title=WORDS.title, version=WORDS.version)])]
    for r, text in enumerate(texts, start=1):
        cell = ws.cell(r, 1, text.removeprefix("# ") or None)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if text.startswith("# "):
            cell.font = Font(bold=True, size=13 if r == 1 else 11)
    ws.column_dimensions["A"].width = 120


def build_workbook(raters: list[dict] | None = None, **fields: object) -> Workbook:
    """A readiness workbook with one rater sheet per entry of ``raters`` (a blank one if None).

    Each rater entry may hold field values (``rater_name``, ``rater_role``, ``date``, ...) and ``ratings``
    (item_id -> 1..4 or 'skip'); ``fields`` (org_code, school_name, school_year) apply to every sheet.
    """
    wb = Workbook()
    wb.remove(wb.active)
    for n, rater in enumerate(raters or [{}], start=1):
        values = {**fields, **{k: v for k, v in rater.items() if k != "ratings"}}
        title = SHEET_PREFIX if n == 1 else f"{SHEET_PREFIX} {n}"  # Readiness, Readiness 2, Readiness 3, ...
        _add_rater_sheet(wb, title, values, rater.get("ratings", {}))
    _add_instructions(wb)
    wb.active = 0
    wb.properties.title = WORDS.title
    wb.properties.subject = "readiness self-assessment"
    wb.properties.keywords = f"equity-outcomes readiness template v{WORDS.version}"
    return wb


def save_deterministic(wb: Workbook, out: Path) -> Path:
    """Save ``wb`` so that the same content always gives the same bytes (fixed timestamps in the document
    properties and in every zip entry)."""
    wb.properties.created = FIXED_TIMESTAMP
    wb.properties.modified = FIXED_TIMESTAMP
    wb.properties.creator = "equity-outcomes"
    wb.properties.lastModifiedBy = "equity-outcomes"
    first = io.BytesIO()
    with zipfile.ZipFile(first, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()  # not openpyxl.save_workbook: it stamps "modified" with the clock
    second = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(first.getvalue())) as src, zipfile.ZipFile(second, "w") as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(second.getvalue())
    return out


def write_template(
    out: Path, *, org_code: str | None = None, school_name: str | None = None, school_year: int | None = None
) -> Path:
    """Write a blank fill-in workbook (one 'Readiness' rater sheet + 'Instructions'), optionally pre-filled with
    the school and year. Returns the path written."""
    if org_code is not None:
        org_code = str(org_code).strip()
        if org_code.isdigit() and len(org_code) < 8:
            org_code = org_code.zfill(8)
    wb = build_workbook(org_code=org_code, school_name=school_name, school_year=school_year)
    return save_deterministic(wb, Path(out))
