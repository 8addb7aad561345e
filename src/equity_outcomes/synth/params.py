"""Parameters of the synthetic network: demographic targets, year shocks, effect sizes, model coefficients.

Everything the generator draws from is set here so that ``known_effects.json`` can quote it and tests can reason
about it. Units: "z" is the latent achievement scale (1 z ~ 21 Next-Gen scaled-score points).
"""

from __future__ import annotations

GENERATOR_VERSION = 1

# ---- demography (network-wide student-year shares, percent) -----------------------------------------------
DEMOGRAPHIC_TARGETS: dict[str, float] = {
    "low_income": 42.0,
    "black": 10.0,
    "latino": 24.0,
    "el": 12.0,
    "swd": 19.0,
    "asian": 8.0,
    "multi_race": 4.0,
    "native_american": 0.3,
    "pacific_islander": 0.1,
    "white": 53.6,
    "female": 49.0,
    "male": 50.0,
    "nonbinary": 1.0,
}
# race codes (index into schemas.RACES order)
RACES = ["black", "latino", "white", "asian", "multi_race", "native_american", "pacific_islander"]
BLACK, LATINO, WHITE, ASIAN, MULTI, NATIVE, PACIFIC = range(7)
GENDERS = ["F", "M", "N"]
GENDER_P = [0.49, 0.50, 0.01]
# school race shares as linear functions of the school poverty index pi (mean 0.42): share = a + b * (pi - 0.42)
RACE_SHARE_SLOPES = {BLACK: (0.10, 0.20), LATINO: (0.24, 0.45), ASIAN: (0.08, -0.05), MULTI: (0.04, 0.0),
                     NATIVE: (0.003, 0.0), PACIFIC: (0.001, 0.0)}
# relative odds of low income / EL by race inside a school (normalized so the school share is pi / el(pi))
LI_RACE_MULT = [1.55, 1.65, 0.72, 0.85, 1.1, 1.5, 1.5]
EL_RACE_MULT = [1.1, 2.4, 0.25, 1.7, 0.5, 1.0, 1.0]
EL_SLOPE = 0.22  # el(pi) = 0.12 + EL_SLOPE * (pi - 0.42)
EL_GRADE_DECAY = 0.94  # EL share by grade ~ decay**grade (steady state of a 6%/year exit hazard)
EL_EXIT_HAZARD = 0.06
SWD_SLOPE = 0.06
SWD_GENDER_MULT = [0.65, 1.35, 1.0]
POVERTY_MEAN = 0.42
POVERTY_BETA = (2.3, 3.2)  # district poverty index distribution (stratified quantiles, then re-centred)

# ---- mobility -------------------------------------------------------------------------------------------
LEAVE_RATE = 0.08  # yearly share of students leaving the district (includes mid-year leavers)
MIDYEAR_LEAVE_RATE = 0.025  # leave during the year (partial membership, no spring records)
LATE_ENTRY_SHARE = 0.25  # share of new (non-KG) entrants that arrive during the year
TRANSFER_RATE = 0.045  # mid-year transfer to another school of the same level in the district (where one exists)
EXTRA_ENTRY_06_09 = 0.05  # extra entrants at grades 06 and 09 (from private / charter schools)
FULL_YEAR_DAYS = 180
GRADUATION_RATE = 0.95

# ---- attendance --------------------------------------------------------------------------------------------
ABSENCE_BASE_DAYS = 7.4
ABSENCE_PERSISTENT_SHAPE = 2.3  # gamma frailty, persistent per student
ABSENCE_YEAR_SHAPE = 5.0  # gamma frailty, redrawn each year
ABSENCE_YEAR_SHOCK = {2018: 1.0, 2019: 1.0, 2020: 0.95, 2021: 1.2, 2022: 1.75, 2023: 1.6, 2024: 1.4, 2025: 1.3}
ABSENCE_GRADE_MULT = [1.15, 0.95, 0.9, 0.88, 0.88, 0.9, 0.95, 1.0, 1.05, 1.12, 1.2, 1.32, 1.55]  # KG..12
ABSENCE_DEMO_MULT = {"low_income": 1.45, "swd": 1.3, "el": 1.05, "black": 1.05, "latino": 1.08, "asian": 0.7}
# effects (multipliers on the expected number of days absent, applied to the untreated draw by stochastic rounding)
NETWORK_ABSENCE_MULT = 0.80  # every non-static network school from its implementation start year (the DiD effect)
ABSENCE_IMPROVER_MULT = 0.70  # absence_improver schools, on top of the network effect; also shielded from shocks

