"""The synthetic network generator: determinism, the student data contract, realism, known effects, DESE exports."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from equity_outcomes.ingest import schemas
from equity_outcomes.synth import generate_network

SMALL = dict(n_students=1500, n_schools=12, first_year=2019, last_year=2022)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth_demo")
    summary = generate_network(out)  # the defaults: ~8,000 students, 12 schools, 2018-2025, DESE exports
    assert summary.n_schools == 12
    assert summary.years == list(range(2018, 2026))
    assert all(p.exists() for p in summary.files)
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, Path, Path]:
    a = tmp_path_factory.mktemp("synth_a")
    b = tmp_path_factory.mktemp("synth_b")
    c = tmp_path_factory.mktemp("synth_c")
    generate_network(a, seed=7, **SMALL)
    generate_network(b, seed=7, **SMALL)
    generate_network(c, seed=8, dese_exports=False, **SMALL)
    return a, b, c


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _pct(num: int, den: int, places: str = "0.1") -> Decimal:
    return (Decimal(100 * int(num)) / Decimal(int(den))).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _p6(num: int, den: int) -> str:
    return f"{_pct(num, den)}".rjust(6)


def _mean(total: int, n: int, width: int) -> str:
    return f"{(Decimal(int(total)) / Decimal(int(n))).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}".rjust(width)


def _count(n: int, width: int) -> str:
    return f"{int(n):,}".rjust(width)


def _xlsx_rows(path: Path) -> tuple[str, list[str], list[list]]:
    ws = openpyxl.load_workbook(path).active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    return rows[0][0], rows[1], rows[2:]


def _student_rows(demo: Path, rows: list[list]) -> list[list]:
    """The rows of the roster's schools and the state: the rest of the state (DESE exports only, no student files,
    codes 09xx) is left out, and is checked to come after the roster's schools and before the state rows."""
    roster = set(_read(demo / "roster.csv")["org_code"])
    codes = [r[1] for r in rows]
    rest = [i for i, c in enumerate(codes) if c not in roster and c != "00000000"]
    assert all(codes[i].startswith("09") for i in rest)
    assert not rest or (max(i for i, c in enumerate(codes) if c in roster) < min(rest)
                        and max(rest) < min(i for i, c in enumerate(codes) if c == "00000000"))
    return [r for r in rows if r[1] in roster or r[1] == "00000000"]


# --------------------------------------------------------------------------------------------------------------
def test_same_seed_same_bytes_different_seed_differs(small):
    a, b, c = small
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    assert any(k.endswith(".xlsx") for k in fa)
    different = [k for k in fa if fa[k] != fb[k]]
    assert different == []
    fc = _files(c)
    assert fc["student/2021/enrollment.csv"] != fa["student/2021/enrollment.csv"]
    assert fc["known_effects.json"] != fa["known_effects.json"]
    assert not (c / "dese").exists()


def test_layout_and_no_2020_assessments(demo):
    for year in range(2018, 2026):
        for table in schemas.STUDENT_TABLES:
            path = demo / "student" / str(year) / f"{table}.csv"
            assert path.exists() == (not (table == "assessments" and year == 2020)), path
    assert (demo / "roster.csv").exists()
    manifest = pd.read_csv(demo / "dese" / "manifest.csv", dtype=str, keep_default_na=False)
    assert list(manifest.columns) == ["path", "report", "school_year", "org_level", "student_group", "grade",
                                      "period", "note"]
    assert all((demo / "dese" / p).exists() for p in manifest["path"])
    mcas = manifest[manifest.report.str.startswith("mcas")]
    assert set(mcas.grade) == {"03-08", "10"}
    assert "2020" not in set(mcas.school_year)
    assert set(manifest[manifest.report == "mcas_legacy"].school_year) == {"2018"}


