"""Config validation (one error per rule, naming the field and value) and TOML/JSON round trips."""

import dataclasses

import pytest

from fotrain.sw.config import (
    Config,
    FormatConfig,
    HardwareConfig,
    LayerConfig,
    dump_toml,
    load_config,
    preset_names,
)
from fotrain.sw.errors import ConfigError
from fotrain.sw.qformat import QFormat

TT = {
    "in_features": 784,
    "out_features": 256,
    "in_modes": [4, 7, 7, 4],
    "out_modes": [4, 4, 4, 4],
    "ranks": [1, 4, 4, 4, 1],
}


def layer_dict(**changes):
    d = dict(TT)
    d.update(changes)
    return {"layers": [d]}


@pytest.mark.parametrize(
    "d, match",
    [
        (
            layer_dict(in_features=785),
            r"layers\[0\]\.in_modes: product of \[4, 7, 7, 4\] is 784 != "
            "in_features 785",
        ),
        (
            layer_dict(out_modes=[4, 4, 4, 2]),
            r"layers\[0\]\.out_modes: product .* 128 != "
            "out_features 256",
        ),
        (
            layer_dict(ranks=[2, 4, 4, 4, 1]),
            r"layers\[0\]\.ranks: boundary ranks must be 1, got "
            r"\[2, 4, 4, 4, 1\]",
        ),
        (layer_dict(ranks=[1, 4, 4, 4, 3]), r"layers\[0\]\.ranks: boundary ranks must be 1"),
        (layer_dict(ranks=[1, 4, 0, 4, 1]), r"layers\[0\]\.ranks\[2\]: must be >= 1, got 0"),
        (
            layer_dict(ranks=[1, 4, 4, 1]),
            r"layers\[0\]\.ranks: \[1, 4, 4, 1\] has 4 entries; 4 cores "
            "need 5",
        ),
        (layer_dict(in_modes=[4, 7, 0, 4]), r"layers\[0\]\.in_modes\[2\]: must be >= 1, got 0"),
        (layer_dict(in_modes=[-4, 7, 7, 4]), r"layers\[0\]\.in_modes\[0\]: must be >= 1, got -4"),
        (
            layer_dict(out_modes=[16, 16]),
            r"layers\[0\]\.out_modes: 2 modes \[16, 16\] but in_modes "
            "has 4",
        ),
        (layer_dict(kind="conv"), r"layers\[0\]\.kind: 'conv' is not one of tt, dense"),
        (layer_dict(activation="gelu"), r"layers\[0\]\.activation: 'gelu'"),
        (layer_dict(colour="red"), r"layers\[0\]\.colour: unknown key"),
        (
            {"layers": [{"kind": "dense", "in_features": 4, "out_features": 2, "ranks": [1, 1]}]},
            r"layers\[0\]\.ranks: a dense layer takes no ranks",
        ),
        (
            {"layers": [{"kind": "dense", "in_features": 0, "out_features": 2}]},
            r"layers\[0\]\.in_features: must be >= 1, got 0",
        ),
        (
            {"layers": [TT, {"kind": "dense", "in_features": 100, "out_features": 10}]},
            r"layers\[1\]\.in_features: 100 != layers\[0\]\.out_features 256",
        ),
        (
            {"formats": {"acc": {"width": 40, "frac": 20}}},
            r"formats\.acc\.frac: 20 != act\.frac 10 \+ weight\.frac 14",
        ),
        (
            {"formats": {"acc": {"width": 30, "frac": 24}}},
            r"formats\.acc\.width: 30 is too narrow for layers\[0\] core 1 "
            r"\(28 products .*needs 36 bits",
        ),
        (
            {"formats": {"act": {"width": 16, "frac": 10, "rounding": "UP"}}},
            r"formats\.act\.rounding: unknown mode 'UP'",
        ),
        ({"formats": {"weight": {"width": 99, "frac": 1}}}, r"formats\.weight\.width: 99"),
        ({"hardware": {"lanes": 0}}, r"hardware\.lanes: must be >= 1, got 0"),
        ({"hardware": {"lanes": "8"}}, r"hardware\.lanes: must be an integer, got '8'"),
        (
            {"hardware": {"perturb_bits_per_cycle": 40}},
            r"hardware\.perturb_bits_per_cycle: 40 is more"
            " than prng_width 32",
        ),
        (
            {"hardware": {"weight_mem_width": 8}},
            r"hardware\.weight_mem_width: 8 < formats\.weight\."
            "width 16",
        ),
        ({"layers": []}, r"layers: at least one layer"),
        ({"nmae": "typo"}, r"nmae: unknown key"),
    ],
)
def test_validation_names_field_and_value(d, match):
    with pytest.raises(ConfigError, match=match):
        Config.from_dict(d)


def test_rank_shorthand_and_defaults():
    cfg = Config.from_dict(layer_dict(ranks=4))
    assert cfg.layers[0].ranks == (1, 4, 4, 4, 1)
    assert cfg == Config()  # the default is exactly the MNIST 784 -> 256 rank-4 layer
    assert cfg.layers[0].weight_params == 1024


def test_toml_round_trip(tmp_path):
    cfg = Config(
        name="custom",
        layers=(
            LayerConfig(
                21,
                512,
                in_modes=(1, 1, 3, 7),
                out_modes=(8, 4, 4, 4),
                ranks=(1, 2, 2, 2, 1),
                bias=True,
                activation="sin",
            ),
            LayerConfig(512, 1, kind="dense", bias=True),
        ),
        formats=FormatConfig(
            weight=QFormat(12, 10, rounding="RND_CONV"),
            act=QFormat(14, 9, overflow="SAT_SYM"),
            acc=QFormat(40, 19),
        ),
        hardware=HardwareConfig(lanes=16, prng_width=16, perturb_bits_per_cycle=4),
    )
    path = tmp_path / "c.toml"
    dump_toml(cfg, path)
    assert load_config(path) == cfg
    assert Config.from_json(cfg.to_json()) == cfg
    assert not (tmp_path / "c.toml.tmp").exists()


@pytest.mark.parametrize("name", preset_names())
def test_presets_load_and_round_trip(name, tmp_path):
    cfg = load_config(name)
    dump_toml(cfg, tmp_path / "p.toml")
    assert load_config(tmp_path / "p.toml") == cfg


def test_preset_parameter_counts():
    """Parameter counts of the preset networks, added up by hand from their core shapes."""
    assert load_config("mnist-ttm-256").params == 1504
    assert load_config("mnist-tt-1024").params == 3962
    assert load_config("hjb20-tt").params == 1929
    assert load_config("hjb20-tt").layers[1].dense_params == 262_656


def test_string_formats_in_toml(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(
        '[formats]\nweight = "fixed<16,2,RND,SAT>"\nact = "fixed<16,6>"\nacc = "fixed<40,16>"\n'
    )
    f = load_config(p).formats
    assert (f.weight.frac, f.act.frac, f.acc.frac) == (14, 10, 24)


def test_load_errors(tmp_path):
    with pytest.raises(ConfigError, match="preset: unknown name 'nope'"):
        load_config("nope")
    with pytest.raises(ConfigError, match="config: no such file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(bad)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().name = "x"


def test_a_run_directory_named_like_a_preset_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist-tt-zo").mkdir()  # e.g. `fotrain train ... --out mnist-tt-zo`
    assert load_config("mnist-tt-zo").name == "mnist-tt-zo"
    (tmp_path / "somedir").mkdir()
    with pytest.raises(ConfigError, match="'somedir' is a directory, not a .toml file"):
        load_config("somedir")
