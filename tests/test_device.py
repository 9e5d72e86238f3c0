import pytest
import torch

import coursekit
from coursekit import EnvironmentProblem
from coursekit.device import (
    DEVICE_ENV,
    THREADS_ENV,
    autocast,
    configure_threads,
    get_device,
    seed_everything,
)


def test_cpu_by_name_and_auto_on_this_machine(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert get_device("cpu") == torch.device("cpu")
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert get_device().type == expected


def test_env_var_overrides(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "CPU")
    assert get_device() == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu", "cpu0"])
def test_unknown_device_in_env_names_problem_and_fix(monkeypatch, name):
    monkeypatch.setenv(DEVICE_ENV, name)
    with pytest.raises(EnvironmentProblem) as err:
        get_device()
    message = str(err.value)
    assert repr(name) in message and DEVICE_ENV in message
    assert "auto, cpu, cuda, cuda:N, mps" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_accelerator_is_explained():
    with pytest.raises(EnvironmentProblem, match="no usable CUDA device"):
        get_device("cuda")


def test_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert configure_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv(THREADS_ENV, "2")
        assert configure_threads() == 2
        monkeypatch.setenv(THREADS_ENV, "lots")
        with pytest.raises(EnvironmentProblem, match=THREADS_ENV):
            configure_threads()
    finally:
        torch.set_num_threads(before)


def test_seed_everything_repeats_all_generators():
    import random

    import numpy as np

    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()  # noqa: NPY002

    seed_everything(7)
    first = draw()
    seed_everything(7)
    assert draw() == first
    seed_everything(8)
    assert draw() != first


def test_autocast_is_noop_on_cpu():
    with autocast("cpu"):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32


def test_setup_prints_one_line_and_returns_device(capsys, monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    before = torch.get_num_threads()
    try:
        device = coursekit.setup(seed=3, threads=1)
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert device == torch.device("cpu")
    assert out.count("\n") == 1 and "device: cpu" in out and "seed: 3" in out
    report = coursekit.run_report()
    assert report.seconds is not None and report.seconds >= 0 and report.peak_mb > 0
    assert "Chapter run time" in repr(report)


@pytest.fixture
def four_gpus(monkeypatch):
    """Pretend this machine has 4 CUDA devices (the tests only build torch.device objects)."""
    from coursekit import device as device_module

    monkeypatch.setattr(device_module, "_accelerators", lambda: {"cuda": True, "mps": False})
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv(DEVICE_ENV, raising=False)


def test_torchrun_gives_each_process_its_own_gpu(four_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert get_device() == torch.device("cuda:2")
    assert get_device("cuda") == torch.device("cuda:2")
    assert get_device("cpu") == torch.device("cpu")
    assert get_device("cuda:1") == torch.device("cuda:1")  # an explicit index wins
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    assert get_device() == torch.device("cuda:2")
    monkeypatch.delenv("LOCAL_RANK")
    assert get_device() == torch.device("cuda")


def test_torchrun_rank_without_its_gpu_is_explained(four_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "5")
    with pytest.raises(EnvironmentProblem, match=r"LOCAL_RANK=5.*4 CUDA device"):
        get_device()
    monkeypatch.setenv("LOCAL_RANK", "first")
    with pytest.raises(EnvironmentProblem, match=r"\$LOCAL_RANK='first' is not a whole number"):
        get_device()


def test_torchrun_on_cpu_shares_the_cores(monkeypatch):
    from coursekit import _compat
    from coursekit import device as device_module

    monkeypatch.setattr(device_module, "_accelerators", lambda: {"cuda": False, "mps": False})
    monkeypatch.setattr(_compat, "available_cores", lambda: 8)
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.delenv("COURSEKIT_SHARED", raising=False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    before = torch.get_num_threads()
    try:
        assert get_device() == torch.device("cpu")
        assert configure_threads() == 2 == torch.get_num_threads()  # 8 cores // 3 processes
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "12")
        assert configure_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_setup_under_torchrun_makes_the_rank_gpu_current(four_gpus, monkeypatch):
    chosen = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setenv("LOCAL_RANK", "3")
    before = torch.get_num_threads()
    try:
        assert coursekit.setup(threads=1, verbose=False) == torch.device("cuda:3")
    finally:
        torch.set_num_threads(before)
    assert chosen == [torch.device("cuda:3")]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [({"amx_bf16": True, "avx512_bf16": True}, "AMX-BF16"),
     ({"amx_bf16": False, "avx512_bf16": True}, "AVX512-BF16"),
     ({"amx_bf16": False, "avx512_bf16": False, "avx2": True}, None)],
)  # fmt: skip
def test_bf16_hardware_is_read_from_the_cpu_flags(monkeypatch, flags, expected):
    from coursekit.device import cpu_bf16_support

    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: flags)
    assert cpu_bf16_support() == expected


def test_bf16_on_a_cpu_without_the_hardware_is_refused_in_words(monkeypatch):
    from coursekit import device
    from coursekit.train import train

    monkeypatch.setattr(device, "cpu_bf16_support", lambda: None)
    with pytest.raises(ValueError, match=r"without bf16 hardware.*40-140x slower"):
        device.autocast("cpu", "bf16")
    with pytest.raises(ValueError, match="precision must be one of"):
        device.autocast("cpu", "fp16")
    model = torch.nn.Linear(3, 1)
    calls = []
    loss = lambda m, b: calls.append(1) or m(b).pow(2).mean()  # noqa: E731
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    kw = {"optimizer": opt, "loss_fn": loss, "steps": 1, "progress": False, "live_plot": False}
    with pytest.raises(ValueError, match="without bf16 hardware"):
        train(model, lambda i: torch.ones(2, 3), precision="bf16", **kw)
    with pytest.raises(ValueError, match="precision must be one of"):
        train(model, lambda i: torch.ones(2, 3), precision="half", **kw)
    assert not calls  # refused before any step


def test_bf16_on_a_cpu_with_the_hardware_trains_under_cpu_autocast(monkeypatch):
    from coursekit import device
    from coursekit.train import train

    monkeypatch.setattr(device, "cpu_bf16_support", lambda: "AMX-BF16")
    seen = []

    def loss(model, batch):
        out = model(batch)
        seen.append((torch.is_autocast_enabled("cpu"), out.dtype))
        return out.float().pow(2).mean()

    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for precision, expected in (("bf16", (True, torch.bfloat16)), ("auto", (False, torch.float32))):
        seen.clear()
        train(model, lambda i: torch.ones(2, 3), optimizer=opt, loss_fn=loss, steps=2,
              valid_batches=[torch.ones(2, 3)], eval_every=1, precision=precision,
              progress=False, live_plot=False)  # fmt: skip
        assert seen == [expected] * 4  # two steps, each followed by its validation pass


def test_preset_is_large_on_a_cuda_gpu_and_small_elsewhere(monkeypatch):
    from coursekit.device import PRESET_ENV, preset

    monkeypatch.delenv(PRESET_ENV, raising=False)
    assert preset("cpu") == "small"
    assert preset("mps") == "small"
    assert preset(torch.device("cuda", 0)) == "large"
    monkeypatch.setenv(PRESET_ENV, " Large ")
    assert preset("cpu") == "large"
    monkeypatch.setenv(PRESET_ENV, "small")
    assert preset("cuda") == "small"
    monkeypatch.setenv(PRESET_ENV, "")
    assert preset("cpu") == "small"  # empty means auto


def test_preset_from_the_environment_is_checked_in_words(monkeypatch):
    from coursekit.device import PRESET_ENV, preset

    monkeypatch.setenv(PRESET_ENV, "huge")
    with pytest.raises(EnvironmentProblem, match=r"COURSEKIT_PRESET='huge' is not a preset.*small"):
        preset("cpu")
    report = coursekit.doctor(verbose=False)
    check = next(c for c in report.checks if c.name == "preset")
    assert not check.ok and "huge" in check.fix


def test_budget_picks_by_preset_and_says_which(capsys, monkeypatch):
    from coursekit.device import PRESET_ENV

    monkeypatch.delenv(PRESET_ENV, raising=False)
    assert coursekit.budget(1000, 3000, device="cpu") == 1000
    assert capsys.readouterr().out == ""  # without `what`, silent
    assert coursekit.budget(1000, 3000, "training steps", device="cpu") == 1000
    out = capsys.readouterr().out
    assert out == (
        "training steps: 1,000 (the small preset: no CUDA GPU here; small 1,000, large 3,000)\n"
    )
    assert coursekit.budget(1000, 3000, "training steps", device="cuda") == 3000
    assert "3,000 (the large preset: a CUDA GPU here" in capsys.readouterr().out
    monkeypatch.setenv(PRESET_ENV, "large")
    assert coursekit.budget((64, 128), (128, 256), "widths", device="cpu") == (128, 256)
    assert "(128, 256) (the large preset: $COURSEKIT_PRESET=large" in capsys.readouterr().out
    with pytest.raises(TypeError, match="two values of one type"):
        coursekit.budget(1000, 3000.0)


def test_the_doctor_reports_the_preset(monkeypatch):
    from coursekit.device import PRESET_ENV

    monkeypatch.setenv(PRESET_ENV, "large")
    report = coursekit.doctor(verbose=False)
    check = next(c for c in report.checks if c.name == "preset")
    assert check.ok and check.found.startswith("large (from $COURSEKIT_PRESET: chapters train")
    monkeypatch.delenv(PRESET_ENV)
    check = next(c for c in coursekit.doctor(verbose=False).checks if c.name == "preset")
    assert check.found.startswith("small (no CUDA GPU: the budgets the stored outputs ran with")


class _Clock:
    """A fake timer: each step "takes" the seconds its precision is given."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds, self.now, self.ran = seconds, 0.0, []

    def __call__(self) -> float:
        return self.now

    def step(self, context) -> None:
        with context:
            name = "bf16" if torch.is_autocast_enabled("cpu") else "fp32"
        self.ran.append(name)
        self.now += self.seconds[name]


@pytest.mark.parametrize(
    ("fp32", "bf16", "expected"),
    [(1.0, 0.5, "bf16"), (1.0, 0.86, "bf16"), (1.0, 0.88, "fp32"), (1.0, 2.0, "fp32")],
)
def test_auto_precision_on_a_bf16_cpu_is_measured(monkeypatch, fp32, bf16, expected):
    from coursekit import device

    monkeypatch.setattr(device, "cpu_bf16_support", lambda: "AMX-BF16")
    clock = _Clock({"fp32": fp32, "bf16": bf16})
    choice = device.choose_precision(clock.step, "cpu", 3_000_000, rounds=2, timer=clock)
    assert choice.precision == expected
    assert (choice.fp32_seconds, choice.bf16_seconds) == pytest.approx((fp32, bf16))
    assert clock.ran == ["fp32", "bf16"] * 3  # one warm-up and two rounds, alternating
    assert "AMX-BF16" in choice.why and f"{fp32 / bf16:.2f}x" in choice.why


def test_auto_precision_skips_the_measurement_where_it_cannot_pay(monkeypatch):
    from coursekit import device

    clock = _Clock({"fp32": 1.0, "bf16": 0.1})
    monkeypatch.setattr(device, "cpu_bf16_support", lambda: None)
    choice = device.choose_precision(clock.step, "cpu", 10**8, timer=clock)
    assert choice.precision == "fp32" and "no bf16 hardware" in choice.why
    monkeypatch.setattr(device, "cpu_bf16_support", lambda: "AVX512-BF16")
    small = device.choose_precision(clock.step, "cpu", device.BF16_MIN_PARAMS - 1, timer=clock)
    assert small.precision == "fp32" and "too small" in small.why
    assert small.fp32_seconds is None and not clock.ran
    big = device.choose_precision(clock.step, "cpu", device.BF16_MIN_PARAMS, timer=clock)
    assert big.precision == "bf16" and clock.ran


@pytest.mark.parametrize(("capability", "native"), [((7, 5), False), ((8, 0), True)])
def test_cuda_bf16_means_bf16_units_also_on_an_older_torch(monkeypatch, capability, native):
    from coursekit import device

    def older_torch(*args, **kwargs):  # no including_emulation argument before torch 2.4
        if kwargs:
            raise TypeError("is_bf16_supported() got an unexpected keyword argument")
        return True

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", older_torch)
    assert device.cuda_bf16_native() is native
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native)
    assert device.cuda_bf16_native() is native
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.cuda_bf16_native() is False
