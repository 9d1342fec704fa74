"""The `fotrain` command as a whole: help, and one-line errors with status 2 for user mistakes
(the commands: test_cli_<command>.py)."""

import pytest


def test_help_lists_commands(run_cli):
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("info", "demo", "bench"):
        assert cmd in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "no-such-preset"], "fotrain: error: preset: unknown name 'no-such-preset'"),
        (["info", "missing.toml"], "fotrain: error: config: no such file 'missing.toml'"),
        (
            ["demo", "BAD"],
            "fotrain: error: BAD.toml: layers[0].in_modes: product of [4, 7, 7, 5] "
            "is 980 != in_features 784",
        ),
        (
            [
                "bench",
                "fixed",
                "--out",
                "/nonexistent/dir/x.json",
                "--repeats",
                "1",
                "--batch",
                "2",
            ],
            "fotrain: error: --out: cannot write '/nonexistent/dir/x.json'",
        ),
    ],
)
def test_user_mistakes_give_one_line_and_status_2(args, message, tmp_path, run_cli):
    bad = tmp_path / "BAD.toml"
    bad.write_text(
        "[[layers]]\nin_features = 784\nout_features = 256\n"
        "in_modes = [4, 7, 7, 5]\nout_modes = [4, 4, 4, 4]\nranks = 4\n"
    )
    args = [str(bad) if a == "BAD" else a for a in args]
    r = run_cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith(message.replace("BAD.toml", str(bad)))


def test_argparse_mistake_exits_nonzero(run_cli):
    r = run_cli("info", "--batch", "0")
    assert r.returncode == 2 and "expected a positive integer" in r.stderr
