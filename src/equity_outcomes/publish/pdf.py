"""PDF report cards: the published HTML pages printed by headless Chromium (DevTools ``Page.printToPDF``).

One Chromium prints every page (a process per page would cost ~2 s each). Pages are opened from the staged site
over ``file://`` with outside hosts unresolvable, and printed once their charts have rendered (the page script sets
``body[data-charts]``), so charts are the SVG that vega-embed drew: vectors in the PDF, fonts embedded by Skia.
Paper, margins and the page limit come from ``config/scorecards.yaml`` (``pdf``). Chosen over weasyprint, which
runs no JavaScript (our charts would be blank) and took longer on a school page (docs/scorecards.md).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import EquityOutcomesError
from . import labels
from .workbook import write_text

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--disable-quic", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
PAPER_IN = {"letter": (8.5, 11.0), "legal": (8.5, 14.0), "a4": (8.27, 11.69)}


def chromium_path() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    return found or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def pdf_settings() -> dict:
    return labels.SCORECARDS["pdf"]


class Chromium:
    """A headless Chromium with one page, spoken to over the DevTools protocol (events are kept for tests)."""

    def __init__(self, window: str = "1280,2000") -> None:
        from websockets.sync.client import connect

        exe = chromium_path()
        if exe is None:
            raise EquityOutcomesError("PDF report cards need Chromium, which is not installed: "
                                      "apt-get install chromium (or publish without --pdf)")
        self.profile = tempfile.mkdtemp(prefix="eo-chromium-")
        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
                                      f"--window-size={window}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.time() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                raise EquityOutcomesError("Chromium did not start (no DevToolsActivePort within 60 s)")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [p for p in json.load(r) if p.get("type") == "page"]
        self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")

    def send(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        mid = next(self.ids)
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        deadline = time.time() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.time())))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, url: str, timeout: float = 30) -> None:
        """Navigate and wait until the page script has rendered every chart (``body[data-charts]`` is set)."""
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.evaluate("document.readyState + '|' + "
                                  "(document.body && document.body.getAttribute('data-charts'))")
            if state and state.startswith("complete|") and not state.endswith("|null"):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{url}: charts did not finish within {timeout} s")

    def print_pdf(self, header: str, footer: str) -> bytes:
        s = pdf_settings()
        width, height = PAPER_IN[str(s["paper"]).lower()]
        m = float(s["margin_in"])
        r = self.send("Page.printToPDF", {
            "paperWidth": width, "paperHeight": height, "marginTop": m + 0.15, "marginBottom": m,
            "marginLeft": m, "marginRight": m, "printBackground": True, "displayHeaderFooter": True,
            "headerTemplate": header, "footerTemplate": footer, "preferCSSPageSize": False,
            "scale": float(s["scale"]),
        }, timeout=float(s["timeout_s"]))
        return base64.b64decode(r["data"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


@dataclass(frozen=True)
class ReportCard:
    page: Path          # the HTML page in the staged site
    pdf: Path           # where its report card goes
    title: str          # school (or network) name, in every page header
    years: str          # e.g. "baseline 2019, judged 2025"


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


def cards_for_site(site, stage: Path) -> list[ReportCard]:
    """One card per school page and one for the network, into ``stage/reports/``."""
    from .data import num
    from .html import safe_name, school_label

    judged = f"judged {site.judged_year}" if site.judged_year else "no year judged"
    cards = [ReportCard(stage / "index.html", stage / "reports" / "network.pdf",
                        "MA Personalized Learning Network", judged)]
    for code in site.pages:
        base = num(site.roster.get(code, {}).get("baseline_year"))
        base_txt = f"baseline {int(base)}, " if base is not None else ""
        fn = safe_name(code)
        cards.append(ReportCard(stage / "schools" / f"{fn}.html", stage / "reports" / f"{fn}.pdf",
                                school_label(site, code)[0], base_txt + judged))
    return cards


def print_report_cards(cards: list[ReportCard], printed_on: str, say) -> dict:
    """Print every card; returns files, pages per card and seconds. A page whose charts do not render in time
    fails the publication (nothing half-printed is published)."""
    from .html import ENV

    t0 = time.perf_counter()
    limit = int(pdf_settings()["max_pages"])
    bands = ENV.get_template("report_bands.html").module
    footer = str(bands.footer())
    pages: dict[str, int] = {}
    browser = Chromium(window="1100,1400")
    try:
        for card in cards:
            browser.open(card.page.resolve().as_uri(), timeout=float(pdf_settings()["timeout_s"]))
            header = str(bands.header(card.title, card.years, printed_on))
            data = browser.print_pdf(header, footer)
            write_text(card.pdf, data)  # every file of a publication is written by publish/workbook.py
            pages[card.pdf.name] = page_count(data)
            if pages[card.pdf.name] > limit:
                say(f"pdf: warning: {card.pdf.name} has {pages[card.pdf.name]} pages (more than {limit})")
    finally:
        browser.close()
    seconds = time.perf_counter() - t0
    say(f"pdf: {len(cards):,} report cards printed in {seconds:.1f} s")
    return {"files": len(cards), "pages": pages, "seconds": round(seconds, 2)}
