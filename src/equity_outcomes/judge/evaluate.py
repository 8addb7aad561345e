"""Evaluate the Outcomes targets and write ``target_results`` / ``target_rollup``.

The comparisons are SQL, where the data is: the evaluation's options and its target catalog become parameter
tables (``eval_settings``, ``eval_targets``, ``eval_target_items``, ``eval_catalog_items``), then the models of
``models/evaluate`` (dbt, ``path:evaluate``) compute every school's comparison up to its rating: the years, the
pooled sides, change, relative change, the gaps, min-n, due / not yet due, the flags and the status of what cannot
be rated (``target_comparisons``), and the network's pooled comparison (``target_network``). Python adds what SQL
cannot say well (:mod:`.rules`): the intervals and tests, and the ratings from the catalog's levels.

Reads ``metric_values`` (its state reference: ``metric_state_reference``), ``roster``, ``school_grade_span`` and
the DESE exports' school features (``dese_context``, for similar schools). See docs/targets.md for the rules.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ..models.build import EVALUATE_MODELS, database_path, dbt_failure, run_dbt
from ..warehouse import registered
from . import stats
from .catalog import FLAGS, STATUSES, Catalog, load_catalog
from .rules import intervals, rate

RESULT_SCHEMA: tuple[tuple[str, str], ...] = (
    ("org_code", "VARCHAR"), ("org_level", "VARCHAR"), ("school_name", "VARCHAR"), ("is_network_school", "BOOLEAN"),
    ("target_id", "VARCHAR"), ("target_label", "VARCHAR"), ("category", "VARCHAR"), ("rule", "VARCHAR"),
    ("direction", "VARCHAR"), ("threshold", "DOUBLE"), ("subgroup", "VARCHAR"), ("subject", "VARCHAR"),
    ("grade", "VARCHAR"), ("metric", "VARCHAR"), ("baseline_metric", "VARCHAR"), ("source", "VARCHAR"),
    ("baseline_year", "INTEGER"), ("baseline_window", "INTEGER"), ("baseline_value", "DOUBLE"),
    ("current_year", "INTEGER"), ("current_value", "DOUBLE"), ("change_abs", "DOUBLE"), ("change_rel_pct", "DOUBLE"),
    ("target_value", "DOUBLE"), ("progress_pct", "DOUBLE"), ("rating", "INTEGER"), ("rating_label", "VARCHAR"),
    ("status", "VARCHAR"), ("status_reason", "VARCHAR"), ("ci_low", "DOUBLE"), ("ci_high", "DOUBLE"),
    ("ci_units", "VARCHAR"), ("ci_method", "VARCHAR"), ("p_value", "DOUBLE"), ("n_baseline", "DOUBLE"),
    ("n_current", "DOUBLE"),
    ("is_distinguishable_from_noise", "BOOLEAN"), ("flags", "VARCHAR"), ("met_by", "VARCHAR"),
    ("implementation_year", "INTEGER"), ("due_from_implementation_year", "INTEGER"), ("reference", "VARCHAR"),
    ("baseline_subgroup_value", "DOUBLE"), ("current_subgroup_value", "DOUBLE"),
    ("baseline_reference_value", "DOUBLE"), ("current_reference_value", "DOUBLE"),
    ("complement_gap_baseline", "DOUBLE"), ("complement_gap_current", "DOUBLE"), ("complement_gap_change", "DOUBLE"),
    ("subgroup_progress_pct", "DOUBLE"),
    ("state_change_rel_pct", "DOUBLE"), ("state_change_abs", "DOUBLE"), ("state_current_value", "DOUBLE"),
    ("state_change_source", "VARCHAR"), ("peer_change_rel_pct", "DOUBLE"), ("peer_change_abs", "DOUBLE"),
    ("peer_current_value", "DOUBLE"), ("n_peers", "INTEGER"), ("n_state_schools", "INTEGER"),
    ("peer_measure", "VARCHAR"), ("peer_low", "DOUBLE"),
    ("peer_high", "DOUBLE"), ("peer_percentile", "DOUBLE"), ("peer_org_codes", "VARCHAR"),
)
RESULT_COLUMNS = tuple(c for c, _ in RESULT_SCHEMA)

_POOLED = ("metric", "baseline_metric", "n_schools", "baseline_value", "current_value", "change_abs",
           "change_rel_pct", "target_value", "progress_pct", "rating", "rating_label", "status", "ci_low", "ci_high",
           "ci_units", "p_value", "n_baseline", "n_current", "org_codes")
ROLLUP_SCHEMA: tuple[tuple[str, str], ...] = (
    ("target_id", "VARCHAR"), ("target_label", "VARCHAR"), ("category", "VARCHAR"), ("subject", "VARCHAR"),
    ("subgroup", "VARCHAR"), ("n_schools", "INTEGER"), ("n_rated", "INTEGER"),
    *((f"n_rating_{v}", "INTEGER") for v in (4, 3, 2, 1)), *((f"n_{s}", "INTEGER") for s in STATUSES),
    *((f"pooled_{c}", dict(RESULT_SCHEMA).get(c, "INTEGER" if c == "n_schools" else "VARCHAR"))
      for c in _POOLED),
)
ROLLUP_COLUMNS = tuple(c for c, _ in ROLLUP_SCHEMA)

# ================================================================================================ parameters

PARAMETERS_SQL = (files(__package__) / "parameters.sql").read_text(encoding="utf-8")  # the eval_ tables


def _target_rows(catalog: Catalog) -> tuple[list[tuple], list[tuple]]:
    targets, items = [], []
    for i, t in enumerate(catalog.targets):
        low, high = t.applies_to_grades or (None, None)
        subjects = "none" if t.subjects is None else ("any" if t.any_subject else "list")
        targets.append((t.id, i, t.label, t.category, t.rule, t.threshold, t.direction, t.higher_is_better,
                        t.needs_baseline, t.reference, t.compare_to, t.domain, t.unit == "grade", t.any_grade,
                        subjects, t.min_n, t.due_from_implementation_year, low, high))
        lists = {"metric": t.metrics, "source": t.sources, "subgroup": t.subgroups,
                 "grade": () if t.any_grade else t.grades,
                 "subject": t.subjects if subjects == "list" else (),
                 "not_comparable_on": t.not_comparable_on}
        items += [(t.id, kind, item, j) for kind, values in lists.items() for j, item in enumerate(values)]
    return targets, items


def _catalog_rows(catalog: Catalog) -> list[tuple]:
    comp = catalog.comparability
    rows = [("metric_type", m, None, None, None, kind) for m, kind in catalog.metric_types.items()]
    rows += [("flag", f, None, None, float(i), None) for i, f in enumerate(FLAGS)]
    rows += [("percentile_metric", m, None, None, None, None) for m in catalog.percentile_metrics]
    rows += [("legacy_assessment_metric", m, None, None, None, None) for m in comp.legacy_assessment_metrics]
    rows += [("next_gen_assessment_metric", m, None, None, None, None) for m in comp.next_gen_assessment_metrics]
    rows += [("income_subgroup", s, None, None, None, None) for s in comp.income_subgroups]
    for kind, years in (("no_assessment_year", comp.no_assessment_years), ("remote_year", comp.remote_years),
                        ("income_definition_change_year", comp.income_definition_change_years)):
        rows += [(kind, None, None, None, float(y), None) for y in years]
    rows += [("next_gen_first_year", None, subject, band, float(year), None)
             for subject, bands in comp.next_gen_first_year.items() for band, year in bands.items()]
    rows += [("not_comparable_baseline", domain, None, None, float(y), None)
             for domain, years in comp.not_comparable_baselines.items() for y in years]
    return rows


def write_parameters(con: duckdb.DuckDBPyConnection, catalog: Catalog, *, baseline_year: int | None,
                     current_year: int | None, baseline_window: int, peers_k: int) -> None:
    """The evaluation's options and target catalog as the tables models/evaluate reads (replaced every run, so
    the warehouse records what the last target_results were computed with)."""
    targets, items = _target_rows(catalog)
    rows = {
        "eval_settings": [(baseline_year, current_year, baseline_window, catalog.small_n, catalog.n_change_ratio,
                           peers_k, catalog.min_peers, stats.MEDIAN_SE_FACTOR, stats.PERCENTILE_SD,
                           str(catalog.path))],
        "eval_targets": targets, "eval_target_items": items, "eval_catalog_items": _catalog_rows(catalog),
    }
    con.begin()  # one commit: each row inserted on its own commits the warehouse file (0.7 s for 250 rows, #22)
    try:
        con.execute(PARAMETERS_SQL)
        for name in rows:
            if rows[name]:
                marks = ", ".join("?" * len(rows[name][0]))
                con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows[name])
        con.commit()
    except BaseException:
        con.rollback()
        raise


# ================================================================================================== rating


def _judged(rows: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Intervals and tests per target; rows the SQL left unrated (status NULL) get their rating and status
    (insufficient_data when the rule gives none: a rule problem, no progress)."""
    parts = [intervals(part, catalog.target(tid), catalog) for tid, part in rows.groupby("target_id", sort=False)]
    tests = pd.concat(parts) if parts else pd.DataFrame(index=rows.index, columns=["is_distinguishable"])
    out = rows.join(tests)
    to_rate = out["status"].isna().to_numpy() & (out.get("rule_problem", pd.Series("", index=out.index))
                                                 .fillna("") == "").to_numpy()
    rating = np.where(to_rate, rate(out["progress_pct"].to_numpy(dtype=float, na_value=np.nan),
                                    out["forced_rating"].to_numpy(dtype=float, na_value=np.nan), catalog), np.nan)
    levels = {float(lv.rating): (lv.label, lv.status) for lv in catalog.ratings.levels}
    by_state = out["flags"].fillna("").str.contains("closed_by_state_change") if "flags" in out else False
    rating = np.where(by_state, np.minimum(rating, 3), rating)  # a gap the state's fall closed: never 4 (NaN stays)
    weak = np.zeros(len(out), dtype=bool)
    evidence = catalog.ratings.evidence
    if evidence is not None:  # the rating that needs evidence, without it: else_rating, shown as such
        weak = (rating == evidence.rating) & (out["is_distinguishable"].to_numpy(dtype=float, na_value=np.nan) != 1)
        rating = np.where(weak, evidence.else_rating, rating)
        levels["weak"] = (evidence.else_label, evidence.else_status)
    keys = np.where(weak, "weak", rating.astype(object))
    out["rating"] = rating
    out["rating_label"] = [levels[k][0] if k in levels else None for k in keys]
    out["status"] = [levels[k][1] if k in levels else (s if isinstance(s, str) else "insufficient_data")
                     for k, s in zip(keys, out["status"], strict=True)]
    return out


