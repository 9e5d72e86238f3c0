"""coursekit.syllabus: one source for study time, prerequisites and measured run times."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from coursekit import notebooks, report, syllabus
from coursekit.cli import main
from coursekit.syllabus import CHAPTERS

REPO = Path(__file__).resolve().parent.parent


def test_prerequisites_are_earlier_chapters():
    numbers = [c.number for c in CHAPTERS]
    for ch in CHAPTERS:
        for number, _ in ch.requires:
            assert number in numbers and number < ch.number, (ch.number, number)


def test_prerequisites_read_the_same_in_table_and_header():
    gru = next(c for c in CHAPTERS if c.number == "05")
    assert gru.prerequisites == "03, 04"
    assert gru.prerequisites_sentence == "Chapters 03 (RNN, the training loop) and 04 (LSTM gates)."
    rnn = next(c for c in CHAPTERS if c.number == "03")
    assert rnn.prerequisites == "02; PyTorch tensors and autograd"
    assert rnn.prerequisites_sentence.startswith("Chapter 02 (language models")
    assert rnn.prerequisites_sentence.endswith("; PyTorch tensors and autograd.")


def _measured(tmp_path: Path, **chapters: tuple[float, float, str]) -> Path:
    path = tmp_path / "measured.json"
    machine = {"cpu": "Test CPU", "threads": 2, "matmul_gflops": 40.0, "torch": "x", "date": "d"}
    data = {
        "machine": machine,
        "chapters": {
            n[1:]: {"seconds": s, "peak_mb": m, "code_sha256": h}
            for n, (s, m, h) in chapters.items()
        },
    }
    path.write_text(json.dumps(data))
    return path


def test_header_lines_come_from_the_syllabus_and_the_measurement(tmp_path):
    rnn = next(c for c in CHAPTERS if c.number == "03")
    prereq, time = syllabus.header_lines(rnn, tmp_path / "none.json")
    assert prereq == f"**Prerequisites.** {rnn.prerequisites_sentence}"
    assert time == (
        f"**Time.** About {rnn.study_minutes} minutes of study; its top-to-bottom run time is "
        "not measured yet."
    )
    measured = _measured(tmp_path, c03=(47.0, 900.0, "abc"))
    _, time = syllabus.header_lines(rnn, measured)
    assert "a top-to-bottom run takes about 45 s on 2 CPU threads (measured" in time


def test_chapter_table_shows_the_measurement_and_the_machine(tmp_path):
    measured = _measured(tmp_path, c01=(126.4, 1530.0, "abc"), c02=(31.0, 612.0, "def"))
    table = syllabus.chapter_table(REPO / "chapters", measured)
    rows = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| 0")}
    assert "| 2.1 min, 1.5 GB |" in rows["| 01"] and "| 30 s, 610 MB |" in rows["| 02"]
    assert "| — |" in rows["| 03"]
    assert "2 CPU threads of Test CPU (40 GFLOP/s in an fp32 matrix multiply)" in table


def _chapters(tmp_path: Path) -> Path:
    folder = tmp_path / "chapters"
    folder.mkdir()
    for name in ("00_setup.ipynb", "02_language_models.ipynb"):
        shutil.copyfile(REPO / "chapters" / name, folder / name)
    return folder


def _log(path: Path, *entries: dict) -> Path:
    with path.open("a") as fh:
        for entry in entries:
            base = {"cpu": "Test CPU", "threads": 2, "matmul_gflops": 40.0, "torch": "x"}
            base["finished"] = "2026-01-02T03:04:05Z"
            fh.write(json.dumps(base | entry) + "\n")
    return path


def test_measure_from_log_matches_entries_to_the_code_that_ran(tmp_path):
    chapters = _chapters(tmp_path)
    sha00 = syllabus.chapter_fingerprint(chapters / "00_setup.ipynb")
    sha02 = syllabus.chapter_fingerprint(chapters / "02_language_models.ipynb")
    assert sha00 != sha02
    log = _log(
        tmp_path / "run-log.jsonl",
        {"seconds": 9.0, "peak_mb": 300.0, "code_sha256": sha00},
        {"seconds": 99.0, "peak_mb": 999.0, "code_sha256": "a student edition or an old version"},
        {"seconds": 33.3, "peak_mb": 640.4, "code_sha256": sha02},
        {"seconds": 6.04, "peak_mb": 310.0, "code_sha256": sha00},  # the last run wins
    )
    out = tmp_path / "measured.json"
    lines = syllabus.measure_from_log(log, chapters, out)
    assert lines[0] == "4 log entries, 3 matched chapters ['00', '02']"
    machine, measured = syllabus.load_measured(out)
    assert measured == {
        "00": syllabus.Measurement(6.0, 310, sha00, "Test CPU", 40.0),
        "02": syllabus.Measurement(33.3, 640, sha02, "Test CPU", 40.0),
    }
    assert machine["cpu"] == "Test CPU" and machine["threads"] == 2
    assert machine["date"] == "2026-01-02"
    assert syllabus.stale_measurements(chapters, out) == {}


def test_a_chapter_changed_after_its_measurement_is_stale(tmp_path):
    """The test that keeps the README's run times no older than the chapters."""
    chapters = _chapters(tmp_path)
    sha00 = syllabus.chapter_fingerprint(chapters / "00_setup.ipynb")
    log = _log(tmp_path / "log.jsonl", {"seconds": 5.0, "peak_mb": 300.0, "code_sha256": sha00})
    out = tmp_path / "measured.json"
    syllabus.measure_from_log(log, chapters, out)
    assert syllabus.stale_measurements(chapters, out) == {
        "02_language_models.ipynb": "never measured"
    }
    nb = nbformat.read(chapters / "00_setup.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[2].source += "\nprint('one more line')"
    nbformat.write(nb, chapters / "00_setup.ipynb")
    assert syllabus.stale_measurements(chapters, out)["00_setup.ipynb"] == (
        "its code changed after it was measured"
    )
    # A log without a run of the new version drops the old number instead of keeping it.
    lines = syllabus.measure_from_log(log, chapters, out)
    assert any("00: its code changed" in line for line in lines)
    assert "00" not in syllabus.load_measured(out)[1]


def test_a_markdown_edit_keeps_the_measurement(tmp_path):
    chapters = _chapters(tmp_path)
    before = syllabus.chapter_fingerprint(chapters / "00_setup.ipynb")
    nb = nbformat.read(chapters / "00_setup.ipynb", as_version=4)
    nb.cells[0].source += "\n\nA new sentence."
    nbformat.write(nb, chapters / "00_setup.ipynb")
    assert syllabus.chapter_fingerprint(chapters / "00_setup.ipynb") == before


def test_syllabus_command(tmp_path, capsys):
    chapters = _chapters(tmp_path)
    out = tmp_path / "measured.json"
    args = ["syllabus", "--chapters", str(chapters), "--measured", str(out)]
    with pytest.raises(FileNotFoundError, match="make notebooks"):
        main([*args, "--from-log", str(tmp_path / "missing.jsonl")])
    entries = [
        {"seconds": 5.0, "peak_mb": 300.0, "code_sha256": syllabus.chapter_fingerprint(p)}
        for p in sorted(chapters.glob("*.ipynb"))
    ]
    assert main([*args, "--from-log", str(_log(tmp_path / "log.jsonl", *entries))]) == 0
    assert main(args) == 0
    (chapters / "00_setup.ipynb").write_text(
        (REPO / "chapters" / "00_setup.ipynb").read_text().replace("softmax", "soft_max")
    )
    assert main(args) == 1
    assert "00_setup.ipynb: its code changed after it was measured" in capsys.readouterr().out


def test_a_chapter_run_logs_the_fingerprint_of_its_code(tmp_path, capsys):
    """End to end: `coursekit execute` runs a chapter whose run_report() logs the fingerprint
    of the cells that ran, which is the fingerprint of the file."""
    path = notebooks.new_chapter(tmp_path / "77_tiny.ipynb", "Tiny")
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("x = 6 * 7\n\n"))
    nbformat.write(nb, path)
    log = tmp_path / "logs" / "run-log.jsonl"
    assert main(["execute", "--run-log", str(log), str(path)]) == 0
    (entry,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert entry["code_sha256"] == syllabus.chapter_fingerprint(path)
    assert entry["cells"] == 2 and entry["seconds"] > 0 and entry["peak_mb"] > 0
    assert entry["cpu"] == report.cpu_model() and entry["matmul_gflops"] > 0
    assert entry["threads"] >= 1


def test_code_fingerprint_ignores_trailing_whitespace_only():
    assert report.code_fingerprint(["x = 1\n\n", "y"]) == report.code_fingerprint(["x = 1", "y"])
    assert report.code_fingerprint(["x = 1", "y"]) != report.code_fingerprint(["x = 1y"])
    assert report.code_fingerprint(["x = 1"]) != report.code_fingerprint([" x = 1"])


def test_chapter_table_names_each_machine_when_chapters_ran_on_several(tmp_path):
    measured = _measured(tmp_path, c01=(126.4, 1530.0, "abc"), c02=(31.0, 612.0, "def"))
    data = json.loads(measured.read_text())
    data["chapters"]["02"].update(cpu="Other CPU", matmul_gflops=120.0)
    measured.write_text(json.dumps(data))
    table = syllabus.chapter_table(REPO / "chapters", measured)
    assert "Test CPU (40 GFLOP/s in an fp32 matrix multiply) for chapter 01" in table
    assert "Other CPU (120 GFLOP/s in an fp32 matrix multiply) for chapter 02" in table
