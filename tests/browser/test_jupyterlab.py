"""The course as a learner sees it: each chapter opened and run in JupyterLab in headless Chromium.

nbval proves the kernel side; this proves the page. For each chapter in :data:`CHAPTERS` the test
copies its student edition (solutions replaced by stubs, outputs cleared; what `make lab-student`
serves) into the folder a fresh JupyterLab serves, opens it by
double-clicking it in the file browser, runs Run > Run All Cells, waits for the kernel to go idle
and then asserts, cell by cell, against the outputs stored in the committed notebook:

- every code cell ran and none shows an error (cells are numbered from 1, as JupyterLab's status
  bar counts them, markdown cells included);
- every stored figure is rendered as a loaded image (a solution cell, which holds the learner's
  stub, is not compared);
- the exercise checkers' verdict symbols (✔ ✘ ✎) render as glyphs, not as empty boxes (each is
  drawn in the outputs' font and compared with a code point no font has; a screenshot of one
  verdict is saved beside the chapter's);
- every stored ipywidget is rendered as a live control: moving it (a slider's arrow key, the next
  dropdown entry, ...) changes what the widget shows, which needs the widget extension in the
  page and the kernel answering; a progress bar (the training loop's tqdm.auto bar) must show
  that it reached its end (``n/n``).

A screenshot of the finished notebook is written for each chapter (also when it fails) to the
folder printed at the end of the run. Run it with ``python -m pytest -m browser tests/browser -v``;
``COURSEKIT_BROWSER_NOTEBOOKS=path.ipynb[:other.ipynb]`` drives those notebooks instead (a draft
chapter, or a deliberately broken copy), as they are rather than their student edition.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from coursekit.notebooks import BROWSER_CHAPTERS, SOLUTION_TAG, student_notebook

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser

# The chapters, run in their student edition; what to expect (figures, widgets per cell) is read
# from the committed chapter's stored outputs.
CHAPTERS = BROWSER_CHAPTERS
NOTEBOOKS_ENV = "COURSEKIT_BROWSER_NOTEBOOKS"
RUN_TIMEOUT_S = float(os.environ.get("COURSEKIT_BROWSER_TIMEOUT", "600"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
UI_TIMEOUT_MS = 60_000
WIDGET_TIMEOUT_S = 30.0  # from moving a control to the widget showing something else
RENDER_SETTLE_S = 10.0  # from the kernel going idle to widget views and images on the page
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _targets() -> list:
    """(notebook, edition): the course's chapters in their student edition; notebooks named in
    $COURSEKIT_BROWSER_NOTEBOOKS as they are."""
    if os.environ.get(NOTEBOOKS_ENV):
        paths = [Path(p).resolve() for p in os.environ[NOTEBOOKS_ENV].split(os.pathsep) if p]
        return [pytest.param(p, "as is", id=p.name) for p in paths]
    return [
        pytest.param(REPO / "chapters" / name, "student", id=f"{name}:student") for name in CHAPTERS
    ]


# -- what the committed notebook says the page must show ------------------------------------------
def expected_outputs(
    nb: nbformat.NotebookNode, student: bool = False
) -> dict[int, tuple[int, int] | None]:
    """Cell index -> (figures, widgets) in the stored outputs, for code cells with either.

    A widget output also carries a PNG fallback for viewers without widgets; it counts as a widget.
    In the student edition a solution cell holds the learner's stub, so what it shows is not
    compared (None).
    """
    expected = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if student and SOLUTION_TAG in cell.metadata.get("tags", []):
            expected[index] = None
            continue
        figures = widgets = 0
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_MIME in data:
                widgets += 1
            elif any(mime.startswith("image/") for mime in data):
                figures += 1
        if figures or widgets:
            expected[index] = (figures, widgets)
    return expected


def _fresh_copy(source: Path, folder: Path, student: bool = False) -> str:
    """Copy ``source`` (its student edition if ``student``) into the served folder with outputs
    cleared; returns the file name."""
    nb = nbformat.read(source, as_version=4)
    if student:
        nb = student_notebook(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, folder / source.name)
    return source.name


# -- driving the page ----------------------------------------------------------------------------
# The notebook panel of `path`, through the app that --LabApp.expose_app_in_browser puts on window.
_PANEL_JS = """(path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.content.model) return w;
  }
  return null;
}"""

_STATE_JS = f"""(path) => {{
  const panel = ({_PANEL_JS})(path);
  if (!panel) return {{ready: false}};
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const prompts = Array.from(panel.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt'));
  return {{
    ready: panel.sessionContext.isReady,
    status: kernel ? kernel.status : 'none',
    running: prompts.filter(p => p.textContent.includes('*')).length,
    executed: prompts.filter(p => /\\[\\d+\\]/.test(p.textContent)).length,
  }};
}}"""

# Per cell as rendered: top-level figures (loaded images) and widget views, and error text.
_RENDERED_JS = f"""(path) => {{
  const panel = ({_PANEL_JS})(path);
  const cells = Array.from(panel.content.widgets);
  return cells.map((cell, index) => {{
    const outputs = Array.from(cell.node.querySelectorAll('.jp-OutputArea-output'))
      .filter(o => !o.parentElement.closest('.jupyter-widgets'));
    let figures = 0, widgets = 0, broken = [];
    for (const o of outputs) {{
      const mime = o.dataset.mimeType || '';
      if (o.querySelector('.jupyter-widgets')) widgets += 1;
      else if (mime.startsWith('image/')) {{
        const img = o.querySelector('img');
        if (img && img.complete && img.naturalWidth > 0) figures += 1;
        else broken.push('image not loaded');
      }}
      if (/Error displaying widget|Loading widget\\.\\.\\./.test(o.textContent))
        broken.push(o.textContent.trim().slice(0, 200));
    }}
    return {{index, type: cell.model.type, figures, widgets, broken}};
  }});
}}"""

# What a widget shows (everything but its controls), to tell whether moving a control changed it.
_SHOWN_JS = """(root) => Array.from(root.querySelectorAll(
    '.widget-output, .widget-html-content, .widget-label-basic, img'))
  .map(e => e.tagName === 'IMG' ? e.src : e.innerHTML).join('|')"""


# Tracebacks a widget's own output area shows (a callback that raised inside `with output:`).
_WIDGET_ERRORS_JS = """(root) => Array.from(root.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
  .map(e => e.textContent)
  .filter(t => /Traceback|^\\w*(Error|Exception)\\b/m.test(t))"""


def _accept_kernel_dialog(page) -> str | None:
    """Accept a 'Select Kernel' dialog (it blocks Run All); return any other dialog's text."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() == 0 or not dialog.first.is_visible():
        return None
    text = dialog.first.inner_text()
    if "Select Kernel" in dialog.first.locator(".jp-Dialog-header").inner_text():
        dialog.first.locator(".jp-Dialog-button.jp-mod-accept").click()
        return None
    return text.strip()


def _wait_for(page, path: str, done, what: str, timeout_s: float, settle: int = 1) -> dict:
    """Poll the notebook's state until ``done(state)`` holds ``settle`` times in a row."""
    deadline, streak, state = time.monotonic() + timeout_s, 0, {}
    while time.monotonic() < deadline:
        other = _accept_kernel_dialog(page)
        if other:
            pytest.fail(f"JupyterLab showed an unexpected dialog while {what}:\n{other}")
        state = page.evaluate(_STATE_JS, path)
        streak = streak + 1 if done(state) else 0
        if streak >= settle:
            return state
        page.wait_for_timeout(500)
    pytest.fail(f"timed out after {timeout_s:.0f} s {what}; last state {state}")


def _open_notebook(page, server, name: str) -> None:
    """Open JupyterLab and the notebook through the file browser; wait for its kernel."""
    # A fresh workspace (`?reset`): nothing reopens from the previous chapter's session.
    page.goto(f"{server.url}lab?reset&token={server.token}", timeout=UI_TIMEOUT_MS)
    item = page.locator(".jp-DirListing-itemText").filter(
        has_text=re.compile(f"^{re.escape(name)}$")
    )
    item.first.dblclick(timeout=UI_TIMEOUT_MS)
    _wait_for(
        page,
        name,
        lambda s: s.get("ready") and s.get("status") == "idle",
        "waiting for the notebook's kernel to start",
        timeout_s=120,
    )


def _run_all(page, name: str) -> float:
    """Run > Run All Cells from the menu bar; wait until the kernel is idle with nothing queued."""
    start = time.monotonic()
    for attempt in range(2):
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).first.click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').first.click()
        try:
            _wait_for(
                page,
                name,
                lambda s: s.get("running", 0) > 0 or s.get("executed", 0) > 0,
                "waiting for Run All Cells to start",
                timeout_s=20,
            )
            break
        except pytest.fail.Exception:
            if attempt == 1:
                raise
    _wait_for(
        page,
        name,
        lambda s: s.get("status") == "idle" and s.get("running") == 0,
        "running all cells",
        timeout_s=RUN_TIMEOUT_S,
        settle=3,
    )
    return time.monotonic() - start


def _move(control) -> str:
    """Move one control as a learner would; return what was done (or '' if it is not a control)."""
    kind = control.evaluate(
        "e => e.getAttribute('role') === 'slider' ? 'slider' : e.tagName.toLowerCase()"
        " + (e.type ? ':' + e.type : '')"
    )
    if kind == "slider":
        before = control.get_attribute("aria-valuenow")
        control.focus()
        for _ in range(3):
            control.press("ArrowRight")
        if control.get_attribute("aria-valuenow") == before:  # at the maximum already
            for _ in range(6):
                control.press("ArrowLeft")
        after = control.get_attribute("aria-valuenow")
        return f"slider {before} -> {after}" if after != before else ""
    if kind.startswith("select"):
        options = control.evaluate("e => Array.from(e.options).map(o => o.value)")
        current = control.input_value()
        others = [o for o in options if o != current]
        if not others:
            return ""
        control.select_option(others[0])
        return f"dropdown {current!r} -> {others[0]!r}"
    if kind == "input:checkbox":
        control.click()
        return "checkbox toggled"
    if kind == "input:text" and control.get_attribute("list"):  # a Combobox: pick another entry
        options = control.evaluate(
            "e => Array.from(e.list ? e.list.options : []).map(o => o.value)"
        )
        current = control.input_value()
        others = [o for o in options if o != current]
        if not others:
            return ""
        control.fill(others[0])
        control.press("Enter")
        return f"combobox {current!r} -> {others[0]!r}"
    if kind == "input:number":
        control.focus()
        control.press("ArrowUp")
        control.press("Enter")
        return "number stepped up"
    if kind.startswith("button"):
        control.click()
        return "button clicked"
    return ""


def _check_progress_finished(widget, where: str) -> str:
    """A progress bar (tqdm.auto in a notebook) has nothing to move: it must show ``n/n``."""
    text = " ".join((widget.text_content() or "").split())
    done = re.search(r"\b(\d+)/\1\b", text)
    if not done:
        pytest.fail(f"{where}: the progress bar did not reach its end: {text!r}", pytrace=False)
    return f"progress bar at {done.group(0)}"


def _check_widget_is_live(page, widget, where: str) -> str:
    """Move the widget's first control and wait until what it shows changes."""
    controls = widget.locator(
        "[role=slider], select, input[type=checkbox], input[type=number], input[list], "
        ".widget-toggle-buttons button:not(.mod-active), .widget-button"
    )
    if controls.count() == 0:
        if widget.locator(".widget-hprogress, .widget-vprogress").count():
            return _check_progress_finished(widget, where)
        pytest.fail(
            f"{where}: the widget has no control this test knows how to move; "
            "extend _move() in tests/browser/test_jupyterlab.py"
        )
    before = widget.evaluate(_SHOWN_JS)
    done = ""
    for i in range(controls.count()):
        done = _move(controls.nth(i))
        if done:
            break
    if not done:
        pytest.fail(f"{where}: none of the widget's controls could be moved")
    deadline = time.monotonic() + WIDGET_TIMEOUT_S
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        now = widget.evaluate(_SHOWN_JS)
        if now and now != before:
            page.wait_for_timeout(500)  # let a redraw that fails finish printing its traceback
            errors = widget.evaluate(_WIDGET_ERRORS_JS)
            if errors:
                pytest.fail(
                    f"{where}: after '{done}' the widget shows an error:\n{errors[0]}",
                    pytrace=False,
                )
            return done
    pytest.fail(
        f"{where}: the widget is not live: after '{done}' what it shows did not change "
        f"in {WIDGET_TIMEOUT_S:.0f} s (is the kernel answering? is the widget wired to its output?)",
        pytrace=False,
    )


_MODEL_JS = f"(path) => JSON.stringify(({_PANEL_JS})(path).content.model.toJSON())"

# Each character drawn in the font the page uses for outputs, compared with two code points no
# font has (they show the font's "missing glyph" box): a symbol drawn like them renders as a box.
_GLYPHS_JS = """(chars) => {
  const pre = document.querySelector('.jp-OutputArea-output pre') || document.body;
  const font = getComputedStyle(pre).fontFamily;
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 48;
  const ctx = canvas.getContext('2d');
  const draw = (ch) => {
    ctx.clearRect(0, 0, 48, 48);
    ctx.font = `32px ${font}`;
    ctx.fillStyle = '#000';
    ctx.fillText(ch, 4, 38);
    return Array.from(ctx.getImageData(0, 0, 48, 48).data).join(',');
  };
  const missing = [draw('\u0378'), draw('\u0380')];
  return {
    font,
    method_ok: missing[0] === missing[1],
    boxes: chars.filter(ch => draw(ch) === missing[0] || !/[1-9]/.test(draw(ch))),
  };
}"""


def _verdict_glyph_problems(page, model: nbformat.NotebookNode) -> tuple[list[str], str]:
    """The exercise checkers' verdict symbols the page shows must render as glyphs, not boxes."""
    from coursekit.exercises.core import _ICONS

    text = "".join(
        output.get("text", "")
        for cell in model.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    shown = sorted({icon for icon in _ICONS.values() if icon in text})
    if not shown:
        return [], "no exercise verdicts on this page"
    # Every verdict a checker can give, not only those shown: a student edition shows only
    # "not attempted yet" until the learner answers.
    shown = sorted(set(_ICONS.values()))
    result = page.evaluate(_GLYPHS_JS, shown)
    if not result["method_ok"]:
        return [], f"glyph check not possible with font {result['font']!r}"
    problems = [
        f"the verdict symbol {ch!r} renders as an empty box in {result['font']!r}"
        for ch in result["boxes"]
    ]
    return problems, f"verdict symbols {' '.join(shown)} render in {result['font']!r}"


def _problems(
    model: nbformat.NotebookNode, rendered: list[dict], expected: dict[int, tuple[int, int]]
) -> list[str]:
    """What is wrong with the run notebook ``model`` and the ``rendered`` page, one line each."""
    problems = []
    for index, cell in enumerate(model.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.output_type == "error":
                trace = _ANSI.sub("", "\n".join(output.get("traceback", [])[-3:]))
                problems.append(f"cell {index + 1} raised {output.ename}: {output.evalue}\n{trace}")
        if cell.execution_count is None and cell.source.strip():
            problems.append(f"cell {index + 1} never ran")
    if len(rendered) != len(model.cells):
        problems.append(
            f"the page shows {len(rendered)} cells, the notebook has {len(model.cells)}"
        )
    for cell in rendered:
        if cell["index"] >= len(model.cells) or (
            cell["type"] == "code" and model.cells[cell["index"]].execution_count is None
        ):
            continue  # reported above
        want = expected.get(cell["index"], (0, 0))
        got = (cell["figures"], cell["widgets"])
        if want is not None and got != want:
            problems.append(
                f"cell {cell['index'] + 1}: expected {want[0]} figure(s) and {want[1]} live "
                f"widget(s) as in the committed notebook, the page shows {got[0]} and {got[1]}"
            )
        problems.extend(f"cell {cell['index'] + 1}: {text}" for text in cell["broken"])
    return problems


def _screenshot(page, path: Path, report) -> None:
    """The whole notebook in one picture: grow the window to the notebook's height first."""
    try:
        extra = page.evaluate(
            """() => {
              const s = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
              if (!s) return 0;
              s.scrollTop = 0;
              return Math.max(0, s.scrollHeight - s.clientHeight);
            }"""
        )
        size = page.viewport_size or {"width": 1280, "height": 900}
        page.set_viewport_size(
            {"width": size["width"], "height": min(size["height"] + extra, 16000)}
        )
        page.wait_for_timeout(1000)
        page.screenshot(path=str(path), full_page=True)
    except Exception as error:  # never hide the test's own failure behind a screenshot problem
        report(f"could not save {path}: {error}")


# -- the test ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("notebook", "edition"), _targets())
def test_chapter_runs_in_jupyterlab(
    notebook: Path, edition: str, lab_server, browser, artifacts_dir, report
):
    if not notebook.is_file():
        pytest.skip(
            f"{notebook.relative_to(REPO) if notebook.is_relative_to(REPO) else notebook} does not exist (yet)"
        )
    committed = nbformat.read(notebook, as_version=4)
    code_cells = [i for i, c in enumerate(committed.cells) if c.cell_type == "code"]
    if code_cells and all(committed.cells[i].get("execution_count") is None for i in code_cells):
        pytest.fail(
            f"{notebook.name} has no stored outputs to compare with; "
            f"run `python -m coursekit execute {notebook}` first"
        )
    student = edition == "student"
    expected = expected_outputs(committed, student)
    name = _fresh_copy(notebook, lab_server.root, student)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # Only the local server: the Colab badge and anything else remote are refused in the page.
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(lab_server.url) else route.abort()
        ),
    )
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    shot = artifacts_dir / f"{notebook.stem}.png"
    started = time.monotonic()
    try:
        _open_notebook(page, lab_server, name)
        seconds = _run_all(page, name)

        # What the kernel produced (the page's notebook model) and what the page shows; widget
        # views and images render a moment after the kernel is idle, so look again for a while.
        deadline = time.monotonic() + RENDER_SETTLE_S
        while True:
            model = nbformat.reads(page.evaluate(_MODEL_JS, name), as_version=4)
            problems = _problems(model, page.evaluate(_RENDERED_JS, name), expected)
            if not problems or time.monotonic() > deadline:
                break
            page.wait_for_timeout(500)
        if problems:
            pytest.fail(
                f"{notebook.name} in JupyterLab:\n- "
                + "\n- ".join(problems)
                + (f"\npage errors: {page_errors}" if page_errors else ""),
                pytrace=False,
            )

        glyph_problems, glyphs = _verdict_glyph_problems(page, model)
        if glyph_problems:
            pytest.fail(f"{notebook.name}: " + "; ".join(glyph_problems), pytrace=False)
        verdict = page.locator(
            ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output pre",
            has_text=re.compile("passed \\(\\d+ checks\\)|not attempted yet"),
        )
        if verdict.count():
            verdict.first.scroll_into_view_if_needed()
            verdict.first.screenshot(path=str(artifacts_dir / f"{notebook.stem}-verdict.png"))

        moved = []
        compared = {i: want for i, want in expected.items() if want is not None}
        for index, (_, widgets) in sorted(compared.items()):
            if not widgets:
                continue
            cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(index)
            views = cell.locator(".jp-OutputArea-output:has(> .jupyter-widgets)")
            for view in range(views.count()):
                where = f"{notebook.name} cell {index + 1} widget {view + 1}"
                views.nth(view).scroll_into_view_if_needed()
                moved.append(f"{where}: {_check_widget_is_live(page, views.nth(view), where)}")
        report(
            f"{notebook.name}: ran all {len(code_cells)} code cells in {seconds:.1f} s "
            f"({time.monotonic() - started:.1f} s with opening and checks); "
            f"{sum(f for f, _ in compared.values())} figure(s), "
            f"{sum(w for _, w in compared.values())} widget(s)"
        )
        report(f"  {glyphs}")
        for line in moved:
            report(f"  {line}")
    finally:
        _screenshot(page, shot, report)
        report(f"screenshot: {shot}")
        context.close()
        lab_server.shutdown_kernels()
        (lab_server.root / name).unlink(missing_ok=True)
