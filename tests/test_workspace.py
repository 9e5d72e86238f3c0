"""The learner's working copy (make lab): seeded from chapters/, never overwriting their work."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from coursekit.cli import main
from coursekit.workspace import LAB_FLAGS, MANIFEST, lab_command, sync_workspace

REPO = Path(__file__).resolve().parent.parent


def _chapter(folder: Path, name: str, source: str, output: str = "") -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    if output:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name[:2]} · t"), cell]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


@pytest.fixture
def course(tmp_path):
    upstream = tmp_path / "chapters"
    _chapter(upstream, "00_setup.ipynb", "x = 0")
    _chapter(upstream, "01_one.ipynb", "x = 1")
    return upstream, tmp_path / "my-notebooks"


def test_first_run_copies_every_chapter(course):
    upstream, work = course
    report = sync_workspace(upstream, work)
    assert report.copied == ["00_setup.ipynb", "01_one.ipynb"]
    for name in report.copied:
        assert (work / name).read_bytes() == (upstream / name).read_bytes()
    assert (work / MANIFEST).is_file()
    assert "my-notebooks/ (git-ignored" in str(report) and "never conflicts" in str(report)
    again = sync_workspace(upstream, work)
    assert again.unchanged == report.copied and not again.copied
    assert "2 chapters, all current" in str(again)


def test_a_new_chapter_is_copied_in_and_the_learners_files_are_left_alone(course):
    upstream, work = course
    sync_workspace(upstream, work)
    (work / "notes.ipynb").write_text("my own notebook")
    _chapter(upstream, "02_two.ipynb", "x = 2")
    report = sync_workspace(upstream, work)
    assert report.copied == ["02_two.ipynb"]
    assert (work / "notes.ipynb").read_text() == "my own notebook"


def test_an_untouched_chapter_follows_the_course(course):
    upstream, work = course
    sync_workspace(upstream, work)
    _chapter(upstream, "01_one.ipynb", "x = 1", output="new stored output")
    report = sync_workspace(upstream, work)
    assert report.updated == ["01_one.ipynb"]
    assert (work / "01_one.ipynb").read_bytes() == (upstream / "01_one.ipynb").read_bytes()


def test_the_learners_version_is_never_overwritten(course):
    upstream, work = course
    sync_workspace(upstream, work)
    mine = _chapter(work, "01_one.ipynb", "x = 1  # my edit", output="my run")
    mine_bytes = mine.read_bytes()
    _chapter(upstream, "01_one.ipynb", "x = 'the course changed this cell'")
    report = sync_workspace(upstream, work)
    assert report.changed_upstream == ["01_one.ipynb"] and not report.updated
    assert mine.read_bytes() == mine_bytes
    assert "01_one.ipynb: changed in" in str(report) and "make lab-refresh" in str(report)
    # Reported again until the learner asks for the new version ...
    assert sync_workspace(upstream, work).changed_upstream == ["01_one.ipynb"]
    # ... which comes beside theirs, theirs still untouched.
    refreshed = sync_workspace(upstream, work, refresh=True)
    (beside,) = refreshed.written_beside
    assert beside.startswith("01_one.upstream-") and beside.endswith(".ipynb")
    assert (work / beside).read_bytes() == (upstream / "01_one.ipynb").read_bytes()
    assert mine.read_bytes() == mine_bytes
    assert f"beside yours as {beside}" in str(refreshed)
    assert sync_workspace(upstream, work).changed_upstream == []  # seen: no more reports


def test_new_outputs_alone_are_not_news_for_a_learner_who_ran_the_chapter(course):
    upstream, work = course
    sync_workspace(upstream, work)
    mine = _chapter(work, "01_one.ipynb", "x = 1", output="my run")
    _chapter(upstream, "01_one.ipynb", "x = 1", output="the maintainers' run")
    report = sync_workspace(upstream, work)
    assert report.changed_upstream == [] and report.unchanged == ["00_setup.ipynb", "01_one.ipynb"]
    assert "my run" in mine.read_text()


def test_a_deleted_chapter_comes_back_fresh(course):
    upstream, work = course
    sync_workspace(upstream, work)
    _chapter(work, "00_setup.ipynb", "broken beyond repair")
    (work / "00_setup.ipynb").unlink()
    assert sync_workspace(upstream, work).copied == ["00_setup.ipynb"]
    assert (work / "00_setup.ipynb").read_bytes() == (upstream / "00_setup.ipynb").read_bytes()


def test_a_copy_from_before_the_record_counts_as_the_learners(course):
    upstream, work = course
    _chapter(work, "01_one.ipynb", "x = 'mine, made before make lab kept records'")
    report = sync_workspace(upstream, work)
    assert report.copied == ["00_setup.ipynb"] and report.changed_upstream == ["01_one.ipynb"]
    assert "mine, made before" in (work / "01_one.ipynb").read_text()


def test_no_chapters_says_how_to_build_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"make student"):
        sync_workspace(tmp_path / "student", tmp_path / "work")


def test_workspace_command(course, capsys):
    upstream, work = course
    assert main(["workspace", str(upstream), str(work)]) == 0
    assert "copied in: 00_setup.ipynb, 01_one.ipynb" in capsys.readouterr().out
    assert main(["workspace", str(upstream / "nothing"), str(work)]) == 1


def test_lab_command_serves_the_copy_without_news_or_update_checks():
    command = lab_command("my-notebooks", port=8899)
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--ServerApp.root_dir=my-notebooks" in command and "--ServerApp.port=8899" in command
    assert set(LAB_FLAGS) <= set(command)
    assert ("--allow-root" in command) == (os.geteuid() == 0)


def test_makefile_lab_targets_use_the_working_copies():
    makefile = (REPO / "Makefile").read_text()
    assert "coursekit lab chapters $(WORK)" in makefile
    assert "coursekit lab student $(STUDENT_WORK)" in makefile
    assert "--refresh" in makefile
    ignored = (REPO / ".gitignore").read_text().split()
    assert "my-notebooks/" in ignored and "my-student-notebooks/" in ignored


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, token: str) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


@pytest.mark.slow
def test_coursekit_lab_starts_jupyterlab_on_the_copy(course, tmp_path):
    """`python -m coursekit lab` (what `make lab` runs): the copy is served, the page has news
    turned off (no pop-up) and the update check answers nothing; the server is stopped after."""
    pytest.importorskip("jupyterlab")
    upstream, work = course
    state = tmp_path / "state"
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(state / name.lower())
    env.update(HOME=str(state / "home"), JUPYTER_PLATFORM_DIRS="1")
    port, token = _free_port(), secrets.token_hex(16)
    extra = [
        "--",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.open_browser=False",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    log = tmp_path / "lab.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coursekit",
                "lab",
                str(upstream),
                str(work),
                "--port",
                str(port),
                *extra,
            ],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                contents = json.loads(_get(base + "api/contents", token))
                break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        names = sorted(item["name"] for item in contents["content"])
        assert names == ["00_setup.ipynb", "01_one.ipynb"]  # the copy (the manifest is hidden)
        assert json.loads(_get(base + "lab/api/news", token)) == {"news": []}
        assert json.loads(_get(base + "lab/api/update", token)) == {"notification": None}
        page = _get(base + "lab", token).decode()
        assert '"news": {"disabled": true}' in page or '"news":{"disabled":true}' in page
        out = log.read_text()
        assert "Your working copy:" in out and "Opening JupyterLab on" in out
    finally:
        if process.poll() is None:  # the server and the coursekit process that started it
            os.killpg(process.pid, 15)
        process.wait(timeout=30)
