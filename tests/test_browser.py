"""A real headless Chromium opens report.html: no console errors, no network, key elements, a non-blank screenshot.

Chromium is driven over the Chrome DevTools Protocol (``--remote-debugging-port``)
with the ``websocket-client`` package, which reports every console message,
exception, log entry (CSP violations among them), request and dialog.  Nothing
downloads a browser: the Debian ``chromium`` package is used (.ci/run installs it).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.report_helpers import validate_report_file

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
#: In CI a missing browser or driver is a failure (.ci/run installs them); locally it is a skip.
IN_CI = bool(os.environ.get("CI"))
if not IN_CI:
    pytest.importorskip("websocket", reason="websocket-client (dev extra) drives Chromium")
    if CHROMIUM is None:
        pytest.skip("Debian package chromium is not installed (.ci/run installs it)", allow_module_level=True)
import websocket  # noqa: E402  (in CI its absence must fail, not skip)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--remote-debugging-port=0"]

#: Where the screenshot of the seed run goes when set (to look at it); a temp dir otherwise.
SCREENSHOT_DIR = os.environ.get("LSTM_CONFORMANCE_SCREENSHOT_DIR")


class Browser:
    """One headless Chromium and a CDP session on its first page; records what the page did."""

    def __init__(self, profile_dir: str):
        assert CHROMIUM is not None, "chromium is not installed: .ci/run should have installed it with apt-get"
        # Its own process group: closing kills the renderer and helper processes too, which
        # otherwise go on writing into the profile directory while it is being removed.
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        port_file = Path(profile_dir) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc.poll() is not None else ""
                self.close()
                raise RuntimeError(f"chromium did not open its DevTools port within 30 s: {err}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        pages = []
        while not pages and time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"CDP {method} failed: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        """The first ``method`` event recorded so far or arriving within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        for ev in self.events:
            if ev["method"] == method:
                return ev
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg
        raise TimeoutError(f"no {method} within {timeout} s (events: {[e['method'] for e in self.events[seen:]]})")

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"evaluating {expression!r} in the page raised {res['exceptionDetails']}")
        return res["result"].get("value")

    def open(self, path: Path) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=1366, height=900, deviceScaleFactor=1, mobile=False)
        self.events.clear()  # judge this page only, and never take an earlier page's load event for its own
        self.call("Page.navigate", url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        self.call("Runtime.evaluate", expression="1")  # drain events queued up to the load

    def problems(self, page_url: str) -> list[str]:
        """Console errors/warnings, exceptions, log errors, dialogs, and any request but the page itself."""
        out = []
        for ev in self.events:
            m, p = ev["method"], ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: {[a.get('value', a.get('description')) for a in p.get('args', [])]}")
            elif m == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif m == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
                out.append(f"log {p['entry'].get('source')}/{p['entry']['level']}: {p['entry'].get('text')}")
            elif m == "Page.javascriptDialogOpening":
                out.append(f"a script opened a dialog: {p.get('message')!r}")
            elif m == "Network.requestWillBeSent" and p["request"]["url"] != page_url:
                out.append(f"network request attempted: {p['request']['url'][:120]}")
            elif m == "Network.loadingFailed":
                out.append(f"request failed/blocked: {p.get('errorText')} {p.get('blockedReason', '')}")
        return out

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        finally:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            self._signal_group(signal.SIGKILL)  # whatever helper is left
            self.proc.wait(10)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


@pytest.fixture
def browser():
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        b = Browser(profile)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seed-report")
    proc = run_cli("check", "seed-missing-forget-bias", "--max-examples", "40", "--seed", "1", "-q",
                   "--report-dir", str(out))
    assert proc.returncode == 1, f"check seed-missing-forget-bias: exit {proc.returncode}, expected 1\n{proc.stderr}"
    validate_report_file(out / "report.json")
    return out


def _png_stats(png: bytes) -> tuple[float, int, tuple[int, int]]:
    """(grey-level standard deviation, number of distinct colours, size) of a PNG."""
    from PIL import Image, ImageStat

    img = Image.open(io.BytesIO(png)).convert("RGB")
    std = ImageStat.Stat(img.convert("L")).stddev[0]
    colours = img.getcolors(maxcolors=1 << 20)
    return std, (len(colours) if colours is not None else 1 << 20), img.size


def test_seed_report_opens_cleanly_and_shows_what_where_why_how(browser, seed_report):
    page = seed_report / "report.html"
    browser.open(page)
    problems = browser.problems(page.resolve().as_uri())
    assert not problems, f"report.html of the seed run misbehaved in Chromium: {problems}"

    facts = browser.evaluate("""(() => ({
        verdict: document.querySelector('#verdict .verdict')?.innerText,
        headline: document.querySelector('#verdict .headline')?.innerText,
        findings: document.querySelector('dl.findings')?.innerText,
        valueRows: [...document.querySelectorAll('table.values tbody tr')].map(r => r.innerText),
        plotSvgs: document.querySelectorAll('.plot svg').length,
        plotBars: document.querySelectorAll('.plot svg path, .plot svg rect').length,
        replay: document.querySelector('pre.replay-command')?.innerText,
        snippet: document.querySelector('pre.snippet')?.innerText,
        scripts: document.scripts.length,
        csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.content,
        width: document.documentElement.scrollWidth,
    }))()""")
    assert facts["verdict"] == "NONCONFORMANT", f"verdict banner reads {facts['verdict']!r}"
    assert "does NOT compute" in (facts["headline"] or ""), f"headline: {facts['headline']!r}"
    for label in ("What failed", "Where", "Why", "How to replay"):
        assert label in (facts["findings"] or ""), f"findings box lacks {label!r}: {facts['findings']!r}"
    assert "time step 1" in facts["findings"], f"findings do not say where (time step 1): {facts['findings']!r}"
    assert any(row.startswith("bias[1]") and "gate j" in row for row in facts["valueRows"]), (
        f"the non-zero values table should list bias[1] (gate j), it has {facts['valueRows']}")
    assert facts["plotSvgs"] == 1 and facts["plotBars"] > 5, (
        f"expected one error plot svg with drawn marks, found {facts['plotSvgs']} svg(s), {facts['plotBars']} marks")
    assert (facts["replay"] or "").startswith("lstm-conformance repro ") and "seed-missing-forget-bias" in facts["replay"], (
        f"replay command: {facts['replay']!r}")
    assert "allow_pickle=False" in (facts["snippet"] or ""), f"snippet: {facts['snippet']!r}"
    assert facts["scripts"] == 0, f"the report should carry no script, found {facts['scripts']}"
    assert "default-src 'none'" in (facts["csp"] or ""), f"CSP meta: {facts['csp']!r}"
    assert facts["width"] <= 1366, f"page is {facts['width']} px wide: wider than a 1366 px laptop screen"

    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
    png = base64.b64decode(shot["data"])
    shots = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else seed_report
    shots.mkdir(parents=True, exist_ok=True)
    (shots / "report.png").write_bytes(png)
    std, colours, size = _png_stats(png)
    assert size == (1366, 900), f"screenshot size {size}, expected the 1366x900 viewport"
    assert std > 20 and colours > 50, (
        f"screenshot looks blank: grey-level std {std:.1f} (want > 20), {colours} distinct colours (want > 50)")

    pdf = base64.b64decode(browser.call("Page.printToPDF", printBackground=True)["data"])
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000, f"printing gave {len(pdf)} bytes starting {pdf[:8]!r}"


EVIL = textwrap.dedent('''
    from conformance import candidate

    @candidate(name="<script>alert(1)</script>", features=[], dtypes=["float32"],
               description="<img src=x onerror=alert(2)> docstring & co")
    def evil(case):
        raise ValueError("<script>alert(3)</script><iframe src='https://example.com/'></iframe>")
''')


def test_untrusted_text_is_escaped_and_never_runs(browser, tmp_path):
    (tmp_path / "evil_mod.py").write_text(EVIL)
    out = tmp_path / "report"
    proc = run_cli("check", "evil_mod:evil", "--max-examples", "5", "--seed", "0", "-q", "--report-dir", str(out),
                   cwd=tmp_path)
    assert proc.returncode == 1, f"a raising candidate is nonconformant (exit 1), got {proc.returncode}: {proc.stderr}"
    validate_report_file(out / "report.json")

    page = out / "report.html"
    browser.open(page)
    problems = browser.problems(page.resolve().as_uri())
    assert not problems, f"the hostile names made the page misbehave: {problems}"
    facts = browser.evaluate("""(() => ({
        text: document.body.innerText,
        scripts: document.scripts.length,
        imgs: document.images.length,
        iframes: document.querySelectorAll('iframe').length,
        title: document.title,
    }))()""")
    assert facts["scripts"] == 0 and facts["imgs"] == 0 and facts["iframes"] == 0, (
        f"markup from the candidate became elements: {facts['scripts']} script(s), {facts['imgs']} img(s), "
        f"{facts['iframes']} iframe(s)")
    for literal in ("<script>alert(1)</script>", "<img src=x onerror=alert(2)> docstring & co",
                    "<script>alert(3)</script>"):
        assert literal in facts["text"], f"{literal!r} should appear as literal text in the page"
    assert "<script>alert(1)</script>" in facts["title"], f"title: {facts['title']!r}"

    summary = (out / "summary.md").read_text()
    assert "<script>" not in summary and "<img" not in summary and "<iframe" not in summary, (
        f"summary.md carries raw markup: {[l for l in summary.splitlines() if '<s' in l or '<i' in l]}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in summary, "summary.md should show the name escaped as text"


def test_the_page_checks_catch_requests_console_errors_and_dialogs(browser, tmp_path):
    """The detector itself: a page that loads a remote image, logs an error and alerts must be flagged."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://192.0.2.1/x.png">'
                    "<script>console.error('boom'); alert('hi');</script></body></html>")
    browser.call("Page.navigate", url=page.resolve().as_uri())
    dialog = browser.wait_for("Page.javascriptDialogOpening")
    browser.call("Page.handleJavaScriptDialog", accept=True)
    assert dialog["params"]["message"] == "hi"
    browser.wait_for("Page.loadEventFired")
    problems = " | ".join(browser.problems(page.resolve().as_uri()))
    for expected in ("network request attempted: http://192.0.2.1/x.png", "console.error: ['boom']",
                     "a script opened a dialog: 'hi'"):
        assert expected in problems, f"the page checks missed {expected!r}; they reported: {problems}"


def test_matrix_html_opens_cleanly_coloured_with_cells_linking_to_case_and_diagnosis(browser, tmp_path):
    out = tmp_path / "matrix"
    proc = run_cli("matrix", "seed-missing-forget-bias", "numpy-reference", "--column", "baseline", "--column",
                   "peepholes", "--max-examples", "8", "--minimize-seconds", "5", "--cell-seconds", "120", "-q",
                   "--report-dir", str(out))
    assert proc.returncode == 1, f"matrix with a broken candidate: exit {proc.returncode}, expected 1\n{proc.stdout}\n{proc.stderr}"
    assert "matrix.html" in proc.stdout, f"the matrix command does not name matrix.html: {proc.stdout!r}"
    page = out / "matrix.html"
    browser.open(page)
    problems = browser.problems(page.resolve().as_uri())
    assert not problems, f"matrix.html misbehaved in Chromium: {problems}"
    facts = browser.evaluate("""(() => {
        const rows = [...document.querySelectorAll('table.matrix tbody tr')];
        const cell = (r, c) => rows.find(x => x.querySelector('th').innerText.trim() === r).children[c];
        const bad = cell('seed-missing-forget-bias', 1), good = cell('numpy-reference', 1);
        const none = cell('seed-missing-forget-bias', 2);
        const link = bad.querySelector('a');
        const target = link && document.querySelector(link.getAttribute('href'));
        return {
            verdict: document.querySelector('#verdict .verdict')?.innerText,
            header: [...document.querySelectorAll('table.matrix thead th')].map(h => h.innerText.trim()),
            bad: bad.innerText, good: good.innerText, none: none.innerText,
            badBg: getComputedStyle(bad).backgroundColor, goodBg: getComputedStyle(good).backgroundColor,
            section: target ? target.innerText : null,
            caseHref: target?.querySelector('a.case')?.getAttribute('href'),
            scripts: document.scripts.length,
            width: document.documentElement.scrollWidth,
        };
    })()""")
    assert facts["verdict"] == "NONCONFORMANT", facts["verdict"]
    assert facts["header"] == ["candidate", "baseline", "peepholes"], facts["header"]
    assert facts["bad"].startswith("✗") and facts["good"] == "✓" and facts["none"] == "—", facts
    assert facts["badBg"] == "rgb(252, 232, 230)" and facts["goodBg"] == "rgb(230, 244, 234)", (
        f"cells are not coloured: fail {facts['badBg']}, pass {facts['goodBg']}")
    assert facts["section"] and "forget_bias_missing" in facts["section"], (
        f"the failing cell's link does not lead to its diagnosis: {facts['section']!r}")
    assert "lstm-conformance repro" in facts["section"]
    assert facts["caseHref"] == "cases/seed-missing-forget-bias--baseline.npz"
    assert (out / facts["caseHref"]).exists(), "the linked case file is not on disk"
    assert facts["scripts"] == 0 and facts["width"] <= 1366, facts
    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    std, colours, _ = _png_stats(shot)
    assert std > 20 and colours > 50, f"matrix.html screenshot looks blank: std {std:.1f}, {colours} colours"
