"""The sweep form in a real browser: JupyterLab driven by headless Chromium.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and the test
extra (``jupyterlab``, ``playwright``); no browser is downloaded. Screenshots
go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

playwright = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs playwright (.[test])"
)
Page, expect, sync_playwright = (
    playwright.Page,
    playwright.expect,
    playwright.sync_playwright,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
NOTEBOOK = "form.ipynb"
CELLS = [
    "%load_ext mesa_nb",
    "from mesa_nb.examples import BoltzmannWealth",
    "%batchrun_form BoltzmannWealth",
]
LIVE_NOTEBOOK = "live.ipynb"
LIVE_CELLS = [
    "%load_ext mesa_nb",
    "import time, mesa\n\n"
    "class Slow(mesa.Model):\n"
    "    def __init__(self, k=1, rng=None):\n"
    "        super().__init__(rng=rng)\n"
    "        self.k = k\n"
    "        self.t = 0  # its own step count: Mesa 4 has no model.steps\n"
    "        self.datacollector = mesa.DataCollector(model_reporters={\n"
    "            'Level': lambda m: m.k * m.t + 5 * m.random.random()})\n"
    "        self.datacollector.collect(self)\n\n"
    "    def step(self):\n"
    "        self.t += 1\n"
    "        time.sleep(0.15)\n"
    "        self.datacollector.collect(self)",
    "%%batchrun Slow --background -p 2 -i 6 -s 20 -c 1 --seed 1\nk = [1, 2]",
    "results.live('Level', by='k')",
]
SECONDS = 1000  # Playwright timeouts are in milliseconds
TIMEOUT = 60 * SECONDS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium: apt-get install -y chromium",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_notebook(root: Path) -> None:
    for name, cells in ((NOTEBOOK, CELLS), (LIVE_NOTEBOOK, LIVE_CELLS)):
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nbformat.write(notebook, root / name)


def isolated_jupyter_dirs(base: Path) -> dict[str, str]:
    """Config, data and settings of our own: this Python's kernel, no news."""
    kernel = base / "data" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    (kernel / "kernel.json").write_text(json.dumps(spec))
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return {
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
    }


def wait_for_server(
    url: str, process: subprocess.Popen, log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"jupyter exited with code {process.returncode}:\n{log.read_text()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise TimeoutError(f"jupyter did not answer {url} within {timeout} s")


def stop_server(base_url: str, token: str, process: subprocess.Popen) -> None:
    """Shut the server and its kernels down; kill it if it does not stop."""
    request = urllib.request.Request(
        f"{base_url}/api/shutdown",
        method="POST",
        headers={"Authorization": f"token {token}"},
    )
    try:
        urllib.request.urlopen(request, timeout=10).close()
        process.wait(timeout=30)
    except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab server on 127.0.0.1 with the notebook; yields its URL."""
    base = tmp_path_factory.mktemp("jupyter")
    root = base / "root"
    root.mkdir()
    write_notebook(root)
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, **isolated_jupyter_dirs(base)}
    log_path = base / "server.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_root=True",  # CI runs as root
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        status = f"{base_url}/api/status?token={token}"
        wait_for_server(status, process, log_path, timeout=120)
        yield f"{base_url}/lab/tree/{NOTEBOOK}?token={token}"
    finally:
        stop_server(base_url, token, process)
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "jupyter-server.log").write_text(log_path.read_text())


@pytest.fixture
def page(jupyter_lab: str) -> Iterator[Page]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.set_default_timeout(60 * SECONDS)
        try:
            yield page
        finally:
            page.screenshot(path=ARTIFACTS / "browser-last.png", full_page=True)
            browser.close()


def wait_for_idle_kernel(page: Page, timeout: float = 120) -> None:
    """The notebook toolbar's execution indicator says the kernel is idle."""
    indicator = page.locator(".jp-Notebook-ExecutionIndicator").first
    expect(indicator).to_have_attribute(
        "data-status", "idle", timeout=timeout * SECONDS
    )


def wait_for_connected_kernel(lab_url: str, timeout: float = 120) -> None:
    """The server has one idle kernel with the page's websocket connected."""
    base, token = lab_url.split("/lab/")[0], lab_url.split("token=")[1]
    deadline = time.monotonic() + timeout
    kernels: list = []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/kernels?token={token}") as response:
            kernels = json.load(response)
        if any(
            k["execution_state"] == "idle" and k["connections"] > 0 for k in kernels
        ):
            return
        time.sleep(0.5)
    raise TimeoutError(f"no idle, connected kernel within {timeout} s: {kernels}")


def run_all_cells(page: Page) -> None:
    """Run > Run All Cells, through JupyterLab's menu bar.

    The first cell is clicked first so the notebook is the current widget
    (the menu item is disabled until it is).
    """
    page.locator(".jp-Cell .jp-InputPrompt").first.click()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    item = page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells"))
    expect(item).not_to_have_class(re.compile("lm-mod-disabled"), timeout=TIMEOUT)
    item.click()
    started = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|1)\]"))
    expect(started.first).to_be_visible(timeout=TIMEOUT)


