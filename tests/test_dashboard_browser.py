"""The dashboard end to end in a real browser: Debian's chromium driven by Playwright.

Starts ``python -m metrosim.dashboard`` on a free port (coarse runs: 1000 m cells, scale 50, so
the test stays within a minute), loads the page, switches pane B's regime, steps three years,
checks the years shown and the points of the charts, plays and pauses, moves a lever and sees
the reset notice, types a bad lever value and sees a message, loads an ensemble folder, exports
a PNG and the HTML page, switches to English, and saves screenshots under ``test-artifacts/``.
The server is always stopped.

Chromium is the system browser (``apt-get install chromium``; ``./dev test`` installs it when
missing); ``playwright install`` is never used (it downloads a browser build).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("METROSIM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, log_tail, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard server exited with {proc.returncode}: {log_tail()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"dashboard server did not listen on port {port} in {timeout:.0f} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        message = f"no chromium at {CHROMIUM}: apt-get install chromium (./dev test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port = _free_port()
    folder = tmp_path_factory.mktemp("dashboard")
    log = folder / "server.log"
    runs = folder / "compare"
    runs.mkdir()
    pd.DataFrame(
        [
            {"scenario": s, "seed": seed, "year": y, "urban_area_ha": 1000 + y + k * 10 + seed}
            for k, s in enumerate(["fragmented", "coordinated"])
            for seed in range(3)
            for y in range(2017, 2022)
        ]
    ).to_parquet(runs / "runs.parquet")
    env = {
        **os.environ,
        "METROSIM_DASHBOARD_CELL_SIZE": "1000",
        "METROSIM_DASHBOARD_SCALE": "50",
        "PYTHONWARNINGS": "ignore",  # the server's own warnings go to its log, not to pytest
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "metrosim.dashboard", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    started = time.monotonic()
    try:
        _wait_for_port(port, proc, lambda: log.read_text(errors="replace")[-3000:])
        yield {
            "url": f"http://127.0.0.1:{port}/",
            "log": log,
            "runs": runs,
            "started": started,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _year(page, pane: str) -> int:
    text = page.locator(f".metrosim-year-{pane}").inner_text(timeout=TIMEOUT_MS)
    return int(text.split()[-1])


def _wait_year(page, pane: str, year: int) -> None:
    page.locator(f".metrosim-year-{pane}", has_text=str(year)).wait_for(timeout=TIMEOUT_MS)


def _pick(page, select_css: str, option: str) -> None:
    """Choose an option of a Vuetify select (its menu opens in an overlay)."""
    page.locator(select_css).first.click()
    page.locator(".v-overlay--active .v-list-item", has_text=option).first.click()


def test_dashboard_in_chromium(server):
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100}, accept_downloads=True)
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.monotonic()
            page.goto(server["url"])
            page.locator(".metrosim-year-B").wait_for()
            page.locator(".metrosim-map-B .heatmaplayer").first.wait_for(state="attached")
            page.locator(".metrosim-timeseries path.point").first.wait_for(state="attached")
            ready = time.monotonic() - t0
            since_start = time.monotonic() - server["started"]
            print(f"page ready {ready:.1f} s after load, {since_start:.1f} s after server start")
            page.screenshot(path=str(ARTIFACTS / "dashboard-1-loaded.png"), full_page=True)
            assert page.get_by_text("Panel A", exact=True).is_visible()
            assert _year(page, "A") == _year(page, "B") == 2017

            # pane B: another regime (the page opens with fragmented vs coordinated)
            _pick(page, ".metrosim-regime-B", "fragmented")
            page.locator(".metrosim-pane-B .metrosim-notice", has_text="fragmented").wait_for()

            points = page.locator(".metrosim-timeseries path.point")
            before = points.count()
            start = _year(page, "B")
            slowest = 0.0  # the longest a year took to show (it sets the waits below)
            for k in range(1, 4):
                t_click = time.monotonic()
                page.locator(".metrosim-step").click()
                _wait_year(page, "B", start + k)
                slowest = max(slowest, time.monotonic() - t_click)
            assert _year(page, "B") == start + 3
            assert _year(page, "A") == 2017 + 3
            page.wait_for_function(
                "n => document.querySelectorAll('.metrosim-timeseries path.point').length >= n",
                arg=before + 6,
            )
            after = points.count()
            assert after >= before + 2 * 3  # at least three new years for each pane
            page.screenshot(path=str(ARTIFACTS / "dashboard-2-stepped.png"), full_page=True)

            # Play runs years until Pause
            year_a = _year(page, "A")
            page.locator(".metrosim-play").click()
            _wait_year(page, "A", year_a + 1)
            page.locator(".metrosim-pause").click()
            page.locator(".metrosim-play").wait_for()
            # years already under way may still land (the page lags the server under load);
            # then the year must stay put for longer than a year takes to show
            quiet = max(3.0, 2.5 * slowest)
            paused_at, stable_since = _year(page, "A"), time.monotonic()
            end = stable_since + 30 + 4 * quiet
            while time.monotonic() - stable_since < quiet:
                assert time.monotonic() < end, "the year kept advancing after Pause"
                time.sleep(0.5)
                if (now := _year(page, "A")) != paused_at:
                    paused_at, stable_since = now, time.monotonic()
            assert paused_at <= year_a + 6

            # a lever: open pane B's levers and move the growth boundary
            page.locator(".metrosim-levers-B").click()
            lever = ".metrosim-pane-B .metrosim-lever-growth_boundary .v-select"
            page.locator(lever).wait_for()
            _pick(page, lever, "urban_limit_2017")
            notice = page.locator(".metrosim-pane-B .metrosim-notice", has_text="growth_boundary")
            notice.wait_for()
            assert "reiniciado" in notice.inner_text()
            _wait_year(page, "B", 2017)
            assert _year(page, "A") == paused_at  # the other pane is untouched

            # a bad value typed into a free-text lever gets a message, the page keeps working
            text_lever = page.locator(".metrosim-pane-B .metrosim-lever-association_members")
            if text_lever.count():
                text_lever.locator("input").fill("no-such-commune")
                text_lever.get_by_role("button").click()
                page.locator(".metrosim-pane-B .metrosim-error").wait_for()
                assert "no válido" in page.locator(".metrosim-pane-B .metrosim-error").inner_text()
                page.screenshot(path=str(ARTIFACTS / "dashboard-3-lever.png"), full_page=True)
            page.locator(".metrosim-step").click()
            _wait_year(page, "B", 2018)

            # a slider lever moved with the keyboard is applied with its button
            page.locator(".metrosim-levers-A").click()
            slider = page.locator(".metrosim-pane-A .metrosim-lever-citizen_participation")
            if slider.count():
                slider.locator(".v-slider-thumb").first.focus()
                page.keyboard.press("ArrowRight")
                slider.get_by_role("button").click()
                page.locator(
                    ".metrosim-pane-A .metrosim-notice", has_text="citizen_participation"
                ).wait_for()
                _wait_year(page, "A", 2017)

            # ensemble: a missing folder is a message; a compare folder gives bands
            ensemble = page.locator(".metrosim-ensemble")
            ensemble.locator("input").fill(str(server["runs"].parent / "missing"))
            ensemble.get_by_role("button").click()
            ensemble.locator(".metrosim-ensemble-error").wait_for()
            ensemble.locator("input").fill(str(server["runs"]))
            ensemble.get_by_role("button").click()
            ensemble.get_by_text("3 semillas").wait_for()
            ensemble.locator(".main-svg").first.wait_for()
            assert ensemble.locator(".metrosim-ensemble-error").count() == 0
            page.screenshot(path=str(ARTIFACTS / "dashboard-4-ensemble.png"), full_page=True)

            # export: a PNG of a map drawn in the browser, and the self-contained HTML page
            page.locator(".metrosim-map-A .main-svg").first.hover()
            with page.expect_download() as png:
                page.locator('.metrosim-map-A .modebar-btn[data-title*="PNG"]').click()
            assert Path(png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            with page.expect_download() as html:
                page.locator(".metrosim-download").click()
            exported = Path(html.value.path()).read_text(encoding="utf-8")
            assert html.value.suggested_filename == "metrosim-comparacion.html"
            assert "Gran Santiago" in exported and "Plotly" in exported
            assert "<script src=" not in exported  # opens without a network

            # language
            page.locator(".metrosim-lang-en").click()
            page.get_by_text("Pane B", exact=True).wait_for()
            page.locator(".metrosim-year-B", has_text="Year").wait_for()
            # the charts' heading re-renders after the panes: wait for it (slow under load)
            page.get_by_text("Outcomes over the years").wait_for()
            page.screenshot(path=str(ARTIFACTS / "dashboard-5-english.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, f"errors in the page: {errors}"