def test_every_csv_validates_against_the_contract(demo):
    roster = _read(demo / "roster.csv")
    assert list(roster.columns) == list(schemas.ROSTER.columns)
    schemas.ROSTER.validate(roster, lazy=True)
    assert "O'Neil & Sons <Academy>" in set(roster.school_name)
    for table, schema in schemas.STUDENT_TABLES.items():
        for path in sorted((demo / "student").glob(f"*/{table}.csv")):
            df = _read(path)
            assert list(df.columns) == list(schema.columns), path
            assert len(df) > 0, path
            schema.validate(df, lazy=True)  # raises SchemaErrors listing every failure


def test_roster_network_and_comparison(demo):
    roster = _read(demo / "roster.csv")
    net = roster[roster.is_network_school == "1"]
    comp = roster[roster.is_network_school == "0"]
    assert abs(len(net) - len(comp)) <= 2
    assert net.implementation_start_year.notna().all() and comp.implementation_start_year.isna().all()
    assert set(net.implementation_start_year.astype(int)) == {2020, 2021, 2022}
    assert roster.baseline_year.isna().all()
    assert set(roster.school_level) == {"elementary", "middle", "high"}
    assert (roster.org_code.str[:4] + "0000").equals(roster.district_code)


def test_demographics_near_massachusetts(demo):
    counts: dict[str, float] = {}
    n = 0
    for path in sorted((demo / "student").glob("*/enrollment.csv")):
        e = _read(path).drop_duplicates("student_id")  # student-years (a transfer has two rows)
        n += len(e)
        for col, key in (("is_low_income", "low_income"), ("is_el", "el"), ("is_swd", "swd")):
            counts[key] = counts.get(key, 0) + (e[col] == "1").sum()
        for race in ("black", "latino", "asian", "white", "multi_race"):
            counts[race] = counts.get(race, 0) + (e.race_ethnicity == race).sum()
        counts["female"] = counts.get("female", 0) + (e.gender == "F").sum()
    shares = {k: 100 * v / n for k, v in counts.items()}
    targets = {"low_income": 42, "black": 10, "latino": 24, "el": 12, "swd": 19, "asian": 8, "multi_race": 4,
               "female": 49}
    for k, t in targets.items():
        assert abs(shares[k] - t) <= 3, (k, shares[k], t)
    assert 45 <= shares["white"] <= 60


def test_known_effects_manifest(demo):
    ke = json.loads((demo / "known_effects.json").read_text())
    roster = _read(demo / "roster.csv").set_index("org_code")
    assert ke["generator_version"] == 1 and ke["years"] == list(range(2018, 2026))
    assert set(ke["schools"]) == set(roster.index)
    roles = [r for s in ke["schools"].values() for r in s["roles"]]
    for role in ("absence_improver", "suspension_improver", "proficiency_improver", "growth_improver", "gap_closer",
                 "survey_improver"):
        assert role in roles, role
    assert roles.count("static") >= 2
    for org, s in ke["schools"].items():
        assert s["is_network_school"] == (roster.loc[org, "is_network_school"] == "1")
        if not s["is_network_school"]:
            assert s["roles"] == []
    targets = {"absence", "suspension", "perceptions", "competencies", "proficiency", "growth", "state_gap",
               "capstone_gap", "masscore", "dual_enrollment", "ap", "postsecondary", "teacher_efficacy"}
    assert ke["effects"]
    for e in ke["effects"]:
        assert e["org_code"] in roster.index
        assert e["from_year"] == int(roster.loc[e["org_code"], "implementation_start_year"])
        assert e["role"] in ke["schools"][e["org_code"]]["roles"]
        assert e["target_id"] in targets
    did = ke["did"]
    assert did["metric"] == "pct_absent_10_plus_days" and did["subgroup"] == "all"
    assert did["effect_pp"] < -2
    assert set(ke["demographic_targets"]) >= {"low_income", "black", "latino", "el", "swd"}


