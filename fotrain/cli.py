"""The ``fotrain`` command: a thin shell of subcommands over library calls.

Handlers import lazily, so commands that only need the golden model load numpy alone. User
mistakes (bad config values, unknown presets, unreadable files) print one line
``fotrain: error: ...`` and exit with status 2, without a traceback.
"""

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main", "positive_int"]

EPILOG = """\
examples:
  fotrain demo                       run the default TT layer in float and fixed point
  fotrain info mnist-ttm-256         parameters, MACs and memory per layer of a preset
  fotrain info my.toml --json        the same for a config file, as JSON
  fotrain bench fixed                fixed vs float TT forward, and fotrain vs fxpmath
  fotrain train mnist-tt-zo          forward-only training of the MNIST TT network
  fotrain train --resume runs/X      continue an interrupted run bit-identically
"""


def _add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG_OR_PRESET", nargs="?", default="default",
                   help="a preset name (see `fotrain info --list`) or a path to a .toml config; "
                        "default: the built-in MNIST 784->256 TT layer")


def _cmd_info(args: argparse.Namespace) -> int:
    from .report import config_info, format_info
    from .sw.config import load_config, preset_names

    if args.list:
        print("\n".join(["default", *preset_names()]))
        return 0
    info = config_info(load_config(args.config), batch=args.batch)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import format_demo, run_demo
    from .sw.config import load_config

    result = run_demo(load_config(args.config), seed=args.seed, batch=args.batch)
    print(json.dumps(result, indent=2) if args.json else format_demo(result))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    batch = args.batch or (256 if args.what == "fixed" else 128)
    result = run_bench(args.what, batch=batch, repeats=args.repeats, seed=args.seed)
    text = json.dumps(result, indent=2)
    if args.out:
        from pathlib import Path

        from .sw.errors import FotrainError
        try:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
        except OSError as e:
            raise FotrainError(f"--out: cannot write {args.out!r} ({e.strerror})") from None
    print(text)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .sw.config import load_config
    from .sw.train.runtime import usable_cpus
    from .sw.train.session import run_training

    if args.resume:
        out = Path(args.resume)
        source = args.config if args.config else str(out / "config.toml")
    else:
        source = args.config
    if not source:
        from .sw.errors import FotrainError
        raise FotrainError("config: give a preset or config file (or --resume DIR)")
    cfg = load_config(source if not args.resume else out / "config.toml")
    sets = list(args.set or [])
    if args.resume and args.max_steps is None:
        sets.append("train.max_steps=0")  # a resumed run goes to the end unless told otherwise
    for flag, key in ((args.epochs, "train.epochs"), (args.max_steps, "train.max_steps"),
                      (args.seed, "train.seed")):
        if flag is not None:
            sets.append(f"{key}={flag}")
    cfg = cfg.with_overrides(sets)
    if not args.resume:
        out = Path(args.out) if args.out else Path("runs") / f"{cfg.name}-s{cfg.train.seed}"
    workers = args.workers or usable_cpus()
    summary = run_training(cfg, out, resume=bool(args.resume), data_dir=args.data_dir,
                           progress=not args.no_progress, workers=workers,
                           log=lambda s: print(s, file=sys.stderr))
    print(json.dumps(summary, indent=2))
    print(f"fotrain: run written to {out}", file=sys.stderr)
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .studies import run_pinn_noise_study, run_variance_study

    if args.what == "pinn-noise":
        from .compare import parse_bits

        out = args.out or "runs/study-pinn-noise"
        res = run_pinn_noise_study(Path(out), preset=args.preset or "hjb20-tt-zo-fixed16",
                                   bits=parse_bits(args.bits or "10,12,14,16,18,20,22"),
                                   points=args.points, seed=args.seed,
                                   overrides=tuple(args.set or ()),
                                   progress=not args.no_progress)
        for r in res["rows"]:
            if "error" in r:
                print(f"{r['bits']:>3} bits: not evaluated ({r['error']})")
                continue
            print(f"{r['bits']:>3} bits: output {r['nn_err']:.3g} ({r['nn_err'] / r['act_lsb']:.2f}"
                  f" LSB), |grad| {r['grad_err']:.3g}, Laplacian {r['lap_err']:.3g} (float "
                  f"{r['lap_float']:.3g}), residual {r['residual_err']:.3g} (float "
                  f"{r['residual_float']:.3g})")
        print(f"fotrain: wrote {out}/pinn_noise.json and pinn_noise.png", file=sys.stderr)
        return 0
    if args.preset or args.bits or args.set:
        from .sw.errors import FotrainError

        raise FotrainError("study variance: --preset, --bits and --set belong to 'pinn-noise'")
    args.out = args.out or "runs/study-variance"
    result = run_variance_study(Path(args.out), queries=args.queries, repeats=args.repeats,
                                batch=args.batch, seed=args.seed, data_dir=args.data_dir,
                                progress=not args.no_progress)
    for r in result["rows"]:
        print(f"{r['label']:>10}: d = {r['d']:>7,}  cos = {r['cos_mean']:.4f} +- "
              f"{r['cos_std']:.4f} (theory {r['cos_theory']:.4f})  |g_hat - g|^2/|g|^2 = "
              f"{r['err_mean']:.4g} (theory {r['err_theory']:.4g})")
    print(f"fotrain: wrote {args.out}/variance.json and variance.png", file=sys.stderr)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .plot import plot_runs

    out = plot_runs([Path(r) for r in args.runs], Path(args.out))
    print(f"fotrain: wrote {out}", file=sys.stderr)
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from .sw.train.data import download

    for name in args.datasets:
        root = download(name, args.data_dir)
        print(f"fotrain: {name} ready in {root}", file=sys.stderr)
    return 0


