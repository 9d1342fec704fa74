"""`fotrain info`: parameter counts, compression and MACs of layers and networks, table and JSON."""

import json

import pytest

from fotrain.cli import main


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
    assert fe["stages"][0]["shapes"] == {
        "rnn0.wx": [512, 28],
        "rnn0.wh": [512, 512],
        "rnn0.b": [512],
    }
    held = LocalMethod(load_config("mnist-rnn-tpsgd"), seed=0).params
    assert info["total"]["params"] + fe["params"] == held
    assert main(["info", "mnist-rnn-tpsgd"]) == 0
    assert f"network: {held:,} trainable entries in all" in capsys.readouterr().out
    assert main(["info", "hjb20-tt", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["front_end"] is None
