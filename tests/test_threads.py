"""CPU budget and OpenMP waiting: affinity, cgroup quotas (fake files), torchrun, shared servers."""

import os
import subprocess
import sys

import pytest

from coursekit import _compat
from coursekit._compat import (
    EnvironmentProblem,
    available_cores,
    cgroup_cpu_limit,
    configure_openmp_waiting,
    default_threads,
    requested_threads,
)

_WAITING = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "COURSEKIT_SHARED", "COURSEKIT_NUM_THREADS")


@pytest.fixture
def cgroups(tmp_path, monkeypatch):
    """A fake /proc/self/cgroup and /sys/fs/cgroup; returns a function that writes files in it."""
    root = tmp_path / "sys_fs_cgroup"
    root.mkdir()
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("0::/\n")
    monkeypatch.setattr(_compat, "_PROC_CGROUP", proc)
    monkeypatch.setattr(_compat, "_CGROUP_ROOT", root)

    def write(relative: str, text: str) -> None:
        path = proc if relative == "/proc/self/cgroup" else root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    return write


@pytest.fixture
def cores(monkeypatch):
    """Pretend the CPU affinity allows ``n`` cores."""

    def set_affinity(n: int) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)

    return set_affinity


def test_no_quota_anywhere(cgroups, cores):
    cgroups("cpu.max", "max 100000\n")
    cgroups("cpu/cpu.cfs_quota_us", "-1\n")
    cgroups("cpu/cpu.cfs_period_us", "100000\n")
    cores(3)
    assert cgroup_cpu_limit() is None
    assert available_cores() == 3  # the affinity, not os.cpu_count()


def test_cgroup_v2_quota_of_a_parent_caps_the_cores(cgroups, cores):
    cgroups("/proc/self/cgroup", "0::/user.slice/user-1000.slice/kernel-7.scope\n")
    cgroups("user.slice/user-1000.slice/kernel-7.scope/cpu.max", "max 100000\n")
    cgroups("user.slice/user-1000.slice/cpu.max", "150000 100000\n")
    cgroups("cpu.max", "400000 100000\n")
    cores(8)
    assert cgroup_cpu_limit() == pytest.approx(1.5)
    assert available_cores() == 1  # 1.5 CPUs: a second thread would be throttled


