"""The synthetic network: districts, schools (roster), implementation years and the roles that carry known effects.

Everything here is small (one record per school) and derived from ``numpy.random.default_rng`` streams keyed on
``(seed, purpose)`` so that it never depends on the order in which districts are later simulated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from . import params as P
from .demographics import draw_demographics, expected_latent

LEVEL_GRADES = {"elementary": tuple(range(0, 6)), "middle": (6, 7, 8), "high": (9, 10, 11, 12)}
# a district of n schools: its elementary and middle schools, then one high school
TEMPLATES = {n: ["elementary"] * e + ["middle"] * m + ["high"] for n, e, m in ((3, 1, 1), (4, 2, 1), (5, 3, 1),
                                                                               (6, 4, 1), (7, 4, 2))}
SIZE_CYCLE = [4, 5, 4, 7, 5, 6, 4, 5]
ESCAPE_TEST_NAME = "O'Neil & Sons <Academy>"

_TOWN_A = ["North", "South", "East", "West", "Ash", "Brook", "Cedar", "Clay", "Fair", "Green", "Hill", "Lake",
           "Maple", "Mill", "Oak", "Pine", "River", "Rock", "Spring", "Stone", "Wood", "Elm", "Birch", "Glen",
           "Harbor", "Marsh", "Salt", "Sand", "Willow", "Bay", "Chester", "Hamp", "Marl", "Fox", "Wren", "Dun"]
_TOWN_B = ["field", "ford", "ton", "bury", "ham", "wood", "dale", "port", "ville", "borough", "mouth", "well",
           "brook", "stead", "land", "ley"]
_SURNAMES = ["Walsh", "Adams", "Bradford", "Carver", "Dever", "Emerson", "Foley", "Garfield", "Hale", "Irving",
             "Kennedy", "Lowell", "Mather", "Nolan", "Otis", "Parker", "Quincy", "Revere", "Sumner", "Thayer",
             "Upham", "Vinal", "Winthrop", "Alcott", "Brooks", "Curley", "Dunbar", "Eliot", "Fuller", "Gates",
             "Hurley", "Jackson", "Kelley", "Lincoln", "Murphy", "Newton", "Obama", "Peabody", "Russell", "Stone",
             "Tobin", "Warren", "Young", "Baez", "Chavez", "Douglass", "Pena", "Santos", "Tubman", "Nguyen"]


@dataclass
class School:
    idx: int
    org_code: str
    name: str
    district_idx: int
    level: str
    is_network: bool = False
    start_year: int | None = None
    roles: list[str] = field(default_factory=list)
    pi: float = P.POVERTY_MEAN
    cohort_weight: float = 1.0  # students per grade, as a share of the district cohort (within its level)
    feeder_to: int | None = None  # global index of the next-level school
    eff_ach: float = 0.0
    eff_growth: float = 0.0  # growth value-added, in sd of the yearly growth draw (see params.GROWTH_SCHOOL_SD)
    abs_mult: float = 1.0
    dis_mult: float = 1.0
    survey_shift: float = 0.0
    masscore_p: float = P.MASSCORE_P
    gap_delta_li: float = 0.0  # gap_closer: latent shift for low income students
    gap_delta_latino: float = 0.0  # gap_closer: latent shift for Latino students
    dese_only: bool = False  # a school of the rest of the state: in DESE's exports only (peers), not in the roster

    @property
    def grades(self) -> tuple[int, ...]:
        return LEVEL_GRADES[self.level]


@dataclass
class District:
    idx: int
    code4: int
    name: str
    schools: list[int]
    cohort: float  # expected students per grade

    @property
    def code(self) -> str:
        return f"{self.code4:04d}0000"


@dataclass
class Network:
    seed: int
    first_year: int
    last_year: int
    districts: list[District]
    schools: list[School]

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))

    def dese_name(self, s: School) -> str:
        return f"{self.districts[s.district_idx].name} - {s.name}"


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """Independent stream for ``(seed, *key)``: the same key always gives the same draws."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *[int(k) for k in key]]))


def default_n_schools(n_students: int) -> int:
    return max(12, int(round(n_students / 650)))


def _district_sizes(n_schools: int) -> list[int]:
    if n_schools < 3:
        raise InputError("the synthetic network needs at least one elementary, one middle and one high school "
                         "network school", column="--schools", value=n_schools,
                         fix="use --schools 6 or more (about half are network schools)")
    sizes: list[int] = []
    r = n_schools
    while r >= 11:
        sizes.append(SIZE_CYCLE[len(sizes) % len(SIZE_CYCLE)])
        r -= sizes[-1]
    if r <= 7:
        sizes.append(r)
    else:
        sizes += [4, r - 4]
    return sizes


