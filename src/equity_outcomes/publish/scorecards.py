"""publish_scorecards: the offline site (network page, one page per school, shared assets) and its exports.

Layout of ``out_dir``::

    index.html                    the network: schools x targets matrix, rating counts, pooled trends, readiness
    schools/<org_code>.html       one scorecard per school
    assets/vega-bundle.js         ONE local copy of vega + vega-lite + vega-embed (vl_convert.javascript_bundle)
    assets/chart-templates.js     the Altair-built chart specs every page fills with its own rows
    assets/scorecards.{css,js}, assets/diagnostics.js
    exports/network.xlsx          + exports/network/<table>.csv
    exports/<org_code>.xlsx       + exports/<org_code>/<table>.csv
    exports/metric_definitions.csv

The site is built in a sibling folder and moved into place at the end, so a failed run leaves the previous site.
"""

from __future__ import annotations

import gc
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

from ..errors import EquityOutcomesError
from ..warehouse import connect_read_only
from . import history, labels
from .charts import BundleLater, templates_js
from .data import latest_readiness, load_site, series_index
from .disclosure import load_rules
from .disclosure.rules import Rules
from .disclosure.solved import load as load_answers
from .disclosure.solved import save as save_answers
from .exports import Exports
from .html import records, safe_name
from .network import network_page
from .pdf import cards_for_site, chromium_path, print_report_cards
from .school import SchoolPages
from .workbook import write_text

MANAGED = ("index.html", "schools", "exports", "assets", "reports")
# written to <out>/assets/ next to the Vega bundle: the stylesheet, the page-diagnostics script (records errors and
# every loaded resource into hidden elements, which the browser tests read) and the page script (merges chart
# templates with each chart's rows and renders them with vega-embed; filters the school matrix)
STATIC_ASSETS = ("scorecards.css", "diagnostics.js", "scorecards.js")


def publish_scorecards(
    warehouse: Path,
    out_dir: Path,
    *,
    progress: Callable[[str], None] | None = None,
    schools: list[str] | None = None,
    audit_files: bool = True,
    rules_file: Path | None = None,
    pdf: bool = False,
    keep_answers: bool = True,
) -> dict:
    """Write the offline scorecard site for ``warehouse`` into ``out_dir``; returns n_pages, bytes, seconds, index,
    disclosure (what the control withheld) and audit (the attack on the written files). The site is built in a
    staging folder and audited there: a failed audit raises DisclosureError and leaves the previous site.
    ``keep_answers``: reuse the disclosure programmes' answers of the last publication of this warehouse and keep
    this one's beside it (disclosure/solved.py: by content, verified; a yearly run then solves only what changed)."""
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    rules = load_rules(rules_file)
    if pdf and chromium_path() is None:
        raise EquityOutcomesError("publish --pdf needs Chromium to print the report cards: apt-get install chromium "
                                  "(or publish without --pdf)")
    out_dir = Path(out_dir).resolve()
    built_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    # the collector's full passes would walk every object alive, the modules' and the site's rows (at 200,000
    # students 28 passes took 14 s of a 120 s publish on a busy machine): what lasts until the end is set aside
    # from them as it is made, and handed back at the end
    gc.freeze()
    try:
        con = connect_read_only(warehouse)  # not `with`: tests/test_publish_safety.py spies on this connection
        bundle = BundleLater()  # made in a child process while the control runs here
        try:
            answers = load_answers(warehouse, say) if keep_answers else None
            site = load_site(con, schools=schools, built_at=built_at, say=say, rules=rules, solved=answers)
        except BaseException:
            bundle.close()
            raise
        finally:
            con.close()
        gc.freeze()
        return _write_site(site, out_dir, say=say, rules=rules, audit_files=audit_files, pdf=pdf, bundle=bundle,
                           answers=answers, warehouse=warehouse, t0=t0, built_at=built_at)
    finally:
        gc.unfreeze()


