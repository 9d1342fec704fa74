"""`fotrain train`: a short real run, resume through the CLI, and one-line errors."""

import json

import pytest

SHORT = ["--set", "train.train_limit=512", "--set", "train.test_limit=200", "--no-progress"]


def test_train_then_resume(tmp_path, run_cli):
    out = tmp_path / "run"
    r = run_cli(
        "train",
        "mnist-tt-bp",
        "--epochs",
        "1",
        "--max-steps",
        "2",
        "--out",
        str(out),
        *SHORT,
        env_data=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["steps"] == 2 and s["method"] == "bp" and s["params"] == 3962
    r = run_cli(
        "train", "--resume", str(out), "--epochs", "1", "--no-progress", env_data=True, timeout=600
    )
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["steps"] == 4 and s["epochs"] == 1  # 512 samples / batch 128 = 4 steps
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["kind"] == "eval" and lines[-1]["step"] == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["train", "mnist-tt-zo", "--set", "zo.querys=3"],
            "fotrain: error: --set zo.querys: unknown key 'querys'",
        ),
        (
            ["train", "mnist-tt-zo", "--set", "zo.queries=0"],
            "fotrain: error: zo.queries: must be >= 1, got 0",
        ),
        (
            ["train", "mnist-tt-zo", "--set", "train.method='magic'"],
            "fotrain: error: train.method: 'magic' is not one of",
        ),
        (
            ["train", "--resume", "/nonexistent/run"],
            "fotrain: error: --out: would change the resumed run '/nonexistent/run'",
        ),
        (
            ["train", "hjb20-tt-zo", "--set", "train.augment_shift=1"],
            "fotrain: error: train.augment_shift: 1 applies to image tasks",
        ),
        (
            ["train", "mnist-mlp-bp", "--set", "train.augment_shift=20"],
            "fotrain: error: train.augment_shift: 20 moves a 28 x 28 image out of its frame",
        ),
        (
            ["train", "mnist-tt-bp", "--set", "train.numerics='fixed'"],
            "fotrain: error: train.numerics: 'fixed' is not available for method 'bp'",
        ),
    ],
)
def test_train_mistakes_are_one_line(args, message, tmp_path, run_cli):
    r = run_cli(*args, "--out", str(tmp_path / "o"), timeout=600)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith(message)


def test_missing_dataset_is_one_line(tmp_path, run_cli):
    r = run_cli(
        "train",
        "mnist-tt-bp",
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
        env={"FOTRAIN_DATA": str(tmp_path)},
        timeout=300,
    )
    assert r.returncode == 2 and "train-images-idx3-ubyte.gz: missing" in r.stderr
    assert "Traceback" not in r.stderr


def test_fixed_numerics_refuse_adam_in_one_line(tmp_path, run_cli):
    r = run_cli(
        "train",
        "mnist-tt-zo-fixed16",
        "--set",
        "train.optimizer='adam'",
        "--max-steps",
        "1",
        "--out",
        str(tmp_path / "o"),
        *SHORT,
        env_data=True,
        timeout=600,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("fotrain: error: train.optimizer: 'adam' has no integer version")


def test_fixed_pinn_on_two_worker_processes(tmp_path, run_cli):
    """The 16-bit HJB preset for two steps on two processes: the same parameters as one."""
    import numpy as np

    ckpt = {}
    for workers in ("1", "2"):
        out = tmp_path / workers
        r = run_cli(
            "train",
            "hjb20-tt-zo-fixed16",
            "--max-steps",
            "2",
            "--workers",
            workers,
            "--set",
            "train.batch_size=2",
            "--out",
            str(out),
            "--no-progress",
            timeout=600,
        )  # the PDE task needs no dataset
        assert r.returncode == 0, r.stderr
        assert json.loads((out / "summary.json").read_text())["host_workers"] == int(workers)
        ckpt[workers] = dict(np.load(out / "checkpoint.npz"))
    r = run_cli(
        "train", "hjb20-tt-zo-fixed16", "--workers", "0", "--out", str(tmp_path / "0"), timeout=600
    )
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].endswith(
        "--workers: expected a positive integer, got 0"
    )
    assert not (tmp_path / "0").exists()
    state = [k for k in ckpt["1"] if k.startswith("method/")]  # codes and Adam moments
    assert sum(k.startswith("method/q.") for k in state) == 12
    for k in state:
        np.testing.assert_array_equal(ckpt["2"][k], ckpt["1"][k], err_msg=k)


PDE = ["hjb20-tt-zo", "--max-steps", "1", "--set", "train.batch_size=2", "--no-progress"]


def test_out_holding_a_run_is_refused_then_moved_aside_by_force(tmp_path, run_cli):
    out = tmp_path / "run"
    out.mkdir()  # an empty directory is taken as is
    assert run_cli("train", *PDE, "--out", str(out)).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = run_cli("train", *PDE, "--seed", "1", "--out", str(out))
    assert r.returncode == 2 and r.stderr.splitlines() == [r.stderr.strip()]
    assert "already holds files; continue that run with --resume" in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    r = run_cli("train", *PDE, "--seed", "1", "--out", str(out), "--force")
    assert r.returncode == 0, r.stderr
    (old,) = tmp_path.glob("run.old-*")  # moved aside, byte for byte, and said so
    assert f"moved the old run {out} aside to {old}" in r.stderr
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert json.loads((out / "summary.json").read_text())["seed"] == 1
    assert not list(tmp_path.glob(".run.new-*"))  # no staging directory left behind
    r = run_cli(
        "train", "--resume", str(out), "--max-steps", "2", "--data-dir", str(tmp_path),
        "--no-progress",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr  # --data-dir may change: the files are MD5-checked
