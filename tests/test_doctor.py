import importlib
import subprocess
import sys

from coursekit.doctor import doctor


def test_doctor_reports_ok_on_this_machine(capsys, monkeypatch):
    monkeypatch.delenv("COURSEKIT_DEVICE", raising=False)
    report = doctor()
    out = capsys.readouterr().out
    assert report.ok, out
    names = [c.name for c in report.checks]
    assert {"python", "torch", "numpy", "device", "threads"} <= set(names)
    assert any(n.startswith("data: ") for n in names)
    assert "Result: all good." in out


def test_doctor_names_a_corrupted_file_and_the_fix(fake_data, capsys):
    (fake_data / "hello.txt").write_text("tampered!!!\n")
    report = doctor()
    out = capsys.readouterr().out
    assert not report.ok
    (bad,) = report.problems
    assert bad.name == "data: hello" and "corrupted" in bad.found
    assert "--only hello" in bad.fix and "-> " in out and "1 problem(s)" in out


def test_doctor_reports_bad_device_setting(monkeypatch, capsys):
    monkeypatch.setenv("COURSEKIT_DEVICE", "tpu")
    report = doctor(verbose=False)
    (bad,) = report.problems
    assert bad.name == "device" and "Unknown device 'tpu'" in bad.fix


def test_cli_exit_code(fake_data):
    env_ok = subprocess.run(
        [sys.executable, "-m", "coursekit", "doctor"], capture_output=True, text=True
    )
    assert env_ok.returncode == 0, env_ok.stdout + env_ok.stderr
    (fake_data / "hello.txt").unlink()
    broken = subprocess.run(
        [sys.executable, "-m", "coursekit", "doctor"], capture_output=True, text=True
    )
    assert broken.returncode == 1 and "hello.txt is missing" in broken.stdout


def test_optional_packages_read_as_optional(monkeypatch, capsys):
    """A missing optional package is a '--' line saying what it is for, never 'ok … not installed'."""
    doctor_module = importlib.import_module("coursekit.doctor")  # (the package exports doctor())
    real = doctor_module._version
    monkeypatch.setattr(doctor_module, "_version", lambda d: None if d == "gensim" else real(d))
    report = doctor()
    out = capsys.readouterr().out
    assert report.ok, out
    (line,) = [line for line in out.splitlines() if "gensim" in line]
    assert line.lstrip().startswith("-- optional gensim")
    assert "not installed (chapter 01 then evaluates on WordNet only" in line
    assert "pip install 'coursekit[embeddings]'" in line
    assert not any(
        line.lstrip().startswith("ok") and "not installed" in line for line in out.splitlines()
    )
    installed = [c for c in report.checks if c.name == "optional jupyterlab"]
    assert installed and not installed[0].optional and installed[0].found[0].isdigit()
