"""``equity-outcomes publish``: publish the scorecards under the disclosure control, or attack a publication.

    equity-outcomes publish [--out DIR] [--school ORG_CODE ...] [--pdf]   # build, audit in staging, swap in
    equity-outcomes publish --audit [DIR]                         # attack DIR's files (default: dashboards/)
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EquityOutcomesError


def publish_command(a) -> int:
    """Publish (or with ``a.audit``, only attack) the scorecards; arguments: config/cli.yaml, group publish."""
    from ..paths import project_root
    from ..workspace import default_warehouse

    default_out = project_root() / "dashboards"
    if a.audit is not None:
        return audit_command(Path(a.audit) if a.audit != "" else default_out, getattr(a, "disclosure", None))
    from .scorecards import publish_scorecards

    r = publish_scorecards(getattr(a, "warehouse", None) or default_warehouse(), a.out or default_out, progress=print,
                           schools=a.schools, rules_file=getattr(a, "disclosure", None), pdf=a.pdf)
    print(f"{r['n_pages']:,} pages, {r['bytes'] / 1e6:.1f} MB in {r['seconds']:.1f} s -> {r['index']}")
    if r["pdf"]:
        print(f"{r['pdf']['files']:,} PDF report cards ({sum(r['pdf']['pages'].values()):,} pages) -> "
              f"{Path(r['index']).parent / 'reports'}")
    return 0


def audit_command(root: Path, rules_file: Path | None = None) -> int:
    """Attack the publication in ``root`` under the rules of ``rules_file`` (else config/disclosure.yaml)."""
    from .disclosure import load_rules
    from .disclosure.audit import audit_publication

    if not (Path(root) / "exports").is_dir():
        raise EquityOutcomesError(f"{root} is not a published scorecard folder (no exports/ in it): pass the folder "
                                  "that `equity-outcomes publish` or `run` wrote, e.g. dashboards/")
    report = audit_publication(root, rules=load_rules(rules_file))
    print(report.text())
    return 0 if report.ok else 1
