"""Realized known effects: treated and untreated (counterfactual) outcomes per school-year, and known_effects.json.

The untreated value of every outcome with an effect is computed from the same random draws as the treated value
(common random numbers), so ``treated - untreated`` is the realized effect, free of sampling noise in the
comparison. Accumulators are additive per school-year (histograms for SGP medians), hence streaming-friendly.
"""

from __future__ import annotations

import numpy as np

from . import params as P
from .network import Network

SGP_SUBJECTS = ["ELA", "MATH"]


def accumulate(target: np.ndarray, school: np.ndarray, stats: np.ndarray) -> None:
    """target[school] += stats rows (few distinct schools per call): a school's sums in row order, by bincount."""
    if len(school) == 0:
        return
    uniq, inv = np.unique(school, return_inverse=True)
    stats = np.asarray(stats, dtype=np.float64).reshape(len(school), -1)
    for k in range(stats.shape[1]):
        target[uniq, k] += np.bincount(inv, weights=stats[:, k], minlength=len(uniq))


class EffectsTracker:
    def __init__(self, net: Network) -> None:
        self.net = net
        self.years = net.years
        Y, S = len(self.years), len(net.schools)
        self.att = np.zeros((Y, S, 4))  # n (>= 20 days), absent 10+ treated, untreated, network-effect-only
        self.susp = np.zeros((Y, S, 3))  # enrolled, suspended treated, untreated
        self.mcas = np.zeros((Y, S, 2, 3, 3))  # subject x group (all, low_income, latino) x (n, me_t, me_u)
        self.sgp = np.zeros((Y, S, 2, 2, 100), np.int64)  # subject x (treated, untreated) x SGP value
        self.surv = np.zeros((Y, S, 2, 3))  # perceptions / competencies x (matched n, improved_t, improved_u)
        self.teach = np.zeros((Y, S, 3))

    def yi(self, year: int) -> int:
        return year - self.years[0]

    def add_attendance(self, year, school, t10, u10, n10) -> None:
        accumulate(self.att[self.yi(year)], school, np.column_stack([np.ones(len(school)), t10, u10, n10]))

    def add_suspension(self, year, school, t, u) -> None:
        accumulate(self.susp[self.yi(year)], school, np.column_stack([np.ones(len(school)), t, u]))

    def add_mcas(self, year, j, school, me_t, me_u, li, latino, sgp_t, sgp_u) -> None:
        y = self.yi(year)
        for gi, m in enumerate((np.ones(len(school), bool), li, latino)):
            view = self.mcas[y, :, j, gi, :]
            accumulate(view, school[m], np.column_stack([np.ones(int(m.sum())), me_t[m], me_u[m]]))
        for v, sgp in enumerate((sgp_t, sgp_u)):
            has = sgp > 0
            if has.any():
                uniq, inv = np.unique(school[has], return_inverse=True)
                h = np.bincount(inv * 100 + sgp[has], minlength=len(uniq) * 100).reshape(len(uniq), 100)
                self.sgp[y, uniq, j, v] += h

    def add_surveys(self, year, school, res) -> None:
        y = self.yi(year)
        for gi, (t, u) in enumerate(res):
            accumulate(self.surv[y, :, gi, :], school, np.column_stack([np.ones(len(school)), t, u]))

    def add_teachers(self, year, school: int, t, u) -> None:
        self.teach[self.yi(year), school] += [len(t), t.sum(), u.sum()]


def _pct(num: float, den: float) -> float | None:
    return None if den <= 0 else round(100.0 * num / den, 2)


def _realized(counts: np.ndarray, years: list[int], *, share: str = "pct", n: str = "n",
              without_2020: bool = False) -> dict:
    """Per year: the treated and untreated % of ``counts[year index] = (n, treated, untreated, ...)``, and n."""
    return {str(y): {f"treated_{share}": _pct(c[1], c[0]), f"untreated_{share}": _pct(c[2], c[0]), n: int(c[0])}
            for y, c in zip(years, counts, strict=True) if not (without_2020 and y == 2020)}