def test_form_runs_a_sweep_in_jupyterlab(page: Page, jupyter_lab: str) -> None:
    page.goto(jupyter_lab)
    wait_for_idle_kernel(page)
    wait_for_connected_kernel(jupyter_lab)
    run_all_cells(page)
    form = page.locator(".mesa-nb-form")
    expect(form).to_be_visible(timeout=120 * SECONDS)
    wait_for_idle_kernel(page)
    expect(page.locator(".mesa-nb-count")).to_have_text("1 run = 1 point x 1 iteration")

    page.locator(".mesa-nb-mode-n button", has_text="sweep").click()
    page.locator(".mesa-nb-list-n input").fill("20, 40")
    for option, value in [
        ("iterations", "2"),
        ("max_steps", "100"),
        ("data_collection_period", "10"),
        ("seed", "42"),
    ]:
        field = page.locator(f".mesa-nb-option-{option} input")
        field.fill(value)
        field.press("Tab")  # number boxes send their value on change
    expect(page.locator(".mesa-nb-count")).to_have_text(
        "4 runs = 2 points x 2 iterations"
    )
    expect(page.locator(".mesa-nb-status-n")).to_contain_text("2 values: 20, 40")
    page.locator(".mesa-nb-code").click()
    expect(page.locator(".mesa-nb-code-view")).to_contain_text(
        "%%batchrun BoltzmannWealth --iterations 2 --max-steps 100 "
        "--collect-every 10 --seed 42 --processes 1 --out results"
    )
    page.screenshot(path=ARTIFACTS / "form-before-run.png", full_page=True)

    page.locator(".mesa-nb-run").click()
    output = page.locator(".mesa-nb-output")
    expect(output).to_contain_text(
        "results = BoltzmannWealth sweep: 4 runs (4 ok, 0 failed)",
        timeout=180 * SECONDS,
    )
    expect(output.locator("img")).to_be_visible()
    expect(page.locator(".mesa-nb-run")).to_be_enabled()
    expect(page.locator(".mesa-nb-stop")).to_be_disabled()
    text = form.inner_text()
    assert "4 runs" in text and "4 ok" in text
    assert "Traceback" not in text
    form.scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "form-after-run.png", full_page=True)
    form.screenshot(path=ARTIFACTS / "form.png")


def test_a_live_plot_redraws_while_a_background_sweep_runs(
    page: Page, jupyter_lab: str
) -> None:
    # a workspace of its own: only this notebook is open in it
    url = jupyter_lab.replace(
        f"/lab/tree/{NOTEBOOK}", f"/lab/workspaces/live/tree/{LIVE_NOTEBOOK}"
    )
    page.goto(url)
    wait_for_idle_kernel(page)
    wait_for_connected_kernel(url)
    run_all_cells(page)
    plot = page.locator(".mesa-nb-live-plot img")
    expect(plot).to_be_visible(timeout=120 * SECONDS)
    bar = page.locator(".widget-html-content", has_text=re.compile(r"\d+/12"))
    expect(bar.first).to_be_visible(timeout=60 * SECONDS)
    # mid-sweep: the background cell returned, runs are still going
    first_image = plot.get_attribute("src")
    assert "12/12" not in bar.first.inner_text()
    page.locator(".mesa-nb-live-plot").scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "live-plot-mid-sweep.png", full_page=False)
    expect(page.locator(".widget-html-content", has_text="12/12").first).to_be_visible(
        timeout=180 * SECONDS
    )
    expect(plot).not_to_have_attribute("src", first_image, timeout=30 * SECONDS)