def _district_names(n: int) -> list[str]:
    names = [a + b for b in _TOWN_B for a in _TOWN_A]
    out = []
    for i in range(n):
        base, rnd = names[i % len(names)], i // len(names)
        out.append(base if rnd == 0 else f"{base} {['Regional', 'Valley', 'Hills', 'Center', 'Upper'][(rnd - 1) % 5]}"
                   + ("" if rnd <= 5 else f" {rnd}"))
    return out


def build_network(seed: int, n_students: int, n_schools: int, first_year: int, last_year: int) -> Network:
    rng = rng_for(seed, 1)
    sizes = _district_sizes(n_schools)
    n_d = len(sizes)
    names_pool = _district_names(n_d * 3)
    order = rng.permutation(len(names_pool))[:n_d]
    dnames = [names_pool[i] for i in sorted(order)]
    # district poverty: stratified Beta quantiles, randomly permuted, later re-centred on the enrolment-weighted mean
    from scipy.stats import beta as beta_dist

    q = (np.arange(n_d) + 0.5) / n_d
    pis_d = beta_dist.ppf(q, *P.POVERTY_BETA)[rng.permutation(n_d)]
    size_w = np.array(sizes, float) * rng.lognormal(0.0, 0.2, n_d)
    total_grade_slots = 13.0
    cohorts = n_students * size_w / size_w.sum() / total_grade_slots

    districts: list[District] = []
    schools: list[School] = []
    for d in range(n_d):
        code4 = 10 + 3 * d + int(rng.integers(0, 3))
        district = District(idx=d, code4=code4, name=dnames[d], schools=[], cohort=float(cohorts[d]))
        counters = {"elementary": 0, "middle": 0, "high": 0}
        surnames = list(rng.permutation(_SURNAMES))
        for level in TEMPLATES[sizes[d]]:
            k = counters[level]
            counters[level] += 1
            base = {"elementary": 5, "middle": 305, "high": 505}[level]
            org = f"{code4:04d}{base + 5 * k:04d}"
            sname = surnames.pop()
            if level == "elementary":
                name = f"{sname} Elementary School" if k % 2 == 0 else f"{sname} Elementary"
            elif level == "middle":
                name = f"{sname} Middle School"
            else:
                name = f"{dnames[d]} High School" if k == 0 else f"{sname} High School"
            s = School(idx=len(schools), org_code=org, name=name, district_idx=d, level=level)
            schools.append(s)
            district.schools.append(s.idx)
        districts.append(district)
    # one school name that needs HTML escaping
    elem0 = [schools[i] for i in districts[0].schools if schools[i].level == "elementary"]
    elem0[-1].name = ESCAPE_TEST_NAME

    # school parameters, feeders and cohort weights
    for district in districts:
        by_level = {lv: [schools[i] for i in district.schools if schools[i].level == lv] for lv in LEVEL_GRADES}
        for group in by_level.values():
            w = rng.uniform(0.75, 1.25, len(group))
            for s, wi in zip(group, w / w.sum(), strict=True):
                s.cohort_weight = float(wi)
        for k, e in enumerate(by_level["elementary"]):
            e.pi = float(np.clip(pis_d[district.idx] + rng.normal(0, 0.08), 0.05, 0.93))
            e.feeder_to = by_level["middle"][k % len(by_level["middle"])].idx
        for k, m in enumerate(by_level["middle"]):
            m.feeder_to = by_level["high"][k % len(by_level["high"])].idx
    _recentre_poverty(districts, schools)
    for s in schools:
        s.eff_ach = float(rng.normal(0, 0.1))
        s.abs_mult = float(rng.lognormal(0, 0.12) * (1 + 0.5 * (s.pi - P.POVERTY_MEAN)))
        s.dis_mult = float(rng.lognormal(0, 0.25) * (1 + 0.8 * (s.pi - P.POVERTY_MEAN)))
        s.survey_shift = float(rng.normal(0, 0.12))
        s.masscore_p = float(np.clip(rng.normal(P.MASSCORE_P, 0.08), 0.45, 0.98))

    net = Network(seed=seed, first_year=first_year, last_year=last_year, districts=districts, schools=schools)
    _assign_network(net, rng_for(seed, 2))
    _assign_roles(net, rng_for(seed, 3))
    _gap_deltas(net, rng_for(seed, 4))
    growth = rng_for(seed, 5)  # its own stream: every other draw stays as it was
    for s in schools:
        s.eff_growth = float(growth.normal(0, P.GROWTH_SCHOOL_SD))
    return net


