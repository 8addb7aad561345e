"""Demographics and latent achievement of synthetic students: race, gender, low income, EL / former EL and SWD
drawn from a school's poverty level, and the expected achievement they imply (the network uses it to size the
gap-closing effect before any student is drawn)."""

from __future__ import annotations

import numpy as np

from . import params as P

_K0 = 1.0 / np.mean(P.EL_GRADE_DECAY ** np.arange(13))


def _race_shares(pi: np.ndarray) -> np.ndarray:
    sh = np.zeros((len(pi), 7))
    for r, (a, b) in P.RACE_SHARE_SLOPES.items():
        sh[:, r] = np.clip(a + b * (pi - P.POVERTY_MEAN), 0.001, None)
    sh[:, P.WHITE] = np.clip(1.0 - sh.sum(axis=1), 0.02, None)
    return sh / sh.sum(axis=1, keepdims=True)


def draw_demographics(rng: np.random.Generator, n: int, pi, grade: np.ndarray) -> dict[str, np.ndarray]:
    """Race, gender, low income, EL / former EL and SWD for ``n`` new students of schools with poverty ``pi``."""
    pi = np.broadcast_to(np.asarray(pi, float), (n,))
    sh = _race_shares(pi)
    cum = np.cumsum(sh, axis=1)
    race = (rng.random(n)[:, None] > cum).sum(axis=1).clip(0, 6).astype(np.int8)
    gender = (rng.random(n)[:, None] > np.cumsum(P.GENDER_P)[None, :]).sum(axis=1).clip(0, 2).astype(np.int8)
    m_li = np.asarray(P.LI_RACE_MULT)
    p_li = np.clip(pi * m_li[race] / (sh @ m_li), 0.0, 0.97)
    li = rng.random(n) < p_li
    m_el = np.asarray(P.EL_RACE_MULT)
    el_s = np.clip(0.12 + P.EL_SLOPE * (pi - P.POVERTY_MEAN), 0.01, 0.6)
    p_ever = np.clip(el_s * _K0 * m_el[race] / (sh @ m_el), 0.0, 0.95)
    ever = rng.random(n) < p_ever
    current = ever & (rng.random(n) < P.EL_GRADE_DECAY ** np.asarray(grade, float))
    p_swd = (0.19 + P.SWD_SLOPE * (pi - P.POVERTY_MEAN)) * np.asarray(P.SWD_GENDER_MULT)[gender]
    swd = rng.random(n) < np.clip(p_swd, 0.0, 0.9)
    return {"race": race, "gender": gender, "li": li, "el": current, "former": ever & ~current, "swd": swd}


def ability_mean(demo: dict[str, np.ndarray]) -> np.ndarray:
    c = P.ABILITY_COEF
    race = demo["race"]
    return (c["low_income"] * demo["li"] + c["black"] * (race == P.BLACK) + c["latino"] * (race == P.LATINO)
            + c["swd"] * demo["swd"] + c["asian"] * (race == P.ASIAN))


def expected_latent(demo: dict[str, np.ndarray]) -> np.ndarray:
    """Expected latent achievement (before school, year and noise terms) used for the gap_closer pilot."""
    return ability_mean(demo) + P.EL_TEST_PENALTY * demo["el"] + P.FORMER_EL_TEST_PENALTY * demo["former"]