def positive_int(text: str) -> int:
    """argparse type: a positive integer (shared by every subcommand)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="fotrain",
        description="Forward-only (backprop-free) training of tensor-train networks: numpy golden "
                    "model, bit-exact fixed point, Amaranth RTL and FPGA flows.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fotrain {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("info", help="parameters, MACs, memory and compression per layer",
                       description="Print per-layer geometry, trainable entries, the dense "
                                   "equivalent, compression ratio, MACs and memory of a config.")
    _add_config_arg(p)
    p.add_argument("--batch", type=positive_int, default=1, help="batch size for MACs (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--list", action="store_true", help="list the built-in presets and exit")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("demo", help="run the main job on built-in data (no download)",
                       description="Build the config's first TT layer with Kaiming-initialised "
                                   "cores, run it on a random batch in float and in bit-exact "
                                   "fixed point, and report size, MACs and the fixed-vs-float "
                                   "error against its LSB-derived bound.")
    _add_config_arg(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--batch", type=positive_int, default=64, help="batch size (default 64)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("train", help="train a network without backprop (or a reference)",
                       description="Train a preset or TOML config. Writes DIR/metrics.jsonl (one "
                                   "line per log interval and per epoch), DIR/checkpoint.npz "
                                   "(atomic, resumable), DIR/summary.json and DIR/config.toml. "
                                   "Data: --data-dir, else $FOTRAIN_DATA, else ~/.cache/fotrain.")
    p.add_argument("config", metavar="PRESET_OR_CONFIG", nargs="?",
                   help="preset name (`fotrain info --list`) or .toml file")
    p.add_argument("--epochs", type=positive_int, help="override train.epochs")
    p.add_argument("--max-steps", type=positive_int, help="stop after this many steps")
    p.add_argument("--seed", type=int, help="override train.seed")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config value, e.g. --set zo.queries=20 --set train.lr=3e-3"
                        " (repeatable; values parsed as TOML)")
    p.add_argument("--data-dir", metavar="D", help="dataset directory (default $FOTRAIN_DATA)")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/NAME-sSEED)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR bit-identically "
                                                   "(--epochs may extend it)")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="processes for the perturbed forwards of fixed-point PINN training "
                        "with zo.blocks = 'all', e.g. hjb20-tt-zo-fixed16 (default: the CPUs "
                        "this process may use, capped by a cgroup CPU quota; results are "
                        "identical for any N; everything "
                        "else runs in one process)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("plot", help="learning curves of one or more runs (PNG)",
                       description="Plot the training loss against steps and the evaluation "
                                   "metric (test accuracy or rel L2) against forward passes for "
                                   "each RUN_DIR written by `fotrain train`.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories")
    p.add_argument("--out", default="curves.png", help="output PNG (default curves.png)")
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("download", help="fetch MNIST / Fashion-MNIST (MD5-checked) into the cache",
                       description="Download the original gzip IDX files into --data-dir (else "
                                   "$FOTRAIN_DATA, else ~/.cache/fotrain), checking every MD5; "
                                   "files already present and intact are kept.")
    p.add_argument("datasets", nargs="*", choices=["mnist", "fmnist"], default=["mnist", "fmnist"],
                   help="which datasets (default both)")
    p.add_argument("--data-dir", metavar="D", help="target directory")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("study", help="measurements with plots (ZO variance, PINN fixed noise)",
                       description="variance: cosine and error of the ZO gradient estimate "
                                   "against the true gradient, vs the perturbed dimension, for "
                                   "the MNIST net as TT layers of rank 1..8 and dense. Writes "
                                   "OUT/variance.json and OUT/variance.png. pinn-noise: rms "
                                   "error of a PINN preset's fixed-point network values, "
                                   "derivative estimates and PDE residual against float, per "
                                   "word length (why fixed-point PINN training needs more "
                                   "bits). Writes OUT/pinn_noise.json and OUT/pinn_noise.png.")
    p.add_argument("what", choices=["variance", "pinn-noise"], help="which study")
    p.add_argument("--out", help="output directory (default runs/study-WHAT)")
    p.add_argument("--preset", help="pinn-noise: PDE preset (default hjb20-tt-zo-fixed16)")
    p.add_argument("--bits", help="pinn-noise: word lengths in 2..32 (default 10,12,...,22)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="pinn-noise: override a preset value before the word-length scaling, "
                        "e.g. --set pinn.sigma=0.1 (repeatable; values parsed as TOML; a "
                        "formats.act/weight change needs the matching formats.acc.frac = "
                        "act.frac + weight.frac, and the scaling then re-derives acc)")
    p.add_argument("--points", type=positive_int, default=256,
                   help="pinn-noise: collocation points")
    p.add_argument("--queries", type=positive_int, default=10, help="directions per estimate")
    p.add_argument("--repeats", type=positive_int, default=10, help="estimates per network")
    p.add_argument("--batch", type=positive_int, default=64, help="mini-batch size")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--data-dir", metavar="D", help="dataset directory (default $FOTRAIN_DATA)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_study)

    p = sub.add_parser("bench", help="benchmarks that print JSON (not timed tests)",
                       description="fixed: fixed-point vs float TT forward of the default layer "
                                   "(goal <= 3x) and fotrain vs fxpmath on the same fixed-point "
                                   "multiply-accumulate (goal >= 100x; needs the `bench` extra). "
                                   "zo: one ZO step of mnist-tt-zo vs a straightforward PyTorch "
                                   "CPU version (goal ratio <= 1; needs torch).")
    p.add_argument("what", choices=["fixed", "zo"], help="which benchmark")
    p.add_argument("--batch", type=positive_int, default=None,
                   help="batch size (default 256 for fixed, the preset's 128 for zo)")
    p.add_argument("--repeats", type=positive_int, default=20, help="timed repeats (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", metavar="FILE", help="also write the JSON to FILE")
    p.set_defaults(func=_cmd_bench)

    from .hwcli import add_hw_commands  # emit / synth: imports amaranth only when they run

    add_hw_commands(sub)
    from .compare_cli import add_compare_command
    add_compare_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fotrain`` console script; returns the exit status."""
    from .sw.errors import FotrainError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FotrainError as e:
        print(f"fotrain: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fotrain: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