def add_state_schools(net: Network, n_schools: int, cohort: float) -> None:
    """The rest of the state: districts of 2 elementary, 1 middle and 1 high school (about ``n_schools``) that are in
    DESE's exports only (the pool similar schools are drawn from), never in the roster or the student files. Their
    own random stream (seed, 6): the network's schools and students are as without them."""
    rng = rng_for(net.seed, 6)
    used = {d.code4 for d in net.districts}
    for k in range(max(0, round(n_schools / 4))):
        code4 = 900 + k
        while code4 in used:
            code4 += 1
        used.add(code4)
        name = f"{_TOWN_A[k % len(_TOWN_A)]}{_TOWN_B[(k // len(_TOWN_A) + 5) % len(_TOWN_B)]} Regional"
        pi = float(np.clip(rng.beta(*P.POVERTY_BETA), 0.05, 0.93))
        district = District(idx=len(net.districts), code4=code4, name=name, schools=[],
                            cohort=float(cohort * rng.lognormal(0.0, 0.3)))
        for j, level in enumerate(TEMPLATES[4]):
            base = {"elementary": 5 + 5 * j, "middle": 305, "high": 505}[level]
            s = School(idx=len(net.schools), org_code=f"{code4:04d}{base:04d}", district_idx=district.idx,
                       name=f"{_SURNAMES[(3 * k + j) % len(_SURNAMES)]} {level.title()} School", level=level,
                       dese_only=True, cohort_weight=0.5 if level == "elementary" else 1.0,
                       pi=float(np.clip(pi + (rng.normal(0, 0.08) if level == "elementary" else 0.0), 0.05, 0.93)),
                       eff_ach=float(rng.normal(0, 0.1)), eff_growth=float(rng.normal(0, P.GROWTH_SCHOOL_SD)),
                       survey_shift=float(rng.normal(0, 0.12)),
                       masscore_p=float(np.clip(rng.normal(P.MASSCORE_P, 0.08), 0.45, 0.98)))
            s.abs_mult = float(rng.lognormal(0, 0.12) * (1 + 0.5 * (s.pi - P.POVERTY_MEAN)))
            s.dis_mult = float(rng.lognormal(0, 0.25) * (1 + 0.8 * (s.pi - P.POVERTY_MEAN)))
            net.schools.append(s)
            district.schools.append(s.idx)
        for i in district.schools[:2]:  # the two elementary schools feed the middle school
            net.schools[i].feeder_to = district.schools[2]
        net.schools[district.schools[2]].feeder_to = district.schools[3]
        net.districts.append(district)


def _propagate_pi(districts: list[District], schools: list[School]) -> None:
    for district in districts:
        for lv in ("middle", "high"):
            feeders = [schools[i] for i in district.schools if schools[i].feeder_to is not None
                       and schools[schools[i].feeder_to].level == lv]
            for s in (schools[i] for i in district.schools if schools[i].level == lv):
                mine = [f for f in feeders if f.feeder_to == s.idx]
                w = np.array([f.cohort_weight for f in mine])
                s.pi = float(np.dot(w, [f.pi for f in mine]) / w.sum())


def _recentre_poverty(districts: list[District], schools: list[School]) -> None:
    """Shift elementary poverty so the enrolment-weighted network mean is POVERTY_MEAN (feeders carry it upward)."""
    for _ in range(4):
        _propagate_pi(districts, schools)
        num = den = 0.0
        for district in districts:
            for i in district.schools:
                s = schools[i]
                n = district.cohort * s.cohort_weight * len(s.grades)
                num += n * s.pi
                den += n
        shift = P.POVERTY_MEAN - num / den
        for s in schools:
            if s.level == "elementary":
                s.pi = float(np.clip(s.pi + shift, 0.05, 0.93))
    _propagate_pi(districts, schools)


def _assign_network(net: Network, rng: np.random.Generator) -> None:
    """About half of each level are network schools; implementation starts are staggered."""
    network: list[School] = []
    flip = int(rng.integers(0, 2))
    for lv in ("elementary", "middle", "high"):
        group = [s for s in net.schools if s.level == lv]
        perm = rng.permutation(len(group))
        n_net = (len(group) + flip) // 2
        flip = 1 - flip if len(group) % 2 else flip
        for j in perm[:n_net]:
            group[j].is_network = True
            network.append(group[j])
    lo = net.first_year + 1 if net.last_year > net.first_year else net.first_year
    starts = [min(max(y, lo), net.last_year) for y in P.START_YEARS]
    order = rng.permutation(len(network))
    for k, j in enumerate(order):
        network[j].start_year = starts[k % len(starts)]