# ---- discipline --------------------------------------------------------------------------------------------
DISCIPLINE_BASE = 0.045
DISCIPLINE_SHAPE = 0.55
DISCIPLINE_YEAR_SHOCK = {2018: 1.0, 2019: 1.0, 2020: 0.75, 2021: 0.35, 2022: 1.05, 2023: 1.1, 2024: 1.05, 2025: 1.0}
DISCIPLINE_GRADE_MULT = [0.12, 0.15, 0.2, 0.3, 0.35, 0.45, 1.5, 1.7, 1.6, 1.5, 1.3, 1.1, 0.9]
DISCIPLINE_DEMO_MULT = {"black": 2.0, "latino": 1.35, "low_income": 1.8, "swd": 1.8}
DISCIPLINE_GENDER_MULT = [0.5, 1.45, 1.0]
ACTIONS = ["ISS", "OSS", "EXP", "ALT", "EMR", "OTHER"]
ACTION_P = [0.33, 0.36, 0.004, 0.012, 0.02, 0.274]
SUSPENSION_IMPROVER_CONVERT = 0.60  # share of suspended students whose ISS/OSS become OTHER (alternatives)

# ---- MCAS -----------------------------------------------------------------------------------------------------
ABILITY_SD = 0.8
SUBJECT_SD = 0.45
TEST_NOISE_SD = 0.3
GROWTH_WEIGHT = 0.25
ABILITY_COEF = {"low_income": -0.42, "black": -0.25, "latino": -0.22, "swd": -0.8, "asian": 0.35, "female_ela": 0.08}
EL_TEST_PENALTY = -0.55  # current EL status at test time
FORMER_EL_TEST_PENALTY = -0.05
ZCUT = -0.42  # latent value that maps to scaled score 500 (M) in 2018/2019
NEXTGEN_SCALE = 21.0
GRADE10_OFFSET = 0.15
LEGACY_MEAN, LEGACY_SCALE = 252.0, 13.0  # grade 10 2018 legacy: score = LEGACY_MEAN + LEGACY_SCALE * (z - ZCUT)
MCAS_YEAR_SHOCK = {  # z units, by subject
    "ELA": {2018: 0.0, 2019: 0.0, 2021: -0.15, 2022: -0.28, 2023: -0.27, 2024: -0.33, 2025: -0.32},
    "MATH": {2018: 0.0, 2019: 0.0, 2021: -0.42, 2022: -0.25, 2023: -0.2, 2024: -0.2, 2025: -0.18},
    "SCI": {2018: 0.0, 2019: 0.0, 2021: -0.25, 2022: -0.2, 2023: -0.18, 2024: -0.18, 2025: -0.17},
}
GROWTH_COEF = {"low_income": -0.1, "swd": -0.1, "el": -0.05}
# score histories: a school's growth value-added (sd of the growth draw, one draw per school) and the growth_improver
# shift move the growth draw (so supplied SGPs) and, times GROWTH_WEIGHT, accumulate in the student's scores from
# year to year (so SGPs computed from score histories recover them); the rest of the growth draw is transient
GROWTH_SCHOOL_SD = 0.2
PROFICIENCY_SHIFT_Z = 0.72  # proficiency_improver: ELA and MATH latent shift from implementation year 3 (~15 points)
GROWTH_SHIFT = 0.28  # growth_improver: shift of the growth draw (median SGP ~ +10 to +11 points)
GAP_CLOSE_FRACTION = 0.5  # gap_closer: low income / Latino students shifted by this share of their gap to the state

# ---- surveys ---------------------------------------------------------------------------------------------------
PERCEPTION_DOMAINS = ["climate_culture", "engagement", "relationships", "belonging"]
COMPETENCY_DOMAINS = ["academic_mindsets", "perseverance", "agency"]
STUDENT_DOMAINS = PERCEPTION_DOMAINS + COMPETENCY_DOMAINS
TEACHER_DOMAINS = ["empowerment", "leader_support", "pl_practice"]
SURVEY_CHANGE_SD = 0.35
SURVEY_ITEM_SD = 0.3
SURVEY_BASE_CHANGE = -0.085  # about 40% improve
SURVEY_IMPROVER_CHANGE = 0.24  # about 70% improve
STUDENTS_PER_TEACHER = 13

# ---- high school ---------------------------------------------------------------------------------------------
AP_TAKE_P = {9: 0.03, 10: 0.12, 11: 0.36, 12: 0.42}
AP_COURSES = ["AP-ENGLANG", "AP-ENGLIT", "AP-CALCAB", "AP-CALCBC", "AP-STAT", "AP-BIO", "AP-CHEM", "AP-PHYS1",
              "AP-USHIST", "AP-WHIST", "AP-PSYCH", "AP-CSP", "AP-SPAN", "AP-ENVSCI"]
DUAL_COURSES = ["DUAL-ENG101", "DUAL-MAT110", "DUAL-PSY101", "DUAL-BIO101", "DUAL-HIS101", "DUAL-CIS110"]
OTHER_COURSES = ["ADV-CTE-CAPSTONE", "ADV-ENG-HONORS", "ADV-MATH-HONORS"]
DUAL_TAKE_P = {11: 0.09, 12: 0.11}
MASSCORE_P = 0.80
POSTSECONDARY_UNKNOWN = 0.05

# ---- implementation ---------------------------------------------------------------------------------------------
START_YEARS = [2020, 2021, 2022]
ROLES = ["absence_improver", "suspension_improver", "proficiency_improver", "growth_improver", "gap_closer",
         "survey_improver", "static"]
