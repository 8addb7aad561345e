"""Student records, one district at a time, year by year (vectorized with numpy; no per-student Python loops).

A district is the streaming unit: its students move between its schools (feeders KG-05 -> 06-08 -> 09-12, mid-year
transfers between schools of the same level), so one district's state is all that is held in memory. Each district
draws from its own random stream keyed on ``(seed, district index)``.

Every outcome with a known effect is drawn once, untreated, and the treated value derived from the same draws (common
random numbers): the realized counterfactual is known exactly for ``known_effects.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from . import params as P
from .demographics import ability_mean, draw_demographics
from .network import District, Network, rng_for

GROUPS = ["all", "low_income", "black", "latino", "el", "swd", "high_needs", "white"]
SUBJECTS = ["ELA", "MATH", "SCI"]
LEVEL_CODE = {"elementary": 0, "middle": 1, "high": 2}

# table codes
NG_LEVELS, LEG_LEVELS = ["E", "M", "PM", "NM"], ["A", "P", "NI", "W"]
ACHIEVEMENT_LEVELS = NG_LEVELS + LEG_LEVELS  # codes 0-3 Next-Gen, 4-7 legacy
COURSES = P.AP_COURSES + P.DUAL_COURSES + P.OTHER_COURSES
AP_T, DUAL_T, OTHER_T = 0, 1, 2


# ---------------------------------------------------------------------------------- network-wide lookup arrays
# the School fields that Ctx holds as arrays of the same name
SCHOOL_PARAMS = ("pi", "eff_ach", "eff_growth", "abs_mult", "dis_mult", "survey_shift", "masscore_p", "gap_delta_li",
                 "gap_delta_latino")


@dataclass
class Ctx:
    """Per-school parameter arrays (index = global school index)."""

    net: Network

    def __post_init__(self) -> None:
        sc = self.net.schools
        self.n = len(sc)
        self.org = np.array([int(s.org_code) for s in sc], np.int64)
        self.level = np.array([LEVEL_CODE[s.level] for s in sc], np.int8)
        self.feeder = np.array([-1 if s.feeder_to is None else s.feeder_to for s in sc], np.int64)
        for name in SCHOOL_PARAMS:
            setattr(self, name, np.array([getattr(s, name) for s in sc]))
        self.network = np.array([s.is_network for s in sc])
        self.static = np.array(["static" in s.roles for s in sc])
        self.start = np.array([s.start_year or 0 for s in sc], np.int64)
        self.base_abs_shock = np.array([P.ABSENCE_YEAR_SHOCK.get(int(y) - 1, 1.0) for y in self.start])
        self.role = {r: np.array([r in s.roles for s in sc]) for r in P.ROLES}

    def post(self, year: int, impl_year: int = 1) -> np.ndarray:
        """Schools in implementation year ``impl_year`` or later in ``year``."""
        return self.network & (self.start > 0) & (year >= self.start + impl_year - 1)


# ---------------------------------------------------------------------------------- the district simulation
# accumulated persistent growth (z) per subject, treated and untreated: the score histories' school differences
GAIN_KEYS = ["gain_t_ELA", "gain_t_MATH", "gain_u_ELA", "gain_u_MATH"]


def _cat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _take(d: dict[str, np.ndarray], idx) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in d.items()}


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5)


class DistrictSim:
    """Simulates one district for every year; ``step(year)`` returns that year's tables as numeric columns."""

    def __init__(self, ctx: Ctx, district: District, dese=None, effects=None) -> None:
        self.ctx = ctx
        self.net = ctx.net
        self.d = district
        self.rng = rng_for(self.net.seed, 10, district.idx)
        self.dese = dese
        self.effects = effects
        self.sid_base = district.code4 * 10_000_000
        self.next_serial = 1
        sch = np.array(district.schools, np.int64)
        self.schools = sch
        self.by_level = {lv: sch[ctx.level[sch] == lv] for lv in range(3)}
        w = np.array([s.cohort_weight for s in self.net.schools])
        self.weights = {lv: w[self.by_level[lv]] / w[self.by_level[lv]].sum() for lv in range(3)}
        self.teacher_trait = {int(s): self.rng.normal(3.55, 0.45, 400) for s in sch}
        self.state: dict[str, np.ndarray] | None = None
        self.left_mid = np.zeros(0, bool)

    # ---------------------------------------------------------------- population
    def _new(self, school: np.ndarray, grade: np.ndarray, yrs: np.ndarray, late: np.ndarray) -> dict:
        rng, n = self.rng, len(school)
        demo = draw_demographics(rng, n, self.ctx.pi[school], grade)
        a = ability_mean(demo) + rng.normal(0.0, P.ABILITY_SD, n)
        serial = np.arange(self.next_serial, self.next_serial + n, dtype=np.int64)
        self.next_serial += n
        return {
            "serial": serial, "grade": grade.astype(np.int8), "school": school.astype(np.int64),
            "race": demo["race"], "gender": demo["gender"], "li": demo["li"], "el": demo["el"],
            "former": demo["former"], "swd": demo["swd"], "a": a.astype(np.float32),
            **{u: rng.normal(0, 1, n).astype(np.float32) for u in ("u_ela", "u_math", "u_sci")},
            "f_abs": rng.gamma(P.ABSENCE_PERSISTENT_SHAPE, 1 / P.ABSENCE_PERSISTENT_SHAPE, n).astype(np.float32),
            "f_dis": rng.gamma(P.DISCIPLINE_SHAPE, 1 / P.DISCIPLINE_SHAPE, n).astype(np.float32),
            "t_perc": rng.normal(3.55, 0.45, n).astype(np.float32),
            "t_comp": rng.normal(3.45, 0.45, n).astype(np.float32),
            "has_dual": np.zeros(n, bool), "yrs": yrs.astype(np.int16), "late": late.astype(bool),
            **{k: np.zeros(n, np.float32) for k in GAIN_KEYS},
        }

    def _place(self, level: int, n: int) -> np.ndarray:
        """Schools of ``level`` for ``n`` new students, by cohort weight."""
        sch = self.by_level[level]
        return sch[self.rng.choice(len(sch), size=n, p=self.weights[level])]

    def _initial(self) -> None:
        rng, C = self.rng, self.d.cohort
        schools, grades = [], []
        for s in self.schools:
            w = self.net.schools[s].cohort_weight
            for g in self.net.schools[s].grades:
                n = int(rng.poisson(C * w))
                schools.append(np.full(n, s))
                grades.append(np.full(n, g))
        school = np.concatenate(schools)
        grade = np.concatenate(grades)
        yrs = np.where(rng.random(len(grade)) < 0.12, rng.integers(0, 3, len(grade)), grade + 1)
        self.state = self._new(school, grade, np.minimum(yrs, grade + 1), np.zeros(len(grade), bool))

    def _transition(self) -> None:
        rng, st, ctx = self.rng, self.state, self.ctx
        assert st is not None
        n = len(st["grade"])
        extra_leave = (P.LEAVE_RATE - P.MIDYEAR_LEAVE_RATE) / (1 - P.MIDYEAR_LEAVE_RATE)
        leave = self.left_mid | (st["grade"] == 12) | (rng.random(n) < extra_leave)
        n_replace = int((leave & (st["grade"] < 12)).sum())
        st = _take(st, ~leave)
        st["grade"] = (st["grade"] + 1).astype(np.int8)
        st["yrs"] = (st["yrs"] + 1).astype(np.int16)
        st["late"] = np.zeros(len(st["grade"]), bool)
        move = ((st["grade"] == 6) & (ctx.level[st["school"]] == 0)) | ((st["grade"] == 9) & (ctx.level[st["school"]] == 1))
        st["school"] = np.where(move, ctx.feeder[st["school"]], st["school"])
        exit_el = st["el"] & (rng.random(len(st["el"])) < P.EL_EXIT_HAZARD)
        st["el"] = st["el"] & ~exit_el
        st["former"] = st["former"] | exit_el
        parts = [st]
        C = self.d.cohort
        # new kindergarten cohort
        for s in self.by_level[0]:
            k = int(rng.poisson(C * self.net.schools[s].cohort_weight))
            parts.append(self._new(np.full(k, s), np.zeros(k, int), np.zeros(k, int), np.zeros(k, bool)))
        # replacements for leavers (any grade 01-12) and extra entrants at 06 and 09
        g = rng.integers(1, 13, n_replace)
        g = np.concatenate([g, np.full(int(rng.poisson(P.EXTRA_ENTRY_06_09 * C)), 6),
                            np.full(int(rng.poisson(P.EXTRA_ENTRY_06_09 * C)), 9)])
        lv = np.where(g <= 5, 0, np.where(g <= 8, 1, 2))
        school = np.zeros(len(g), np.int64)
        for level in range(3):
            m = lv == level
            school[m] = self._place(level, int(m.sum()))
        late = rng.random(len(g)) < P.LATE_ENTRY_SHARE
        parts.append(self._new(school, g, np.zeros(len(g), int), late))
        self.state = _cat(parts)

    # ---------------------------------------------------------------- one year
    def step(self, year: int) -> dict[str, dict[str, np.ndarray]]:
        if self.state is None:
            self._initial()
        else:
            self._transition()
        rng, st, ctx = self.rng, self.state, self.ctx
        assert st is not None
        n = len(st["grade"])
        late = st["late"]
        left_mid = (~late) & (rng.random(n) < P.MIDYEAR_LEAVE_RATE)
        self.left_mid = left_mid
        # mid-year transfers to another school of the same level in the district
        sib_count = np.array([len(self.by_level[ctx.level[s]]) for s in self.schools])
        has_sib = np.zeros(ctx.n, bool)
        has_sib[self.schools[sib_count > 1]] = True
        transfer = has_sib[st["school"]] & ~late & ~left_mid & (rng.random(n) < P.TRANSFER_RATE)
        new_school = st["school"].copy()
        for lv in range(3):
            sch = self.by_level[lv]
            m = transfer & (ctx.level[st["school"]] == lv)
            if m.any() and len(sch) > 1:
                cur = np.searchsorted(sch, st["school"][m])  # position among the level's schools (sorted)
                step_ = rng.integers(1, len(sch), int(m.sum()))
                new_school[m] = sch[(cur + step_) % len(sch)]
        days1 = rng.integers(20, 161, n)
        # rows: every student once (first school), transfers add a second row
        mem = np.full(n, P.FULL_YEAR_DAYS, np.int64)
        mem = np.where(late, rng.integers(1, 176, n), mem)
        mem = np.where(left_mid, rng.integers(1, 176, n), mem)
        mem = np.where(transfer, days1, mem)
        t_idx = np.flatnonzero(transfer)
        row_stu = np.concatenate([np.arange(n), t_idx])
        row_school = np.concatenate([st["school"], new_school[t_idx]])
        row_mem = np.concatenate([mem, P.FULL_YEAR_DAYS - days1[t_idx]])
        spring_school = new_school  # school at the end of the year (if still enrolled)
        in_spring = ~left_mid
        in_fall = ~late
        tables: dict[str, dict[str, np.ndarray]] = {}
        sid = self.sid_base + st["serial"]
        G = self._groups(st)

        tables["enrollment"] = self._attendance(year, st, sid, row_stu, row_school, row_mem, G)
        tables["discipline"] = self._discipline(year, st, sid, row_stu, row_school, row_mem, G)
        tested = in_spring & np.isin(st["grade"], [3, 4, 5, 6, 7, 8, 10])
        if year != 2020:
            tables["assessments"] = self._assessments(year, st, sid, np.flatnonzero(tested), spring_school, G)
        hs = in_spring & (st["grade"] >= 9)
        tables["courses"] = self._courses(year, st, sid, np.flatnonzero(hs), spring_school, G)
        tables["graduates"] = self._graduates(year, st, sid, np.flatnonzero(in_spring & (st["grade"] == 12)),
                                              spring_school, G)
        if self.net.schools[self.d.schools[0]].dese_only:  # the rest of the state: no surveys, no capstones
            return tables
        tables["student_surveys"] = self._surveys(year, st, sid, in_fall, in_spring, spring_school)
        tables["teacher_surveys"] = self._teacher_surveys(year, spring_school[in_spring])
        tables["capstone"] = self._capstone(year, st, sid, in_spring, spring_school)
        return tables

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _groups(st: dict[str, np.ndarray]) -> np.ndarray:
        race = st["race"]
        return np.column_stack([
            np.ones(len(race), bool), st["li"], race == P.BLACK, race == P.LATINO, st["el"], st["swd"],
            st["li"] | st["swd"] | st["el"] | st["former"], race == P.WHITE,
        ])

    def _attendance(self, year, st, sid, row_stu, row_school, row_mem, G):
        rng, ctx = self.rng, self.ctx
        nr = len(row_stu)
        grade = st["grade"][row_stu]
        dm = P.ABSENCE_DEMO_MULT
        race = st["race"][row_stu]
        demo = (np.where(st["li"][row_stu], dm["low_income"], 1.0) * np.where(st["swd"][row_stu], dm["swd"], 1.0)
                * np.where(st["el"][row_stu], dm["el"], 1.0) * np.where(race == P.BLACK, dm["black"], 1.0)
                * np.where(race == P.LATINO, dm["latino"], 1.0) * np.where(race == P.ASIAN, dm["asian"], 1.0))
        shock = P.ABSENCE_YEAR_SHOCK.get(year, 1.3)
        mu = (P.ABSENCE_BASE_DAYS * row_mem / P.FULL_YEAR_DAYS * ctx.abs_mult[row_school] * shock
              * np.asarray(P.ABSENCE_GRADE_MULT)[grade] * demo * st["f_abs"][row_stu]
              * rng.gamma(P.ABSENCE_YEAR_SHAPE, 1 / P.ABSENCE_YEAR_SHAPE, nr))
        d0 = np.minimum(rng.poisson(mu), row_mem)
        u = rng.random(nr)
        post = ctx.post(year)[row_school] & ~ctx.static[row_school]
        net_f = np.where(post, P.NETWORK_ABSENCE_MULT, 1.0)
        imp = post & ctx.role["absence_improver"][row_school]
        imp_f = np.ones(nr)
        imp_f[imp] = P.ABSENCE_IMPROVER_MULT * np.minimum(1.0, ctx.base_abs_shock[row_school[imp]] / shock)
        d_t = np.where(post, np.floor(d0 * net_f * imp_f + u), d0).astype(np.int64)
        d_net = np.where(post, np.floor(d0 * net_f + u), d0).astype(np.int64)
        pop = row_mem >= 20
        if self.dese is not None:
            stats = np.column_stack([np.ones(nr), d_t, row_mem, d_t >= 10, 10 * d_t >= row_mem, 5 * d_t >= row_mem])
            self.dese.add("attendance", year, "", row_school[pop], G[row_stu][pop], stats[pop])
        if self.effects is not None:
            self.effects.add_attendance(year, row_school[pop], d_t[pop] >= 10, d0[pop] >= 10, d_net[pop] >= 10)
        cols = {
            "school_year": np.full(nr, year, np.int16), "sid": sid[row_stu], "org": ctx.org[row_school],
            "grade": grade, "race": race, "gender": st["gender"][row_stu], "li": st["li"][row_stu],
            "el": st["el"][row_stu], "former": st["former"][row_stu], "swd": st["swd"][row_stu],
            "mem": row_mem.astype(np.int16), "absent": d_t.astype(np.int16),
        }
        return _take(cols, np.lexsort((cols["sid"], cols["org"])))

    def _discipline(self, year, st, sid, row_stu, row_school, row_mem, G):
        rng, ctx = self.rng, self.ctx
        nr = len(row_stu)
        dm = P.DISCIPLINE_DEMO_MULT
        race = st["race"][row_stu]
        lam = (P.DISCIPLINE_BASE * row_mem / P.FULL_YEAR_DAYS * ctx.dis_mult[row_school]
               * P.DISCIPLINE_YEAR_SHOCK.get(year, 1.0) * np.asarray(P.DISCIPLINE_GRADE_MULT)[st["grade"][row_stu]]
               * np.where(race == P.BLACK, dm["black"], 1.0) * np.where(race == P.LATINO, dm["latino"], 1.0)
               * np.where(st["li"][row_stu], dm["low_income"], 1.0) * np.where(st["swd"][row_stu], dm["swd"], 1.0)
               * np.asarray(P.DISCIPLINE_GENDER_MULT)[st["gender"][row_stu]] * st["f_dis"][row_stu])
        k = rng.poisson(lam)
        inc_row = np.repeat(np.arange(nr), k)
        ni = len(inc_row)
        action = np.searchsorted(np.cumsum(P.ACTION_P), rng.random(ni) * sum(P.ACTION_P), side="right")
        action = np.minimum(action, 5).astype(np.int8)
        susp = (action == 0) | (action == 1)
        any_susp_u = np.bincount(inc_row[susp], minlength=nr) > 0
        convert_row = (ctx.post(year) & ctx.role["suspension_improver"])[row_school] & any_susp_u \
            & (rng.random(nr) < P.SUSPENSION_IMPROVER_CONVERT)
        conv = convert_row[inc_row] & susp
        action = np.where(conv, 5, action).astype(np.int8)
        r = rng.random(ni)
        days = np.select(
            [action == 0, action == 1, action == 2, action == 3, action == 4],
            [1 + (r < 0.3) + (r < 0.08), np.minimum(rng.geometric(0.45, ni), 10), rng.integers(60, 181, ni),
             rng.integers(5, 46, ni), 1 + (r < 0.4)],
            0,
        )
        flags = np.zeros((nr, 6), bool)
        for a in range(6):
            flags[:, a] = np.bincount(inc_row[action == a], minlength=nr) > 0
        any_susp_t = flags[:, 0] | flags[:, 1]
        if self.dese is not None:
            stats = np.column_stack([np.ones(nr), k > 0, flags[:, :5]])  # students, disciplined, ISS .. EMR
            self.dese.add("discipline", year, "", row_school, G[row_stu], stats)
            by_grade = (st["grade"][row_stu][:, None] == np.arange(13)[None, :]).astype(float)  # KG = 0 .. 12
            self.dese.add("enrollment", year, "", row_school, G[row_stu][:, :1], by_grade)
        if self.effects is not None:
            self.effects.add_suspension(year, row_school, any_susp_t, any_susp_u)
        inc_school = row_school[inc_row]
        order = np.lexsort((sid[row_stu][inc_row], inc_school))
        inc_school_s = inc_school[order]
        first = np.searchsorted(inc_school_s, inc_school_s, side="left")
        seq = np.arange(ni) - first + 1
        return {
            "school_year": np.full(ni, year, np.int16), "sid": sid[row_stu][inc_row][order],
            "org": ctx.org[inc_school_s], "seq": seq.astype(np.int32), "action": action[order],
            "days": days[order].astype(np.int16),
        }

    def _assessments(self, year, st, sid, idx, school, G):
        rng, ctx = self.rng, self.ctx
        grade = st["grade"][idx]
        sch = school[idx]
        out = []
        post3 = ctx.post(year, 3)
        for j, subj in enumerate(SUBJECTS):
            m = np.isin(grade, [5, 8, 10]) if subj == "SCI" else np.ones(len(idx), bool)
            ii, g_, s_ = idx[m], grade[m], sch[m]
            nm = len(ii)
            u = st[("u_ela", "u_math", "u_sci")[j]][ii]
            z = (st["a"][ii] + P.SUBJECT_SD * u + ctx.eff_ach[s_] + P.MCAS_YEAR_SHOCK[subj].get(year, -0.3)
                 + P.EL_TEST_PENALTY * st["el"][ii] + P.FORMER_EL_TEST_PENALTY * st["former"][ii]
                 + P.GRADE10_OFFSET * (g_ == 10) + P.TEST_NOISE_SD * rng.normal(0, 1, nm))
            if subj == "ELA":
                z = z + P.ABILITY_COEF["female_ela"] * (st["gender"][ii] == 0)
            gc = P.GROWTH_COEF
            g = (rng.normal(0, 1, nm) + gc["low_income"] * st["li"][ii] + gc["swd"] * st["swd"][ii]
                 + gc["el"] * st["el"][ii])
            shift = np.zeros(nm)
            g_t = g.copy()
            z_u, z_t = z.copy(), z.copy()
            if subj != "SCI":
                g = g + ctx.eff_growth[s_]
                improver = P.GROWTH_SHIFT * (post3 & ctx.role["growth_improver"])[s_]
                g_t = g + improver
                shift += P.PROFICIENCY_SHIFT_Z * (post3 & ctx.role["proficiency_improver"])[s_]
                gap = np.maximum(ctx.gap_delta_li[s_] * st["li"][ii],
                                 ctx.gap_delta_latino[s_] * (st["race"][ii] == P.LATINO))
                shift += gap * (post3 & ctx.role["gap_closer"])[s_]
                z_u, z_t = z + st[f"gain_u_{subj}"][ii], z + st[f"gain_t_{subj}"][ii]
                # the school's part of this year's growth stays in the student's later scores
                st[f"gain_u_{subj}"][ii] += (P.GROWTH_WEIGHT * ctx.eff_growth[s_]).astype(np.float32)
                st[f"gain_t_{subj}"][ii] += (P.GROWTH_WEIGHT * (ctx.eff_growth[s_] + improver)).astype(np.float32)
            z_u = z_u + P.GROWTH_WEIGHT * g
            z_t = z_t + P.GROWTH_WEIGHT * g_t + shift
            legacy = (year <= 2018) & (g_ == 10)
            score_t, level_t = _score(z_t, legacy)
            score_u, level_u = _score(z_u, legacy)
            need = np.where((g_ == 10) | (year == 2021), 2, 1)
            has_sgp = (subj != "SCI") & (g_ >= 4) & (st["yrs"][ii] >= need)
            sgp_t = np.where(has_sgp, _sgp(g_t), -1)
            sgp_u = np.where(has_sgp, _sgp(g), -1)
            if self.dese is not None:
                self._dese_mcas(year, j, g_, s_, G[ii], score_t, level_t, sgp_t, legacy)
            if self.effects is not None and subj != "SCI":
                me_t = level_t <= 1 if not legacy.any() else np.where(legacy, level_t <= 5, level_t <= 1)
                me_u = level_u <= 1 if not legacy.any() else np.where(legacy, level_u <= 5, level_u <= 1)
                self.effects.add_mcas(year, j, s_, me_t, me_u, st["li"][ii], st["race"][ii] == P.LATINO,
                                      sgp_t, sgp_u)
            out.append({
                "school_year": np.full(nm, year, np.int16), "sid": sid[ii], "org": ctx.org[s_],
                "grade": g_.astype(np.int8), "subject": np.full(nm, j, np.int8),
                "family": legacy.astype(np.int8), "score": score_t.astype(np.int16),
                "level": level_t.astype(np.int8), "sgp": sgp_t.astype(np.int16),
            })
        cols = _cat(out)
        return _take(cols, np.lexsort((cols["subject"], cols["sid"], cols["org"])))

    def _dese_mcas(self, year, j, grade, school, G, score, level, sgp, legacy):
        has = sgp > 0
        ng = ~legacy

        def hist(m):  # DESE published the median SGP through 2017: keep a 1-99 histogram for those years
            return [sgp[m][:, None] == np.arange(1, 100)[None, :]] if year <= 2017 else []

        cpi = np.select([score >= 240, score >= 230, score >= 220, score >= 210], [100, 75, 50, 25], 0)
        # per family and grade selection: n, the four achievement levels (codes from ``first``), scaled score (legacy:
        # CPI points), n with an SGP and their sum
        for key, sel, m, first, points in (("nextgen_mcas", "03-08", (grade != 10) & ng, 0, score),
                                           ("nextgen_mcas", "10", (grade == 10) & ng, 0, score),
                                           ("legacy_mcas", "10", legacy, 4, cpi)):
            if m.any():
                stats = np.column_stack([np.ones(m.sum()), *(level[m] == first + k for k in range(4)), points[m],
                                         has[m], np.where(has[m], sgp[m], 0), *hist(m)])
                self.dese.add(key, year, f"{sel}|{j}", school[m], G[m], stats)

    def _courses(self, year, st, sid, idx, school, G):
        rng, ctx = self.rng, self.ctx
        grade = st["grade"][idx].astype(np.int64)
        a = st["a"][idx].astype(float) + 0.25
        nh = len(idx)
        p_ap = np.array([P.AP_TAKE_P.get(int(g), 0.0) for g in range(13)])[grade] * 2 * ndtr(0.9 * a)
        take_ap = rng.random(nh) < np.clip(p_ap, 0, 0.95)
        k_ap = np.where(take_ap, 1 + np.minimum(rng.poisson(0.7, nh), 4), 0)
        p_dual = np.array([P.DUAL_TAKE_P.get(int(g), 0.0) for g in range(13)])[grade] * np.clip(1 + 0.3 * a, 0.3, 2)
        take_dual = rng.random(nh) < p_dual
        k_dual = np.where(take_dual, 1 + (rng.random(nh) < 0.3), 0)
        k_other = (rng.random(nh) < 0.06).astype(np.int64)
        rows = []
        bounds = np.cumsum([0, len(P.AP_COURSES), len(P.DUAL_COURSES), len(P.OTHER_COURSES)])  # COURSES by kind
        for kind, k in ((AP_T, k_ap), (DUAL_T, k_dual), (OTHER_T, k_other)):
            lo, hi = int(bounds[kind]), int(bounds[kind + 1])
            who = np.flatnonzero(k > 0)
            if len(who) == 0:
                continue
            keys = rng.random((len(who), hi - lo)).argsort(axis=1)
            kk = k[who]
            rep = np.repeat(who, kk)
            pos = np.arange(len(rep)) - np.repeat(np.cumsum(kk) - kk, kk)
            course = lo + keys[np.repeat(np.arange(len(who)), kk), pos]
            rows.append((rep, course, np.full(len(rep), kind)))
        rep, course, kind = (np.concatenate([r[i] for r in rows]) if rows else np.zeros(0, np.int64) for i in range(3))
        nr = len(rep)
        exam = (kind == AP_T) & (rng.random(nr) < 0.9)
        raw = _round_half_up(2.9 + 1.0 * a[rep] + rng.normal(0, 0.9, nr))
        ap_score = np.where(exam, np.clip(raw, 1, 5), -1).astype(np.int8)
        st["has_dual"][idx[np.flatnonzero(take_dual)]] = True
        stu = idx[rep]
        sch = school[stu]
        if self.dese is not None and exam.any():
            sc = ap_score[exam]
            stats = np.column_stack([np.ones(len(sc))] + [sc == v for v in range(1, 6)])
            self.dese.add("ap", year, "", sch[exam], G[stu[exam]], stats)
        cols = {
            "school_year": np.full(nr, year, np.int16), "sid": sid[stu], "org": ctx.org[sch],
            "course": course.astype(np.int16), "kind": kind.astype(np.int8), "ap": ap_score,
        }
        return _take(cols, np.lexsort((cols["course"], cols["sid"], cols["org"])))

    def _graduates(self, year, st, sid, idx, school, G):
        rng, ctx = self.rng, self.ctx
        a = st["a"][idx].astype(float) + 0.25
        n = len(idx)
        grad = rng.random(n) < np.clip(P.GRADUATION_RATE + 0.04 * a, 0.5, 0.995)
        idx = idx[grad]
        a = a[grad]
        n = len(idx)
        sch = school[idx]
        masscore = rng.random(n) < np.clip(ctx.masscore_p[sch] + 0.06 * a, 0.05, 0.99)
        p_post = ndtr(0.53 + 0.55 * a - 0.15 * st["li"][idx])
        post = (rng.random(n) < p_post).astype(np.int8)
        post = np.where(rng.random(n) < P.POSTSECONDARY_UNKNOWN, -1, post).astype(np.int8)
        dual = st["has_dual"][idx]
        if self.dese is not None:
            self.dese.add("masscore", year, "", sch, G[idx], np.column_stack([np.ones(n), masscore]))
            self.dese.add("college", year, "", sch, G[idx], np.column_stack([np.ones(n), post == 1]))
        cols = {
            "school_year": np.full(n, year, np.int16), "sid": sid[idx], "org": ctx.org[sch],
            "masscore": masscore.astype(np.int8), "dual": dual.astype(np.int8), "post": post,
        }
        return _take(cols, np.lexsort((cols["sid"], cols["org"])))

    def _surveys(self, year, st, sid, in_fall, in_spring, spring_school):
        rng, ctx = self.rng, self.ctx
        n = len(st["grade"])
        elig = st["grade"] >= 3
        fall = elig & in_fall
        spring = elig & in_spring
        y_noise = rng.normal(0, 0.2, n)
        nd = len(P.STUDENT_DOMAINS)
        off = np.array([0.05, -0.05, 0.1, -0.1, 0.0, 0.05, -0.05])
        is_perc = np.arange(nd) < len(P.PERCEPTION_DOMAINS)
        fall_school = st["school"]
        base = np.where(is_perc[None, :], st["t_perc"][:, None], st["t_comp"][:, None]) + off[None, :] \
            + y_noise[:, None] + 0.5 * ctx.survey_shift[fall_school][:, None]
        e1 = rng.normal(0, P.SURVEY_ITEM_SD, (n, nd))
        e2 = rng.normal(0, P.SURVEY_ITEM_SD, (n, nd))
        c = rng.normal(0, P.SURVEY_CHANGE_SD, (n, 2))
        imp = (ctx.post(year) & ctx.role["survey_improver"])[spring_school]
        m_u = P.SURVEY_BASE_CHANGE
        m_t = np.where(imp, P.SURVEY_IMPROVER_CHANGE, P.SURVEY_BASE_CHANGE)
        grp = np.where(is_perc, 0, 1)
        fall_s = _score10(base + e1)
        spring_u = _score10(base + m_u + c[:, grp] + e2)
        spring_t = _score10(base + m_t[:, None] + c[:, grp] + e2)
        if self.effects is not None:
            both = fall & spring
            res = []
            for dm in (is_perc, ~is_perc):
                f = fall_s[both][:, dm].sum(axis=1)
                res.append((spring_t[both][:, dm].sum(axis=1) > f, spring_u[both][:, dm].sum(axis=1) > f))
            self.effects.add_surveys(year, spring_school[both], res)
        parts = []
        for season, who, sch, scores in ((0, fall, fall_school, fall_s), (1, spring, spring_school, spring_t)):
            w = np.flatnonzero(who)
            k = len(w)
            parts.append({
                "school_year": np.full(k * nd, year, np.int16), "sid": np.repeat(sid[w], nd),
                "org": np.repeat(ctx.org[sch[w]], nd), "season": np.full(k * nd, season, np.int8),
                "domain": np.tile(np.arange(nd, dtype=np.int8), k), "score": scores[w].reshape(-1),
            })
        cols = _cat(parts)
        return _take(cols, np.lexsort((cols["season"], cols["sid"], cols["org"])))

    def _teacher_surveys(self, year, spring_schools):
        rng, ctx = self.rng, self.ctx
        counts = np.bincount(np.searchsorted(self.schools, spring_schools), minlength=len(self.schools))
        parts = []
        imp_post = ctx.post(year) & ctx.role["survey_improver"]
        for k, s in enumerate(self.schools):
            nt = max(2, int(round(counts[k] / P.STUDENTS_PER_TEACHER)))
            trait = self.teacher_trait[int(s)]
            if nt > len(trait):
                trait = self.teacher_trait[int(s)] = np.concatenate([trait, rng.normal(3.55, 0.45, nt)])
            base = trait[:nt, None] + np.array([0.0, -0.1, 0.05])[None, :] + rng.normal(0, 0.2, (nt, 1))
            c = rng.normal(0, P.SURVEY_CHANGE_SD, (nt, 1))
            e1 = rng.normal(0, P.SURVEY_ITEM_SD, (nt, 3))
            e2 = rng.normal(0, P.SURVEY_ITEM_SD, (nt, 3))
            fall = _score10(base + e1)
            spring_u = _score10(base + P.SURVEY_BASE_CHANGE + c + e2)
            spring_t = _score10(base + (P.SURVEY_IMPROVER_CHANGE if imp_post[s] else P.SURVEY_BASE_CHANGE) + c + e2)
            if self.effects is not None:
                f = fall.sum(axis=1)
                self.effects.add_teachers(year, int(s), spring_t.sum(axis=1) > f, spring_u.sum(axis=1) > f)
            tid = ctx.org[s] * 1000 + np.arange(1, nt + 1)
            for season, sc in ((0, fall), (1, spring_t)):
                parts.append({
                    "school_year": np.full(nt * 3, year, np.int16), "tid": np.repeat(tid, 3),
                    "org": np.full(nt * 3, ctx.org[s]), "season": np.full(nt * 3, season, np.int8),
                    "domain": np.tile(np.arange(3, dtype=np.int8), nt), "score": sc.reshape(-1),
                })
        cols = _cat(parts)
        return _take(cols, np.lexsort((cols["season"], cols["tid"])))

    def _capstone(self, year, st, sid, in_spring, spring_school):
        rng, ctx = self.rng, self.ctx
        lv = ctx.level[spring_school]
        g = st["grade"]
        who = in_spring & (((lv == 0) & (g == 5)) | ((lv == 1) & (g == 8)) | ((lv == 2) & (g == 12)))
        who &= rng.random(len(g)) < 0.95
        w = np.flatnonzero(who)
        x = 0.7 * (st["a"][w] + 0.25) + 0.5 * rng.normal(0, 1, k := len(w))
        score = np.clip(_round_half_up(10 * (2.55 + 0.42 * x)), 10, 40).astype(np.int16)
        cols = {"school_year": np.full(k, year, np.int16), "sid": sid[w], "org": ctx.org[spring_school[w]], "score": score}
        return _take(cols, np.lexsort((cols["sid"], cols["org"])))


def _score10(x: np.ndarray) -> np.ndarray:
    """Survey scale score in tenths (10..50)."""
    return np.clip(_round_half_up(x * 10), 10, 50).astype(np.int16)


def _score(z: np.ndarray, legacy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scaled score and achievement level code (0 E, 1 M, 2 PM, 3 NM; 4 A, 5 P, 6 NI, 7 W)."""
    ng = np.clip(_round_half_up(500 + P.NEXTGEN_SCALE * (z - P.ZCUT)), 440, 560)
    ng_level = np.select([ng >= 530, ng >= 500, ng >= 470], [0, 1, 2], 3)
    lg = np.clip(2 * _round_half_up((P.LEGACY_MEAN + P.LEGACY_SCALE * (z - P.ZCUT)) / 2), 200, 280)
    lg_level = np.select([lg >= 260, lg >= 240, lg >= 220], [4, 5, 6], 7)
    return np.where(legacy, lg, ng), np.where(legacy, lg_level, ng_level)


def _sgp(g: np.ndarray) -> np.ndarray:
    return np.clip(1 + np.floor(ndtr(g) * 99), 1, 99).astype(np.int64)