def _absent10_by_school(root: Path, year: int) -> pd.DataFrame:
    e = _read(root / "student" / str(year) / "enrollment.csv")
    e = e.assign(mem=e.days_in_membership.astype(float), ab=e.days_absent.astype(float))
    e = e[e.mem >= 20]
    g = e.groupby("org_code").agg(n=("ab", "size"), a10=("ab", lambda s: int((s >= 10).sum())))
    g["pct"] = 100 * g.a10 / g.n
    return g


def test_absence_improvers_improve_and_static_schools_do_not(demo):
    ke = json.loads((demo / "known_effects.json").read_text())
    comparison = [o for o, s in ke["schools"].items() if not s["is_network_school"]]
    checked = {"absence_improver": 0, "static": 0}
    for org, s in ke["schools"].items():
        start = s["implementation_start_year"]
        if start is None or start + 1 > 2025:
            continue
        base, y2 = _absent10_by_school(demo, start - 1), _absent10_by_school(demo, start + 1)
        if "absence_improver" in s["roles"]:
            rel = (y2.loc[org, "pct"] - base.loc[org, "pct"]) / base.loc[org, "pct"]
            assert rel <= -0.20, (org, rel)
            checked["absence_improver"] += 1
        if "static" in s["roles"]:
            change = y2.loc[org, "pct"] - base.loc[org, "pct"]
            comp_change = (y2.loc[comparison, "pct"] - base.loc[comparison, "pct"]).mean()
            assert abs(change - comp_change) < 10, (org, change, comp_change)
            checked["static"] += 1
    assert checked["absence_improver"] >= 1 and checked["static"] >= 2


def test_realized_effects_point_the_right_way(demo):
    ke = json.loads((demo / "known_effects.json").read_text())
    for e in ke["effects"]:
        later = [v for y, v in e["realized"].items() if int(y) >= e["effective_from_year"]]
        earlier = [v for y, v in e["realized"].items() if int(y) < e["from_year"]]
        assert later
        for v in earlier:  # no effect before implementation: treated == untreated
            vals = [x for k, x in v.items() if k.startswith(("treated", "untreated"))]
            assert vals[0] == vals[1], e
        if e["role"] == "suspension_improver":
            assert all(v["treated_pct"] < v["untreated_pct"] for v in later)
        if e["role"] == "proficiency_improver":
            assert all(v["treated_pct"] >= 1.3 * v["untreated_pct"] for v in later)
        if e["role"] == "growth_improver":
            assert sum(v["treated_median"] - v["untreated_median"] for v in later) / len(later) >= 7
        if e["role"] == "survey_improver":
            assert all(v["treated_pct_improved"] > 55 for v in later)


# --------------------------------------------------------------------------------------------------------------
# DESE exports recomputed from the student CSVs
# --------------------------------------------------------------------------------------------------------------
YEAR = 2024


def _names(root: Path) -> dict[str, str]:
    r = _read(root / "roster.csv")
    return dict(zip(r.org_code, r.district_name + " - " + r.school_name, strict=True))


def test_dese_attendance_matches_students(demo):
    e = _read(demo / "student" / str(YEAR) / "enrollment.csv")
    e = e.assign(mem=e.days_in_membership.astype(int), ab=e.days_absent.astype(int))
    e = e[e.mem >= 20]
    names = _names(demo)
    for group, mask, label in (("all", e.ab >= 0, "All Students"), ("low_income", e.is_low_income == "1", "Low Income")):
        title, header, rows = _xlsx_rows(demo / "dese" / str(YEAR) / f"attendance_{group}.xlsx")
        rows = _student_rows(demo, rows)
        assert title == f"2023-24 Student Attendance Report (School) - End of Year - {label}"
        assert header == ["School Name", "School Code", "Attendance Rate", "Average # of Absences",
                          "Absent 10 or more days", "Chronically Absent (10% or more)",
                          "Chronically Absent (20% or more)"]
        sub = e[mask]
        expected = []
        for org, g in list(sub.groupby("org_code")) + [("00000000", sub)]:
            n, ab, mem = len(g), int(g.ab.sum()), int(g.mem.sum())
            if n < 6:
                continue
            expected.append([names.get(org, "State Totals"), org, _p6(mem - ab, mem), _mean(ab, n, 6),
                             _p6((g.ab >= 10).sum(), n), _p6((10 * g.ab >= g.mem).sum(), n),
                             _p6((5 * g.ab >= g.mem).sum(), n)])
        assert sorted(rows, key=lambda r: r[1]) == sorted(expected, key=lambda r: r[1])
        assert rows[-1][:2] == ["State Totals", "00000000"]