def _with_noise_flag(results: pd.DataFrame) -> pd.Series:
    """flags plus not_distinguishable_from_noise where a met target's interval includes no change."""
    noise = results["status"].isin(("met", "met_not_distinguishable")) & (results["is_distinguishable"] != 1)
    flags = results["flags"].fillna("")
    added = np.where(flags == "", "not_distinguishable_from_noise", flags + ",not_distinguishable_from_noise")
    return pd.Series(np.where(noise, added, flags), index=results.index)


def _results(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> pd.DataFrame:
    rows = _judged(con.execute("SELECT * FROM target_comparisons").df(), catalog)
    rows["flags"] = _with_noise_flag(rows)
    rows["is_distinguishable_from_noise"] = rows["is_distinguishable"].map(lambda v: None if pd.isna(v) else bool(v))
    return _typed(rows, RESULT_SCHEMA)


def _rollup(con: duckdb.DuckDBPyConnection, catalog: Catalog, results: pd.DataFrame) -> pd.DataFrame:
    """Per target, subject and subgroup over the network schools: counts of ratings and statuses, and the pooled
    result (target_network, rated here like a school)."""
    net = results[results["is_network_school"].fillna(False).astype(bool)].copy()
    if net.empty:
        return _typed(pd.DataFrame(columns=list(ROLLUP_COLUMNS)), ROLLUP_SCHEMA)
    net["subject"] = net["subject"].fillna("")
    keys = ["target_id", "subject", "subgroup"]
    counts = net.groupby(keys, sort=False).agg(target_label=("target_label", "first"),
                                               category=("category", "first"), n_schools=("org_code", "size"),
                                               n_rated=("rating", "count"))
    for v in (4, 3, 2, 1):
        counts[f"n_rating_{v}"] = (net["rating"] == v).groupby([net[k] for k in keys], sort=False).sum()
    for s in STATUSES:
        counts[f"n_{s}"] = (net["status"] == s).groupby([net[k] for k in keys], sort=False).sum()
    pooled = _judged(con.execute("SELECT * FROM target_network").df(), catalog)
    pooled = pooled.rename(columns={"rating": "pooled_rating", "rating_label": "pooled_rating_label",
                                    "status": "pooled_status", "ci_low": "pooled_ci_low",
                                    "ci_high": "pooled_ci_high", "ci_units": "pooled_ci_units",
                                    "p_value": "pooled_p_value"})
    out = counts.reset_index().merge(pooled, on=keys, how="left")
    out["pooled_n_schools"] = out["pooled_n_schools"].fillna(0)
    out["subject"] = out["subject"].where(out["subject"] != "", None)
    return _typed(out, ROLLUP_SCHEMA)


# ============================================================================================= entry point


def evaluate_targets(
    con: duckdb.DuckDBPyConnection, *, baseline_year: int | None = None, current_year: int | None = None,
    baseline_window: int = 1, targets_file: Path | None = None, peers_k: int | None = None,
) -> pd.DataFrame:
    """Judge every school against every target of the catalog and (re)create ``target_results`` and
    ``target_rollup`` in the connection's warehouse file. Returns target_results (one row per school x target x
    subgroup x subject).

    ``baseline_year`` / ``current_year`` override every school's years (default: each school's roster baseline,
    implementation_start_year - 1 unless roster.baseline_year is set, and the latest year with data for the
    target). ``baseline_window`` 2 or 3 pools the years ending at the baseline. ``peers_k`` overrides the catalog's
    number of peers. The connection must not hold an open transaction (the SQL runs on dbt's connection); callers
    that must leave the warehouse unchanged on failure work on a staged copy (``StagedWarehouse``).
    """
    if baseline_window not in (1, 2, 3):
        raise ValueError(f"baseline_window must be 1, 2 or 3, got {baseline_window!r}")
    if baseline_year is not None and current_year is not None and baseline_year > current_year:
        raise ValueError(f"baseline_year {baseline_year} is after current_year {current_year}")
    catalog = load_catalog(targets_file)
    write_parameters(con, catalog, baseline_year=baseline_year, current_year=current_year,
                     baseline_window=baseline_window, peers_k=int(peers_k if peers_k is not None else catalog.peers_k))
    con.execute("CHECKPOINT")
    # with the views that define the state reference and the gaps, and the subgroup catalog (cheap, always current)
    result = run_dbt(database_path(con), "build", "--select", EVALUATE_MODELS, "metric_state_reference",
                     "metric_gaps", "subgroups", "--exclude-resource-type", "test")
    if not result.success:
        raise dbt_failure(result, "target evaluation")
    results = _results(con, catalog)
    _write(con, "target_results", results, RESULT_SCHEMA)
    _write(con, "target_rollup", _rollup(con, catalog, results), ROLLUP_SCHEMA)
    return results


def _typed(df: pd.DataFrame, schema) -> pd.DataFrame:
    df = df.copy()
    for col, typ in schema:
        if col not in df.columns:
            df[col] = None
        if typ == "DOUBLE":
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
        elif typ == "INTEGER":
            df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
        elif typ == "BOOLEAN":
            df[col] = pd.array([None if pd.isna(v) else bool(v) for v in df[col]], dtype="boolean")
        else:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df[[c for c, _ in schema]].reset_index(drop=True)


def _write(con: duckdb.DuckDBPyConnection, name: str, df: pd.DataFrame, schema) -> None:
    con.execute(f"CREATE OR REPLACE TABLE {name} ({', '.join(f'{c} {t}' for c, t in schema)})")
    if df.empty:
        return
    with registered(con, "_eo_frame", df):
        con.execute(f"INSERT INTO {name} SELECT * FROM _eo_frame")
