"""Helpers of the browser tests: Debian's chromium driven by Playwright, servers on loopback.

Never ``playwright install``: the tests drive ``/usr/bin/chromium`` (installed by
``scripts/install-system-deps``) with a fresh profile each time.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import BrowserContext, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# Screenshots go to docs/screenshots only when asked (`make screenshots`), so a test run never
# changes tracked files; otherwise they land in a temporary folder and are still checked.
SCREENSHOTS = Path(
    os.environ.get("RELAPSEWATCH_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / "relapsewatch-screenshots"
).resolve()
#: The accounts ``serve --demo`` makes, one per role.
DEMO_USERNAMES = frozenset({"demo.nurse", "demo.clinician", "demo.patient", "demo.admin"})
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_for_health(base: str, *, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{base} did not answer /health within {timeout_s} s")


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields the base address."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class DemoSite(NamedTuple):
    """A running ``serve --demo``: the address it printed, everything it printed, and the demo
    accounts from its table (username to one-off password)."""

    address: str
    output: str
    accounts: dict[str, str]


#: A row of the demo accounts table: username, password, role (Rich pads columns with spaces).
_DEMO_ROW = re.compile(r"^\s*(demo\.[a-z]+)\s+(\S+)\s+(nurse|clinician|patient|admin)\b", re.M)


def demo_accounts(output: str) -> dict[str, str]:
    """The demo accounts ``serve --demo`` printed, as username to password.

    >>> demo_accounts(" demo.nurse   Ab-3_x  nurse  sees the demo care team's patients")
    {'demo.nurse': 'Ab-3_x'}
    """
    return {name: password for name, password, _ in _DEMO_ROW.findall(output)}


@contextmanager
def serve_demo() -> Iterator[DemoSite]:
    """Run ``relapsewatch serve --demo`` as a child process; yields the address it printed, its
    output and the demo accounts it made (RELIABILITY B8: every page needs a login now)."""
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "import typer; from relapsewatch.cli.serve import serve; typer.run(serve)",
        "--demo",
        "--port",
        str(port),
    ]
    # Wide enough that Rich never wraps a password cell of the accounts table.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert child.stdout is not None
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                raise RuntimeError("serve --demo stopped:\n" + "".join(printed))
            printed.append(line)
            if "is running at" in line:
                break
        address = printed[-1].split("is running at", 1)[1].split()[0]
        wait_for_health(address.rstrip("/"))
        output = "".join(printed)
        accounts = demo_accounts(output)
        missing = DEMO_USERNAMES - accounts.keys()
        if missing:
            raise RuntimeError(f"serve --demo printed no password for {sorted(missing)}:\n{output}")
        yield DemoSite(address, output, accounts)
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def sign_in(page: Page, base: str, username: str, password: str) -> None:
    """Sign in through the login form, as a person would; waits until the site has left the
    login page (the account's own starting page, or the page that asked for the login)."""
    page.goto(f"{base.rstrip('/')}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    if urlsplit(page.url).path == "/login":
        refused = page.locator(".error-summary")
        reason = refused.inner_text() if refused.count() else page.title()
        raise AssertionError(f"{username} could not sign in: {reason}")


def sign_out(page: Page) -> None:
    """Press "Sign out" in the header; waits for the login page it goes to."""
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert urlsplit(page.url).path == "/login", page.url


def launch(playwright: Playwright, profile: Path, *, bypass_csp: bool = False) -> BrowserContext:
    """Debian's chromium with a fresh profile folder.

    ``bypass_csp`` only for the axe-core checks: Playwright injects axe as an inline script,
    which the app's Content-Security-Policy rightly refuses.
    """
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=DESKTOP,
        bypass_csp=bypass_csp,
    )


def watch_console(page: Page) -> list[str]:
    """Collect console errors and page errors (a CSP violation shows up here)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def wait_for_charts(page: Page, count: int) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('.chart[data-drawn=\"true\"] .main-svg').length >= {count}",
        timeout=30_000,
    )


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page (WCAG 2.1 A/AA rules)."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make unit does) to install axe-core")
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {
                runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
                resultTypes: ['violations'],
            });
            return JSON.stringify(result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
            })));
        }"""
    )
    return [v for v in json.loads(found) if v["impact"] in ("serious", "critical")]


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def section_screenshot(page: Page, selector: str, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.locator(selector).screenshot(path=str(path), animations="disabled")
    return path
