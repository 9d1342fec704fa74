"""The `fotrain` command: help, info, demo, bench, and one-line errors for user mistakes."""

import json
import subprocess
import sys

import pytest

from fotrain.cli import main


def run_cli(*args):
    """Run the installed console entry in a subprocess (real exit status and streams)."""
    return subprocess.run([sys.executable, "-m", "fotrain.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_help_lists_commands():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("info", "demo", "bench"):
        assert cmd in r.stdout


def test_info_mnist_layer_reports_1024_core_entries(capsys):
    assert main(["info", "tt-layer-784x256", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    layer = info["layers"][0]
    assert layer["weight_entries"] == 1024
    assert [c["entries"] for c in layer["cores"]] == [64, 448, 448, 64]
    assert layer["dense_params"] == 200_704
    assert layer["compression"] == pytest.approx(196.0)
    assert layer["macs"] == 95_488
    assert layer["weight_bytes"] == 2048  # 1,024 entries at 16 bits


def test_info_table_and_list(capsys):
    assert main(["info", "hjb20-tt"]) == 0
    out = capsys.readouterr().out
    assert "1,929 trainable entries" in out and "274,433" in out
    assert main(["info", "--list"]) == 0
    assert "mnist-ttm-256" in capsys.readouterr().out.split()


def test_info_counts_the_recurrent_front_end(capsys):
    """`info` on an RNN preset lists the Elman layer before the head: 512 x (28 + 512) + 512
    entries, and the network total is what the trainer holds."""
    from fotrain.sw.config import load_config
    from fotrain.sw.local.method import LocalMethod

    assert main(["info", "mnist-rnn-tpsgd", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    fe = info["front_end"]
    assert fe["arch"] == "rnn" and fe["params"] == 512 * (28 + 512) + 512
    assert fe["stages"][0]["shapes"] == {"rnn0.wx": [512, 28], "rnn0.wh": [512, 512],
                                         "rnn0.b": [512]}
    held = LocalMethod(load_config("mnist-rnn-tpsgd"), seed=0).params
    assert info["total"]["params"] + fe["params"] == held
    assert main(["info", "mnist-rnn-tpsgd"]) == 0
    assert f"network: {held:,} trainable entries in all" in capsys.readouterr().out
    assert main(["info", "hjb20-tt", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["front_end"] is None


def test_demo_reports_error_within_bound(capsys):
    assert main(["demo", "--json", "--batch", "8"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["params"] == 1024 and r["macs_per_sample"] == 95_488
    assert 0 < r["max_abs_err_same_inputs"] <= r["bound_same_inputs"]
    assert r["overflow_events"] == 0


def test_bench_fixed_runs(capsys):
    assert main(["bench", "fixed", "--batch", "4", "--repeats", "1"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["tt_forward"]["ratio_fixed_vs_float"] > 0
    if "skipped" not in r["fxpmath"]:
        assert r["fxpmath"]["results_equal"] is True


@pytest.mark.parametrize("args, message", [
    (["info", "no-such-preset"], "fotrain: error: preset: unknown name 'no-such-preset'"),
    (["info", "missing.toml"], "fotrain: error: config: no such file 'missing.toml'"),
    (["demo", "BAD"], "fotrain: error: BAD.toml: layers[0].in_modes: product of [4, 7, 7, 5] "
                      "is 980 != in_features 784"),
    (["bench", "fixed", "--out", "/nonexistent/dir/x.json", "--repeats", "1", "--batch", "2"],
     "fotrain: error: --out: cannot write '/nonexistent/dir/x.json'"),
])
def test_user_mistakes_give_one_line_and_status_2(args, message, tmp_path):
    bad = tmp_path / "BAD.toml"
    bad.write_text("[[layers]]\nin_features = 784\nout_features = 256\n"
                   "in_modes = [4, 7, 7, 5]\nout_modes = [4, 4, 4, 4]\nranks = 4\n")
    args = [str(bad) if a == "BAD" else a for a in args]
    r = run_cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith(message.replace("BAD.toml", str(bad)))


def test_argparse_mistake_exits_nonzero():
    r = run_cli("info", "--batch", "0")
    assert r.returncode == 2 and "expected a positive integer" in r.stderr
