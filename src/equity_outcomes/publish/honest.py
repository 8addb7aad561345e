"""Honest labels: every aggregate beside a school names what it is over and how many; a comparison with too few
schools is not shown as one; a relative change from a tiny baseline is shown in points; a missing number says why.
The thresholds live in ``config/scorecards.yaml`` (``honest_labels``); the numbers passed the disclosure control
before they get here (this module only words them)."""

from __future__ import annotations

from . import labels
from .data import Site, num, text

WITHHELD = "withheld to protect a small group"


def settings() -> dict:
    return labels.SCORECARDS["honest_labels"]


def _pct(v) -> str:
    return f"{v:+.1f}%"


def _schools(n: int) -> str:
    return f"{n:,} school{'s' if n != 1 else ''}"


def state_context(r: dict) -> str:
    """The state's change beside a school's: DESE's state figure, or a median that names its count."""
    rel, src = num(r.get("state_change_rel_pct")), text(r.get("state_change_source"))
    if rel is None or not src:
        return "no state comparison"
    if src != "median_of_schools":
        return f"State {_pct(rel)} (DESE state figure, all MA students)"
    n, least = num(r.get("n_state_schools")), int(settings()["min_schools_for_median"])
    if n is None:
        return "no state comparison (the number of schools behind the median was not recorded)"
    if n < least:
        return f"no state comparison: median of only {_schools(int(n))} (at least {least} needed)"
    return f"State {_pct(rel)} (median of {_schools(int(n))} in MA)"


def peer_context(r: dict) -> str:
    """Similar schools' change: a median of at least ``min_peers`` schools, else no peer comparison."""
    n, least = int(num(r.get("n_peers")) or 0), int(settings()["min_peers"])
    rel = num(r.get("peer_change_rel_pct"))
    if n == 0 or rel is None:
        return "no peer comparison"
    if n < least:
        return f"no peer comparison ({_schools(n)} similar; at least {least} needed)"
    return f"Similar schools {_pct(rel)} (median of {_schools(n)}){_peer_spread(r)}"


def _peer_spread(r: dict) -> str:
    """The peers' range of what the rule compares and the school's percentile among them (#20), when present."""
    low, high, pct = num(r.get("peer_low")), num(r.get("peer_high")), num(r.get("peer_percentile"))
    what, unit = {"change_rel_pct": ("changes", "%"), "change_abs": ("changes", " pts")}.get(
        text(r.get("peer_measure")), ("values", ""))
    spread = f"; peers' {what} {low:.1f}{unit} to {high:.1f}{unit}" if low is not None and high is not None else ""
    if pct is None:
        return spread
    p = round(pct)
    suffix = "th" if 10 <= p % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(p % 10, "th")
    return f"{spread}; this school: {p}{suffix} percentile"


def small_baseline(site: Site, r: dict) -> bool:
    """A relative-change target whose baseline is under the floor: a relative change would mislead."""
    t = labels.target_info(site.targets, r["target_id"])
    base = num(r.get("baseline_value"))
    return t.rule == "relative_change" and base is not None and abs(base) < float(settings()["relative_change_floor"])


def small_baseline_note() -> str:
    floor = float(settings()["relative_change_floor"])
    return f"baseline under {floor:g}: too small for a relative target; change in points"


def missing_reason(withheld: bool, year) -> str:
    """Why a baseline or current figure is blank."""
    if withheld:
        return WITHHELD
    return "no data for this year" if num(year) is not None else "no year to compare"