def _write_site(site, out_dir: Path, *, say, rules: Rules, audit_files: bool, pdf: bool, bundle: BundleLater,
                answers, warehouse: Path, t0: float, built_at: str) -> dict:
    """The pages, exports and audit of a controlled ``site`` (publish_scorecards)."""
    for w in site.warnings:
        say(f"scorecards: warning: {w}")
    t_load = time.perf_counter()

    tr = site.targets_safe
    tr_recs = records(tr) if len(tr) else []
    by_org: dict[str, list[dict]] = defaultdict(list)
    network_rows: list[dict] = []
    for r in tr_recs:
        r["subgroup"] = r.get("subgroup") or "all"
        if r.get("org_level") == "network":
            network_rows.append(r)
        else:
            by_org[str(r["org_code"])].append(r)
    site.targets_by_org = {c: by_org.get(c, []) for c in site.pages}
    series = series_index(site.mv_safe, {"all", *labels.REQUIRED_SUBGROUPS})
    years = history.by_year(site, by_org, network_rows)
    readiness_by = latest_readiness(site)
    gc.freeze()

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = out_dir.parent / f".{out_dir.name}.publishing-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    for folder in ("schools", "assets", "exports"):
        (stage / folder).mkdir(parents=True)
    # a child writing the school pages: started after the control (not beside its peak of memory), writing them
    # while this process writes the network page and the exports
    pages = SchoolPages()
    try:
        pages.start(site, [(stage / "schools" / f"{safe_name(code)}.html", code,
                            (by_org.get(code, []), series.get(code, {}), readiness_by.get(code), years.get(code)))
                           for code in site.pages])
        total = 0
        assets = {"vega-bundle.js": bundle(), "chart-templates.js": templates_js(),
                  **{name: (files(__package__) / "assets" / name).read_text(encoding="utf-8") for name in STATIC_ASSETS}}
        for fname, content in assets.items():
            total += write_text(stage / "assets" / fname, content)
        total += write_text(stage / "index.html", network_page(site, by_org, series.get("network", {}), network_rows,
                                                              years))
        exports = Exports(site, stage / "exports", by_org)
        total += exports.network()
        t_net = time.perf_counter()
        say(f"scorecards: network page and exports written ({t_net - t_load:.1f} s)")
        for i, code in enumerate(site.pages, start=1):
            total += pages.write_here(i - 1) + exports.school(code, safe_name(code))
            if i % 250 == 0:
                say(f"scorecards: {i:,} of {len(site.pages):,} schools written")
        total += pages.finish()
        say(f"scorecards: {len(site.pages):,} school pages and their exports written "
            f"({time.perf_counter() - t_net:.1f} s)")
        # every school's rendered tables and target rows (dicts): freed before the audit reads the files
        del exports, series, years, readiness_by, tr_recs, by_org, network_rows
        site.targets_by_org = {}
        audit = _audit(stage, say, rules, site.solved) if audit_files else None
        printed = print_report_cards(cards_for_site(site, stage), built_at, say) if pdf else None
        # move into place
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in MANAGED:
            dst = out_dir / name
            if dst.is_dir():
                shutil.rmtree(dst)
            elif dst.exists():
                dst.unlink()
            if (stage / name).exists():  # reports/ only with --pdf: no stale report cards beside a new site
                os.replace(stage / name, dst)
    finally:
        bundle.close()
        pages.close()
        shutil.rmtree(stage, ignore_errors=True)
    kept = None
    if answers is not None:
        kept = {"reused": answers.reused_from_file, "reused_years": answers.reused_years,
                "rejected": answers.rejected, "kept": save_answers(warehouse, answers, say)}
        say(f"disclosure: {kept['reused']:,} programmes' answers and the audit's verdicts of "
            f"{kept['reused_years']:,} unchanged school years reused from the last publication "
            f"({kept['rejected']:,} failed their check), {kept['kept']:,} kept")
    seconds = time.perf_counter() - t0
    n_pages = len(site.pages) + 1
    say(f"scorecards: {n_pages:,} pages, {total / 1e6:.1f} MB in {seconds:.1f} s (data {t_load - t0:.1f} s) "
        f"-> {out_dir / 'index.html'}")
    return {"n_pages": n_pages, "bytes": total, "seconds": round(seconds, 2), "index": out_dir / "index.html",
            "disclosure": site.disclosure, "audit": audit, "pdf": printed, "answers": kept}


def _audit(stage: Path, say, rules: Rules, solved: dict) -> dict:
    """Attack the staged files; refuse to publish them when anything is recovered. ``solved``: the control's
    answers by programme, used where the files give the very same programme."""
    from .disclosure import DisclosureError
    from .disclosure.audit import audit_publication

    t0 = time.perf_counter()
    report = audit_publication(stage, rules=rules, solved=solved)
    say(f"scorecards: disclosure audit of the written files ({time.perf_counter() - t0:.1f} s): "
        + ("nothing recovered" if report.ok else "FAILED"))
    if not report.ok:
        raise DisclosureError("the disclosure audit of the new publication failed; the previous one is left in "
                              "place.\n" + report.text())
    return {"ok": True, "tried": report.tried, "withheld_cells": report.withheld_cells,
            "published_cells": report.published_cells}