def test_dese_discipline_matches_students(demo):
    e = _read(demo / "student" / str(YEAR) / "enrollment.csv")
    d = _read(demo / "student" / str(YEAR) / "discipline.csv")
    names = _names(demo)
    title, header, rows = _xlsx_rows(demo / "dese" / str(YEAR) / "discipline_all.xlsx")
    rows = _student_rows(demo, rows)
    assert title == "2023-24 Student Discipline Data Report (School) - All Offenses - All Students"
    acts = d.groupby(["org_code", "student_id"]).action.agg(set).reset_index()
    m = e.merge(acts, on=["org_code", "student_id"], how="left")
    m["action"] = m.action.apply(lambda a: a if isinstance(a, set) else set())
    expected = []
    for org, g in list(m.groupby("org_code")) + [("00000000", m)]:
        n, disc = len(g), int((g.action.apply(len) > 0).sum())
        has = {a: int(g.action.apply(lambda s, a=a: a in s).sum()) for a in ("ISS", "OSS", "EXP", "ALT", "EMR")}
        pcts = [""] * 5 if disc < 6 else [_p6(has[a], n) for a in ("ISS", "OSS", "EXP", "ALT", "EMR")]
        expected.append([names.get(org, "State Totals"), org, _count(n, 8), _count(disc, 8), *pcts])
    assert sorted(rows, key=lambda r: r[1]) == sorted(expected, key=lambda r: r[1])


def test_dese_nextgen_mcas_matches_students(demo):
    a = _read(demo / "student" / str(YEAR) / "assessments.csv")
    a = a[a.grade != "10"].assign(score=lambda x: x.scaled_score.astype(float).astype(int))
    names = _names(demo)
    title, header, rows = _xlsx_rows(demo / "dese" / str(YEAR) / "nextgen_mcas_03-08_all.xlsx")
    rows = _student_rows(demo, rows)
    assert title.strip() == f"{YEAR} Next Generation MCAS Achievement Results"
    assert header[:3] == ["School Name", "School Code", "Subject"] and header[-2:] == ["SGP", "Included In SGP"]
    expected = []
    for (org, subj), g in list(a.groupby(["org_code", "subject"])) + [(("00000000", s), a[a.subject == s])
                                                                      for s in ("ELA", "MATH", "SCI")]:
        n = len(g)
        if n < 10:
            continue
        c = {lv: int((g.achievement_level == lv).sum()) for lv in ("E", "M", "PM", "NM")}

        def ip(k, n=n):
            return int(_pct(k, n, "1"))

        sg = g.sgp.dropna().astype(int)
        if subj == "SCI":
            sgp = ["", ""]
        elif len(sg) < 20:
            sgp = ["", _count(len(sg), 12)]
        else:
            sgp = [_mean(sg.sum(), len(sg), 14), _count(len(sg), 12)]
        expected.append([names.get(org, "State"), org, subj, _count(c["E"] + c["M"], 12), ip(c["E"] + c["M"]),
                         _count(c["E"], 12), ip(c["E"]), _count(c["M"], 12), ip(c["M"]), _count(c["PM"], 12),
                         ip(c["PM"]), _count(c["NM"], 12), ip(c["NM"]), _count(n, 12), 100,
                         _mean(g.score.sum(), n, 10), *sgp])
    assert sorted(rows, key=lambda r: (r[1], r[2])) == sorted(expected, key=lambda r: (r[1], r[2]))
