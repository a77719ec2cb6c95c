"""The workbook as people use it: JupyterLab in a real browser (Debian's Chromium, driven by Playwright).

JupyterLab starts from this venv on 127.0.0.1 (a free port, a random token) over copies of notebooks 01
and 02, so the browser's autosave never touches notebooks/. Notebook 01 runs all its cells without an error,
and the memory calculator's printed estimate follows its model dropdown; in notebook 02 the live memory plot
redraws while the load cell runs. Screenshots go to build/ui/.

Chromium is required, never skipped: `.ci/run` installs it (Debian's `chromium`) when it is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers.core.paths import BUILD_DIR, CONFIGS_DIR, NOTEBOOKS_DIR, ROOT

CHROMIUM = Path(os.environ.get("QWEN3VL_CHROMIUM", "/usr/bin/chromium"))
INSTALL_HINT = (
    "Chromium is missing: as root run `apt-get update && apt-get install -y chromium` (.ci/run does it)"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
NB01, NB02 = "01_memory_estimation.ipynb", "02_sharded_loading_and_device_maps.ipynb"
UI_DIR = BUILD_DIR / "ui"
SETTINGS = {  # JupyterLab user settings: every cell in the DOM, no news or update checks (offline)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 over copies of notebooks 01 and 02; yields its base URL and token."""
    if not CHROMIUM.exists():
        pytest.fail(INSTALL_HINT, pytrace=False)
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "notebooks"
    root.mkdir()
    for name in (NB01, NB02):
        shutil.copy(NOTEBOOKS_DIR / name, root / name)
    for rel, value in SETTINGS.items():
        (tmp / "settings" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "settings" / rel).write_text(json.dumps(value))
    port, token = _free_port(), os.urandom(16).hex()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "QWEN3VL_MODEL": "tiny",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
    }
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1"]
    cmd += [f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    cmd += ["--LabApp.expose_app_in_browser=True", f"--LabApp.workspaces_dir={tmp / 'workspaces'}"]
    cmd += ["--LabApp.extension_manager=readonly"] + (["--allow-root"] if os.geteuid() == 0 else [])
    log = open(tmp / "lab.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"JupyterLab did not start: {(tmp / 'lab.log').read_text()[-2000:]}", pytrace=False)
        time.sleep(0.5)
    yield {"base": base, "token": token, "log": tmp / "lab.log"}
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    """A Chromium page (fresh, empty profile) driven by Playwright."""
    from playwright.sync_api import sync_playwright

    UI_DIR.mkdir(parents=True, exist_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


# JavaScript run in the page; `window.jupyterapp` exists because of --LabApp.expose_app_in_browser.
JS_READY = """name => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return !!(w && w.context && w.context.path === name && w.sessionContext && w.sessionContext.session
            && w.sessionContext.session.kernel && w.sessionContext.session.kernel.status === 'idle'
            && w.content.widgets.length > 0);
}"""
JS_STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  cells.forEach((c, i) => c.model.outputs.toJSON().forEach(o => {
    if (o.output_type === 'error') errors.push(`code cell ${i}: ${o.ename}: ${o.evalue}`);
  }));
  return {
    kernel: w.sessionContext.session.kernel.status,
    busy: cells.filter(c => c.promptNode && c.promptNode.textContent.includes('*')).length,
    executed: cells.filter(c => c.model.executionCount !== null).length,
    code: cells.length,
    errors,
  };
}"""

JS_WATCH_IMAGES = """i => {
  const node = window.jupyterapp.shell.currentWidget.content.widgets[i].node;
  window.__plotSources = [];
  const note = () => node.querySelectorAll('.jp-OutputArea img').forEach(img => {
    if (img.src && !window.__plotSources.includes(img.src)) window.__plotSources.push(img.src);
  });
  new MutationObserver(note).observe(node, {subtree: true, childList: true, attributes: true,
                                            attributeFilter: ['src']});
}"""


def _open(page, lab, name: str) -> None:
    page.goto(f"{lab['base']}/lab/tree/{name}?token={lab['token']}")
    page.wait_for_function(JS_READY, arg=name, timeout=120_000, polling=500)


def _wait_idle(page, timeout_s: float, until_executed: int | None = None) -> dict:
    """Poll until nothing is queued or running (twice in a row), or an error shows; return the state."""
    deadline, calm = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline:
        state = page.evaluate(JS_STATE)
        done = state["kernel"] == "idle" and state["busy"] == 0
        if until_executed is not None:
            done = done and state["executed"] >= until_executed
        calm = calm + 1 if done or state["errors"] else 0
        if calm >= 2:
            return state
        time.sleep(0.5)
    raise AssertionError(f"cells still running after {timeout_s:.0f} s: {state}")


def _expected_estimate(model: str, side: int) -> list[str]:
    """The figures notebook 01's calculator prints for `model` with one page of `side` px, computed here."""
    from helpers.estimate.memory import estimate_peak_memory

    est = estimate_peak_memory(
        CONFIGS_DIR / f"{model}.json", "bfloat16", 32768, 1, [(side, int(side * 1.414))]
    )
    gib = est.gib()
    return [f"{model} bfloat16 ctx=32768"] + [
        f"{gib[k]:.2f} GiB" for k in ("weights_bytes", "kv_cache_bytes", "activation_bytes", "peak_bytes")
    ]


def test_notebook_01_runs_and_the_calculator_follows_its_dropdown(page, lab):
    _open(page, lab, NB01)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    state = _wait_idle(page, timeout_s=600, until_executed=1)
    page.screenshot(path=str(UI_DIR / "01_after_run_all.png"), full_page=False)
    assert not state["errors"], state["errors"]
    assert state["executed"] == state["code"], state

    calculator = page.locator(".widget-interact").first
    calculator.scroll_into_view_if_needed()
    dropdown = calculator.locator("select").first
    output = calculator.locator(".widget-output").first
    assert dropdown.input_value() == "Qwen3-VL-30B-A3B-Instruct"
    before = output.inner_text()
    side = int(re.search(r"1 img of (\d+)px", before).group(1))  # the slider's value (a multiple of 32)
    for line in _expected_estimate("Qwen3-VL-30B-A3B-Instruct", side):
        assert line in before, (line, before)
    calculator.screenshot(path=str(UI_DIR / "01_calculator_before.png"))

    dropdown.select_option("Qwen3-VL-8B-Instruct")
    expected = _expected_estimate("Qwen3-VL-8B-Instruct", side)
    page.wait_for_function(
        "([el, text]) => el.innerText.includes(text)",
        arg=[output.element_handle(), expected[0]],
        timeout=60_000,
        polling=250,
    )
    after = output.inner_text()
    calculator.screenshot(path=str(UI_DIR / "01_calculator_after.png"))
    assert after != before and "Qwen3-VL-30B-A3B-Instruct" not in after
    for line in expected:
        assert line in after, (line, after)


def test_notebook_02_live_memory_plot_redraws_while_loading(page, lab):
    _open(page, lab, NB02)
    sources = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets"
        ".map(c => c.model.sharedModel.getSource())"
    )
    load = next(i for i, s in enumerate(sources) if "load_measured(" in s and "monitor=mon" in s)
    page.evaluate(
        """i => { const nb = window.jupyterapp.shell.currentWidget.content; nb.activeCellIndex = i;
                  return window.jupyterapp.commands.execute('notebook:run-all-above'); }""",
        load,
    )
    state = _wait_idle(page, timeout_s=300)
    assert not state["errors"], state["errors"]
    unrun = page.evaluate(
        """i => window.jupyterapp.shell.currentWidget.content.widgets.slice(0, i)
                 .filter(c => c.model.type === 'code' && c.model.executionCount === null).length""",
        load,
    )
    assert unrun == 0, f"{unrun} code cell(s) above the load cell did not run"

    # A MutationObserver records every image the load cell's output shows, however fast it changes.
    page.evaluate(JS_WATCH_IMAGES, load)
    page.evaluate(
        """i => { const nb = window.jupyterapp.shell.currentWidget.content; nb.activeCellIndex = i;
                  nb.scrollToItem(i, 'start'); window.jupyterapp.commands.execute('notebook:run-cell'); }""",
        load,
    )
    deadline, shot = time.monotonic() + 300, False
    while time.monotonic() < deadline:
        seen = page.evaluate("() => window.__plotSources")
        if seen and not shot:
            page.screenshot(path=str(UI_DIR / "02_live_plot_during_load.png"))
            shot = True
        state = page.evaluate(JS_STATE)
        if state["kernel"] == "idle" and state["busy"] == 0 and seen:
            break
        time.sleep(0.2)
    page.screenshot(path=str(UI_DIR / "02_live_plot_after_load.png"))
    state = _wait_idle(page, timeout_s=60)
    seen = page.evaluate("() => window.__plotSources")
    assert not state["errors"], state["errors"]
    # the first image, then at least two updates of it (redraws while loading, and the final plot)
    assert len(seen) >= 3, f"the memory plot changed {len(seen) - 1} time(s) while the load cell ran"