def sgp_median(hist: np.ndarray) -> float | None:
    """The median of the values a histogram counts (``hist[k]``: how many are k), as DESE takes it: the mean of
    the two middle values when the count is even."""
    n = int(hist.sum())
    if n == 0:
        return None
    cum = np.cumsum(hist)
    lo = int(np.searchsorted(cum, (n + 1) // 2))
    hi = int(np.searchsorted(cum, n // 2 + 1))
    return (lo + hi) / 2.0


def build_known_effects(net: Network, tr: EffectsTracker, demographics: dict[str, float]) -> dict:
    years = net.years
    schools_out = {}
    effects = []
    yidx = {y: i for i, y in enumerate(years)}
    # state rates for gap metrics: every generated school but the rest of the state (as the exports' state totals),
    # all students, by grade selection (03-08 / 10)
    level = np.array([s.level for s in net.schools])
    counted = np.array([not s.dese_only for s in net.schools])
    hs = level == "high"
    state = {}
    for y in years:
        for j in range(2):
            for sel, m in (("03-08", ~hs & counted), ("10", hs & counted)):
                v = tr.mcas[yidx[y], m, j, 0, :].sum(axis=0)
                state[(y, j, sel)] = _pct(v[1], v[0])
    for s in (s for s in net.schools if not s.dese_only):  # the rest of the state: no students, no known effects
        schools_out[s.org_code] = {
            "roles": list(s.roles), "implementation_start_year": s.start_year,
            "baseline_year": None if s.start_year is None else s.start_year - 1, "is_network_school": s.is_network,
            "school_level": s.level, "poverty_index": round(s.pi, 3),
            # every school's growth value-added: in sd of the growth draw (supplied SGPs) and in z per year of
            # growth kept in later scores (what SGPs computed from score histories see)
            "growth_value_added_sd": round(s.eff_growth, 4),
            "growth_value_added_z_per_year": round(P.GROWTH_WEIGHT * s.eff_growth, 4),
        }
        if not s.is_network:
            continue
        i = s.idx
        start = s.start_year
        assert start is not None

        def entry(role, metric, target, *, subgroup="all", subject=None, expected=None, compare="counterfactual",
                  effective=None, realized=None, _s=s, _start=start, **extra):
            e = {"org_code": _s.org_code, "role": role, "metric": metric, "subgroup": subgroup, "subject": subject,
                 "from_year": _start, "effective_from_year": effective or _start, "baseline_year": _start - 1,
                 "expected_relative_change_pct": expected, "compared_with": compare, "target_id": target}
            e.update(extra)
            if realized is not None:
                e["realized"] = realized
            effects.append(e)

        if "absence_improver" in s.roles:
            entry("absence_improver", "pct_absent_10_plus_days", "absence", expected=-30, compare="baseline",
                  assess_year=start + 1, realized=_realized(tr.att[:, i], years),
                  design=f"days absent x{P.ABSENCE_IMPROVER_MULT} (plus the network-wide x{P.NETWORK_ABSENCE_MULT}) "
                         "and shielded from statewide absence shocks after the baseline year; the school's % absent "
                         "10+ days falls at least 30% relative to its baseline year by implementation year 2")
        if "suspension_improver" in s.roles:
            entry("suspension_improver", "pct_suspended", "suspension", expected=-45,
                  realized=_realized(tr.susp[:, i], years),
                  design=f"{int(P.SUSPENSION_IMPROVER_CONVERT * 100)}% of students who would have been suspended "
                         "(ISS or OSS) get an alternative (action OTHER) instead: -60% expected vs counterfactual")
        if "proficiency_improver" in s.roles:
            design = (f"ELA and MATH latent achievement +{P.PROFICIENCY_SHIFT_Z} z (about "
                      f"{P.PROFICIENCY_SHIFT_Z * P.NEXTGEN_SCALE:.0f} scaled-score points) "
                      "from implementation year 3")
            for j, subj in enumerate(SGP_SUBJECTS):
                entry("proficiency_improver", "pct_meeting_or_exceeding", "proficiency", subject=subj,
                      expected=35, effective=start + 2,
                      realized=_realized(tr.mcas[:, i, j, 0], years, without_2020=True), design=design)
        if "growth_improver" in s.roles:
            for j, subj in enumerate(SGP_SUBJECTS):
                real = {str(y): {"treated_median": sgp_median(tr.sgp[yidx[y], i, j, 0]),
                                 "untreated_median": sgp_median(tr.sgp[yidx[y], i, j, 1]),
                                 "n": int(tr.sgp[yidx[y], i, j, 0].sum())} for y in years if y != 2020}
                entry("growth_improver", "median_sgp", "growth", subject=subj, expected=None,
                      effective=start + 2, realized=real, expected_change_points=10,
                      growth_shift_z_per_year=round(P.GROWTH_WEIGHT * P.GROWTH_SHIFT, 4),
                      design=f"growth draw +{P.GROWTH_SHIFT} sd in ELA and MATH from implementation year 3: "
                             "median SGP about +10 points in every grade")
        if "gap_closer" in s.roles:
            sel = "10" if s.level == "high" else "03-08"
            for gi, sub in ((1, "low_income"), (2, "latino")):
                for j, subj in enumerate(SGP_SUBJECTS):
                    real = {}
                    for y in years:
                        if y == 2020:
                            continue
                        v = tr.mcas[yidx[y], i, j, gi]
                        st = state[(y, j, sel)]
                        t, u = _pct(v[1], v[0]), _pct(v[2], v[0])
                        real[str(y)] = {"state_pct": st, "treated_pct": t, "untreated_pct": u, "n": int(v[0]),
                                        "treated_gap_pp": None if t is None or st is None else round(t - st, 2),
                                        "untreated_gap_pp": None if u is None or st is None else round(u - st, 2)}
                    entry("gap_closer", "pct_meeting_or_exceeding", "state_gap", subgroup=sub,
                          subject=subj, expected=-50, effective=start + 2, realized=real,
                          quantity="gap_to_state_pp", expected_gap_closure_pct=50,
                          gap_definition="school subgroup % meeting/exceeding minus state all-students % "
                                         f"(state = every generated school, grade selection {sel})",
                          design=f"{sub} students' latent achievement "
                                 f"+{s.gap_delta_li if sub == 'low_income' else s.gap_delta_latino:.3f} z from "
                                 "implementation year 3: half their expected gap to the state mean (students in "
                                 "both groups get the larger shift)")
        if "survey_improver" in s.roles:
            for gi, target in ((0, "perceptions"), (1, "competencies")):
                real = _realized(tr.surv[:, i, gi], years, share="pct_improved", n="n_matched")
                entry("survey_improver", f"pct_students_improved_{target}", target, expected=None, realized=real,
                      expected_share_improved_pct=70, untreated_share_improved_pct=40,
                      design="spring minus fall change shifted so ~70% of matched students improve (others ~40%)")
            real = _realized(tr.teach[:, i], years, share="pct_improved")
            entry("survey_improver", "pct_teachers_improved_efficacy", "teacher_efficacy", expected=None, realized=real,
                  expected_share_improved_pct=70, untreated_share_improved_pct=40,
                  design="teachers: spring minus fall change shifted so ~70% improve (others ~40%)")

    # difference in differences: mean over network school-years from the start year of (treated - untreated)
    diffs, net_only, w_num, w_den, n_sy = [], [], 0.0, 0.0, 0
    for s in net.schools:
        if not s.is_network or s.start_year is None:
            continue
        for y in years:
            if y < s.start_year:
                continue
            n, t, u, no = tr.att[yidx[y], s.idx]
            if n <= 0:
                continue
            diffs.append(100.0 * (t - u) / n)
            net_only.append(100.0 * (no - u) / n)
            w_num += 100.0 * (t - u)
            w_den += n
            n_sy += 1
    did = {
        "metric": "pct_absent_10_plus_days", "subgroup": "all",
        "effect_pp": round(float(np.mean(diffs)), 3) if diffs else None,
        "effect_pp_student_weighted": round(w_num / w_den, 3) if w_den else None,
        "network_wide_component_pp": round(float(np.mean(net_only)), 3) if net_only else None,
        "treated_school_years": n_sy,
        "population": "enrollment rows with >= 20 days in membership (DESE attendance population)",
        "how": ("Realized, not analytic: every enrollment row's days absent is drawn once untreated; treated days are "
                "derived from the same draw (stochastic rounding of days x multiplier with one shared uniform), so "
                "effect_pp = mean over network school-years with year >= implementation_start_year of "
                "(% absent 10+ treated - % absent 10+ untreated). Includes static schools (zero effect) and the "
                "absence_improver role effects, i.e. it is the ATT a difference-in-differences against the "
                "comparison schools estimates; network_wide_component_pp is the part due to the network-wide "
                f"x{P.NETWORK_ABSENCE_MULT} multiplier alone."),
        "design": {"network_wide_absence_multiplier": P.NETWORK_ABSENCE_MULT,
                   "applies_to": "network schools except static ones, from implementation_start_year",
                   "absence_improver_multiplier": P.ABSENCE_IMPROVER_MULT},
    }
    return {
        "seed": net.seed, "generator_version": P.GENERATOR_VERSION, "years": years,
        "schools": schools_out, "effects": effects, "did": did,
        "demographic_targets": P.DEMOGRAPHIC_TARGETS,
        "demographics_realized": demographics,
        "year_shocks": {"absence_mean_multiplier": {str(k): v for k, v in P.ABSENCE_YEAR_SHOCK.items()},
                        "discipline_rate_multiplier": {str(k): v for k, v in P.DISCIPLINE_YEAR_SHOCK.items()},
                        "mcas_latent_shift_z": {s: {str(k): v for k, v in d.items()}
                                                for s, d in P.MCAS_YEAR_SHOCK.items()}},
        "state_definition": "every generated school (network and comparison), all students",
    }
