"""Identifier columns of an export: which column is the org code, name, type, subject, year, grade, group, period;
org codes (leading zeros restored), names and the org level (school, district, state) of every row.

Owns: header roles checked against the data, and org identity. Refuses a file without an org identifier. Imports only
the catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...errors import InputError
from .catalog import CONFIG, ReportSpec, norm
from .header import Layout, text_of

STATE_CODE = "00000000"
CODE_ROLES = ("school_code", "org_code", "district_code")  # most specific first
# a DESE org code as written: 8 digits, 5-7 when a re-save lost the leading zeros ('4450000'), 0 (the state), or
# the 4-digit district code of the statewide files ('0001' = 00010000) in a column named as a code; a column found
# only by its values must hold 5-8 digit codes (4-digit building ids are not DESE codes)
_CODE_TEXT = re.compile(r"^(\d{4,8}|0+)(\.0+)?$")
_CODE_BY_VALUE = re.compile(r"^(\d{5,8}|0+)(\.0+)?$")
_GENERIC_CODE_HEADER = re.compile(r"(^|[\s_/])(code|id|org)($|[\s_])", re.IGNORECASE)


def column_texts(layout: Layout, j: int) -> np.ndarray:
    return np.array([re.sub(r"[\s\u00a0]+", " ", text_of(v)).strip() for v in layout.mat[:, j]], dtype=object)


def _code_share(texts: np.ndarray, pattern: re.Pattern[str] = _CODE_TEXT) -> float:
    filled = [t for t in texts if t]
    return sum(1 for t in filled if pattern.match(t)) / len(filled) if filled else 1.0


@dataclass
class Roles:
    by_role: dict[str, list[int]] = field(default_factory=dict)
    value_cols: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def first(self, role: str) -> int | None:
        cols = self.by_role.get(role)
        return cols[0] if cols else None


def assign_roles(layout: Layout, spec: ReportSpec) -> Roles:
    """Key role of every column (None = value column). A code column whose values are not DESE codes is read as
    values; without a named code column, a column named like a code whose values are all codes is the org code."""
    out = Roles()
    has_name = any(spec.role_of(h) == "org_name" for h in layout.normed)
    for j, h in enumerate(layout.normed):
        role = spec.role_of(h)
        if role in CODE_ROLES and _code_share(column_texts(layout, j)) < 0.5:
            role = None if has_name else "org_name"  # 'SCHOOL' holds codes in one report, names in another
            has_name = True
            out.notes.append(f"column {layout.headers[j]!r} is named like an org code but holds other values: "
                             f"read as {'the org name' if role else 'values'}")
        if role is None:
            out.value_cols.append(j)
        else:
            out.by_role.setdefault(role, []).append(j)
    if not any(r in out.by_role for r in CODE_ROLES):
        for j in list(out.value_cols):
            texts = column_texts(layout, j)
            if (_GENERIC_CODE_HEADER.search(layout.headers[j]) and any(texts)
                    and _code_share(texts, _CODE_BY_VALUE) >= 0.95):
                out.by_role["org_code"] = [j]
                out.value_cols.remove(j)
                out.notes.append(f"column {layout.headers[j]!r} read as the org code (every value is a code)")
                break
    return out


@dataclass
class Orgs:
    codes: np.ndarray
    names: np.ndarray
    levels: np.ndarray
    row_flags: np.ndarray  # object: None or 'missing_org_code' / 'bad_org_code'
    notes: list[str] = field(default_factory=list)


def _normalise_codes(raw: np.ndarray, names: np.ndarray, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    codes = np.empty(len(raw), dtype=object)
    flags = np.full(len(raw), None, dtype=object)
    padded = short = 0
    for i, t in enumerate(raw):
        t2 = re.sub(r"\.0+$", "", t.replace(" ", ""))
        if t2.isdigit() and len(t2) == 4 and t2 != "0000":  # statewide files: '0001' = district 00010000
            short += 1
            codes[i] = t2 + "0000"
        elif t2.isdigit() and len(t2) <= 8:
            padded += len(t2) < 8
            codes[i] = t2.zfill(8)
        elif not t2 and norm(names[i]) in CONFIG.state_names:
            codes[i] = STATE_CODE
        else:
            codes[i] = t
            flags[i] = "missing_org_code" if not t2 else "bad_org_code"
    if padded:
        notes.append(f"{padded} org code(s) with lost leading zeros left-padded to 8 digits")
    if short:
        notes.append(f"{short} 4-digit district code(s) written as 8-digit org codes ('0001' -> '00010000')")
    n_bad = int(pd.notna(flags).sum())
    if n_bad:
        notes.append(f"warning: {n_bad} row(s) without a DESE org code kept (flag missing_org_code/bad_org_code, "
                     "not used for metrics)")
    return codes, flags


def _names(layout: Layout, roles: Roles, n: int) -> np.ndarray:
    cols = roles.by_role.get("org_name", [])
    if not cols:
        return np.full(n, "", dtype=object)
    school = [j for j in cols if "school" in layout.normed[j] and "district" not in layout.normed[j]]
    return np.array([text_of(v).strip() for v in layout.mat[:, (school or cols)[0]]], dtype=object)


def resolve_orgs(layout: Layout, roles: Roles, spec: ReportSpec, title_level: str | None,
                 manifest_level: str | None, file: str) -> Orgs:
    """Codes, names and levels of every row. Level, in order: an org-type column, the code header ('School Code',
    'District Code'), the title, the manifest, then the code itself (DESE district codes end in 0000); state rows
    by code 00000000 or a name like 'State Totals'."""
    n = layout.mat.shape[0]
    notes: list[str] = []
    names = _names(layout, roles, n)
    code_role = next((r for r in CODE_ROLES if r in roles.by_role), None)
    if code_role is None and not spec.fixed_org:
        raise InputError(
            f"no org identifier: no column holds DESE org codes (looked for 'Org Code', 'School Code', 'District Code', "
            f"'District/School Code', 'DESE ID', ... among {layout.headers[:20]}). A report without DESE org codes "
            "(e.g. a private-school report) cannot be tied to schools or districts",
            file=file, row=layout.header_row,
            fix="download the export with its code column, or add the header of its code column under key_columns "
                "in config/dese_reports.yaml; if this is a student extract rather than a DESE export, put it in "
                "student/<school year>/<table>.csv with the data contract's header (docs/student_data_contract.md)",
        )
    if code_role is None:
        codes = np.full(n, spec.fixed_org["code"], dtype=object)
        names = np.full(n, spec.fixed_org["name"], dtype=object)
        flags = np.full(n, None, dtype=object)
        levels = np.full(n, spec.fixed_org.get("level", "state"), dtype=object)
        return Orgs(codes, names, levels, flags, notes)
    cj = roles.by_role[code_role][0]
    codes, flags = _normalise_codes(column_texts(layout, cj), names, notes)
    if sum(len(roles.by_role.get(r, [])) for r in CODE_ROLES) > 1:
        notes.append(f"several code columns: {layout.headers[cj]!r} is the org code, the others identifiers only")
    levels = _levels(layout, roles, code_role, cj, codes, title_level, manifest_level, notes)
    is_state = (codes == STATE_CODE) | np.array([norm(x) in CONFIG.state_names for x in names], dtype=bool)
    levels = np.where(is_state, "state", levels).astype(object)
    return Orgs(codes, names, levels, flags, notes)


def _levels(layout: Layout, roles: Roles, code_role: str, cj: int, codes: np.ndarray, title_level: str | None,
            manifest_level: str | None, notes: list[str]) -> np.ndarray:
    tj = roles.first("org_type")
    if tj is not None:
        types = column_texts(layout, tj)
        mapped = np.array([CONFIG.org_types.get(norm(t)) for t in types], dtype=object)
        if pd.notna(mapped).all():
            return mapped
        notes.append(f"column {layout.headers[tj]!r} has org types not in org_types: level from other sources")
    by_header = {"school_code": "school", "district_code": "district"}.get(code_role)
    sources = [(f"header {layout.headers[cj]!r}", by_header), ("the title", title_level if title_level != "state"
                                                               else None), ("the manifest", manifest_level)]
    chosen = next(((w, v) for w, v in sources if v), None)
    for w, v in sources:
        if v and chosen and v != chosen[1]:
            notes.append(f"warning: org level disagrees: {chosen[0]} says {chosen[1]!r}, {w} says {v!r}; "
                         f"{chosen[0]} is used")
    if chosen:
        return np.full(len(codes), chosen[1], dtype=object)
    return np.array(["district" if str(c).endswith("0000") else "school" for c in codes], dtype=object)