def test_cgroup_v1_quota_seen_from_inside_a_container(cgroups, cores):
    # Without a cgroup namespace the process's path does not exist under the mount: the
    # container's own limits are at the mount's root.
    cgroups("/proc/self/cgroup", "4:cpu,cpuacct:/docker/0123abcd\n3:memory:/docker/0123abcd\n")
    cgroups("cpu,cpuacct/cpu.cfs_quota_us", "200000\n")
    cgroups("cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    cores(16)
    assert cgroup_cpu_limit() == pytest.approx(2.0)
    assert available_cores() == 2


def test_a_quota_below_one_cpu_still_gives_one_core(cgroups, cores):
    cgroups("cpu.max", "50000 100000\n")
    cores(4)
    assert cgroup_cpu_limit() == pytest.approx(0.5) and available_cores() == 1


def test_damaged_cgroup_files_are_ignored(cgroups, cores):
    cgroups("cpu.max", "lots\n")
    cgroups("cpu/cpu.cfs_quota_us", "abc\n")
    cgroups("cpu/cpu.cfs_period_us", "0\n")
    cores(2)
    assert cgroup_cpu_limit() is None and available_cores() == 2


def test_default_threads_cap_torchrun_and_shared(cgroups, cores):
    cores(64)
    assert default_threads({}) == 8
    cores(8)
    assert default_threads({}) == 8
    assert default_threads({"LOCAL_WORLD_SIZE": "4"}) == 2  # torchrun: 4 processes share 8
    assert default_threads({"LOCAL_WORLD_SIZE": "16"}) == 1
    assert default_threads({"COURSEKIT_SHARED": "1"}) == 1
    assert requested_threads({"COURSEKIT_SHARED": "1", "COURSEKIT_NUM_THREADS": "3"}) == 3
    cgroups("cpu.max", "300000 100000\n")
    assert default_threads({}) == 3


def test_bad_settings_are_named():
    with pytest.raises(EnvironmentProblem, match=r"\$COURSEKIT_NUM_THREADS='0'"):
        requested_threads({"COURSEKIT_NUM_THREADS": "0"})
    with pytest.raises(EnvironmentProblem, match=r"\$COURSEKIT_SHARED='maybe'.*set it to 1"):
        default_threads({"COURSEKIT_SHARED": "maybe"})


def test_waiting_default_and_shared():
    env = {}
    assert configure_openmp_waiting(env, torch_loaded=False) == {}
    assert env == {}  # not shared: OpenMP's own waiting, the fastest for one kernel alone
    env = {"COURSEKIT_SHARED": "yes"}
    assert configure_openmp_waiting(env, torch_loaded=False) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and "GOMP_SPINCOUNT" not in env


@pytest.mark.parametrize(
    "mine", [{"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "5"}, {"OMP_WAIT_POLICY": "passive"}]
)
def test_waiting_never_overrides_the_user(mine):
    env = {**mine, "COURSEKIT_SHARED": "1"}
    assert configure_openmp_waiting(env, torch_loaded=False) == {}
    assert env == {**mine, "COURSEKIT_SHARED": "1"}


def test_too_late_after_torch_warns_once_and_sets_nothing(cores, cgroups):
    cores(2)
    env = {"COURSEKIT_SHARED": "1", "COURSEKIT_NUM_THREADS": "2"}
    with pytest.warns(RuntimeWarning, match="torch was imported before coursekit") as caught:
        assert configure_openmp_waiting(env, torch_loaded=True) == {}
    assert env == {"COURSEKIT_SHARED": "1", "COURSEKIT_NUM_THREADS": "2"} and len(caught) == 1
    assert "import coursekit` before `import torch`" in str(caught[0].message)


@pytest.mark.parametrize(
    "env", [{"COURSEKIT_SHARED": "1", "COURSEKIT_NUM_THREADS": "1"}, {"COURSEKIT_SHARED": "1"}, {}]
)
def test_too_late_is_harmless_with_one_thread_or_unshared(env, recwarn):
    assert configure_openmp_waiting(dict(env), torch_loaded=True) == {}
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def _fresh_python(code: str, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in _WAITING}
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.slow
@pytest.mark.parametrize("torch_first", [False, True])
def test_import_coursekit_sets_waiting_before_torch_loads_or_says_it_is_too_late(torch_first):
    code = (
        f"import {'torch, ' if torch_first else ''}os, coursekit\n"
        "from coursekit.device import openmp_waiting\n"
        "print(os.environ.get('OMP_WAIT_POLICY'))\n"
        "print(openmp_waiting())\n"
    )
    proc = _fresh_python(code, COURSEKIT_NUM_THREADS="2", COURSEKIT_SHARED="1")
    assert proc.returncode == 0, proc.stderr
    policy, waiting = proc.stdout.splitlines()[:2]
    if torch_first:
        assert "RuntimeWarning: torch was imported before coursekit" in proc.stderr
        assert policy == "None" and "too late" in waiting
    else:
        assert "RuntimeWarning" not in proc.stderr
        assert policy == "PASSIVE"
        assert waiting.startswith("OMP_WAIT_POLICY=PASSIVE ($COURSEKIT_SHARED=1")
    unshared = _fresh_python(code, COURSEKIT_NUM_THREADS="2")
    assert unshared.returncode == 0 and "RuntimeWarning" not in unshared.stderr
    policy, waiting = unshared.stdout.splitlines()[:2]
    assert policy == "None" and waiting.startswith("OpenMP's defaults")
