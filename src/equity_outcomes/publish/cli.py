"""``equity-outcomes publish``: publish the scorecards under the disclosure control, or attack a publication.

    equity-outcomes publish [--out DIR] [--school ORG_CODE ...]   # build, audit in a staging folder, swap in
    equity-outcomes publish --audit [DIR]                         # attack DIR's files (default: dashboards/)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EquityOutcomesError


def add_publish_cli(p: argparse.ArgumentParser) -> None:
    from ..paths import project_root
    from ..workspace import default_warehouse

    default_out = project_root() / "dashboards"
    p.add_argument("--audit", nargs="?", const="", default=None, type=Path, metavar="DIR",
                   help="only attack the published files in DIR (default: the workspace's dashboards/) and report; "
                        "exit 1 when a "
                        "withheld cell can be recovered or narrowed, or a number breaks the rules")
    p.add_argument("--out", type=Path, default=default_out, help="output folder (default: dashboards/)")
    p.add_argument("--school", action="append", default=None, dest="schools", metavar="ORG_CODE",
                   help="only this school (repeatable; default: every network school)")

    def handler(a) -> int:
        if a.audit is not None:
            return audit_command(Path(a.audit) if a.audit != "" else default_out, getattr(a, "disclosure", None))
        from .scorecards import publish_scorecards

        r = publish_scorecards(getattr(a, "warehouse", None) or default_warehouse(), a.out or default_out, progress=print,
                               schools=a.schools, rules_file=getattr(a, "disclosure", None))
        print(f"{r['n_pages']:,} pages, {r['bytes'] / 1e6:.1f} MB in {r['seconds']:.1f} s -> {r['index']}")
        return 0

    p.set_defaults(handler=handler)


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
