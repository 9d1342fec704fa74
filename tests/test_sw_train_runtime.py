"""sw/train/runtime.py: the CPU count the `fotrain train --workers` default is taken from, and
the allocator setting of the integer engines."""

from pathlib import Path

import pytest

from fotrain.sw.train.runtime import cap_cpus, cgroup_cpu_quota, usable_cpus


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_cgroup_v2_takes_the_tightest_quota_up_to_the_root(tmp_path):
    root = tmp_path / "cg"
    _write(tmp_path / "proc", "0::/ci/job")
    _write(root / "cpu.max", "max 100000")
    _write(root / "ci" / "cpu.max", "150000 100000")
    _write(root / "ci" / "job" / "cpu.max", "max 100000")
    assert cgroup_cpu_quota(root, tmp_path / "proc") == 1.5
    _write(root / "ci" / "job" / "cpu.max", "50000 100000")
    assert cgroup_cpu_quota(root, tmp_path / "proc") == 0.5


def test_cgroup_v1_reads_the_cpu_controller_mount(tmp_path):
    root = tmp_path / "cg"
    _write(tmp_path / "proc", "4:memory:/docker/x\n2:cpu,cpuacct:/docker/x\n1:name=systemd:/")
    _write(root / "cpu,cpuacct" / "docker" / "x" / "cpu.cfs_quota_us", "300000")
    _write(root / "cpu,cpuacct" / "docker" / "x" / "cpu.cfs_period_us", "100000")
    _write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1")
    _write(root / "cpu,cpuacct" / "cpu.cfs_period_us", "100000")
    assert cgroup_cpu_quota(root, tmp_path / "proc") == 3.0


@pytest.mark.parametrize("text", ["max 100000", "garbage", "0 100000", ""])
def test_no_quota_is_none(tmp_path, text):
    _write(tmp_path / "proc", "0::/")
    _write(tmp_path / "cpu.max", text)
    assert cgroup_cpu_quota(tmp_path, tmp_path / "proc") is None


def test_missing_files_are_no_limit(tmp_path):
    assert cgroup_cpu_quota(tmp_path, tmp_path / "absent") is None
    _write(tmp_path / "proc", "0::/a/b")
    assert cgroup_cpu_quota(tmp_path / "none", tmp_path / "proc") is None


def test_cap_cpus_rounds_the_quota_up():
    assert cap_cpus(8, None) == 8
    assert cap_cpus(8, 1.5) == 2
    assert cap_cpus(8, 0.2) == 1
    assert cap_cpus(2, 6.0) == 2


def test_usable_cpus_is_within_the_affinity_mask():
    import os

    n = usable_cpus()
    assert (
        1
        <= n
        <= (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    )


def test_retain_heap_applies_on_glibc():
    """The integer engines' allocator setting is accepted where the C library is glibc (CI's
    Debian) and reported as not applied elsewhere."""
    import platform

    from fotrain.sw.train.runtime import retain_heap

    applied = retain_heap()
    assert applied is (platform.libc_ver()[0] == "glibc")