def _assign_roles(net: Network, rng: np.random.Generator) -> None:
    """Deterministic given the seed: >= 2 static schools, every other role held by at least one network school."""
    network = sorted((s for s in net.schools if s.is_network), key=lambda s: s.idx)
    network = [network[i] for i in rng.permutation(len(network))]
    n_static = max(2, int(round(0.2 * len(network))))
    if len(network) < 3:
        raise InputError(f"{len(net.schools)} schools give {len(network)} network schools; the synthetic network needs "
                         "at least 3 (2 static and 1 with built-in effects)", column="--schools",
                         value=len(net.schools), fix="use --schools 6 or more (about half are network schools)")
    n_static = min(n_static, len(network) - 1)
    static, active = network[:n_static], network[n_static:]
    for s in static:
        s.roles = ["static"]
    last = net.last_year

    def ok(role: str, s: School) -> bool:
        assert s.start_year is not None
        if role == "absence_improver":
            return s.start_year + 1 <= last
        if role == "suspension_improver":
            return s.level in ("middle", "high") and P.DISCIPLINE_YEAR_SHOCK.get(s.start_year - 1, 1.0) >= 0.7
        if role in ("proficiency_improver", "growth_improver"):
            return s.start_year + 2 <= last
        if role == "gap_closer":
            return s.start_year + 2 <= last and "proficiency_improver" not in s.roles
        return True

    def prefer(role: str, s: School) -> float:
        many_testers = float(s.level != "high")  # grades 03-08 give more MCAS (and SGP) students than grade 10
        if role == "gap_closer":
            return many_testers + s.pi  # a poor school, where the gap to the state is wide
        if role in ("proficiency_improver", "growth_improver"):
            return many_testers
        return 0.0

    order = ["gap_closer", "absence_improver", "proficiency_improver", "suspension_improver", "growth_improver",
             "survey_improver"]
    k = 0
    for role in order:
        cands = [active[(k + j) % len(active)] for j in range(len(active))]
        fits = [s for s in cands if ok(role, s)]
        if not fits:  # relax: any school that does not yet hold many roles
            fits = [s for s in cands if not (role == "gap_closer" and "proficiency_improver" in s.roles)] or cands
        # spread roles (stable sort keeps the rotation order among ties), then the role's preferred schools
        fits.sort(key=lambda s: (len(s.roles), -prefer(role, s)))
        fits[0].roles.append(role)
        k = (cands.index(fits[0]) + k + 1) % len(active)
    # bigger networks: extra roles at random
    if len(active) > 6:
        for s in active:
            for role in order:
                if role not in s.roles and rng.random() < 0.22 and ok(role, s):
                    s.roles.append(role)
    for s in active:
        s.roles.sort(key=P.ROLES.index)


def _gap_deltas(net: Network, rng: np.random.Generator) -> None:
    """Latent shift for low income / Latino students of gap_closer schools: half their expected gap to the state.

    Expectations come from a pilot draw of each school's demographic profile (the same model the students use).
    """
    means, weights = [], []
    pilot: dict[int, tuple[float, float]] = {}
    for s in net.schools:
        n_pilot = 3000 if "gap_closer" in s.roles else 400
        demo = draw_demographics(rng, n_pilot, s.pi, grade=np.full(n_pilot, s.grades[len(s.grades) // 2]))
        z = expected_latent(demo) + s.eff_ach
        li, lat = demo["li"], demo["race"] == P.LATINO
        pilot[s.idx] = (float(z[li].mean()) if li.any() else float(z.mean()),
                        float(z[lat].mean()) if lat.any() else float(z.mean()))
        means.append(float(z.mean()))
        weights.append(net.districts[s.district_idx].cohort * s.cohort_weight * len(s.grades))
    state = float(np.average(means, weights=weights))
    for s in net.schools:
        if "gap_closer" in s.roles:
            s.gap_delta_li = max(0.0, P.GAP_CLOSE_FRACTION * (state - pilot[s.idx][0]))
            s.gap_delta_latino = max(0.0, P.GAP_CLOSE_FRACTION * (state - pilot[s.idx][1]))
