"""``fotrain study``: measurements with plots (ZO gradient variance, PINN fixed-point noise)."""

import argparse
import sys

from .args import add_data_dir_arg, add_no_progress_arg, positive_int, seed_int

__all__ = ["add_parser", "run"]

DESCRIPTION = (
    "variance: cosine and error of the ZO gradient estimate against the true "
    "gradient, vs the perturbed dimension, for the MNIST net as TT layers of rank "
    "1..8 and dense. Writes OUT/variance.json and OUT/variance.png. pinn-noise: rms "
    "error of a PINN preset's fixed-point network values, derivative estimates and "
    "PDE residual against float, per word length (why fixed-point PINN training "
    "needs more bits). Writes OUT/pinn_noise.json and OUT/pinn_noise.png."
)


def _run_pinn_noise(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..compare import parse_bits
    from ..studies import run_pinn_noise_study

    out = args.out or "runs/study-pinn-noise"
    res = run_pinn_noise_study(
        Path(out),
        preset=args.preset or "hjb20-tt-zo-fixed16",
        bits=parse_bits(args.bits or "10,12,14,16,18,20,22"),
        points=args.points,
        seed=args.seed,
        overrides=tuple(args.set or ()),
        progress=not args.no_progress,
    )
    for r in res["rows"]:
        if "error" in r:
            print(f"{r['bits']:>3} bits: not evaluated ({r['error']})")
            continue
        print(
            f"{r['bits']:>3} bits: output {r['nn_err']:.3g} ({r['nn_err'] / r['act_lsb']:.2f}"
            f" LSB), |grad| {r['grad_err']:.3g}, Laplacian {r['lap_err']:.3g} (float "
            f"{r['lap_float']:.3g}), residual {r['residual_err']:.3g} (float "
            f"{r['residual_float']:.3g})"
        )
    print(f"fotrain: wrote {out}/pinn_noise.json and pinn_noise.png", file=sys.stderr)
    return 0


def _run_variance(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..studies import run_variance_study

    if args.preset or args.bits or args.set:
        from ..sw.errors import FotrainError

        raise FotrainError("study variance: --preset, --bits and --set belong to 'pinn-noise'")
    args.out = args.out or "runs/study-variance"
    result = run_variance_study(
        Path(args.out),
        queries=args.queries,
        repeats=args.repeats,
        batch=args.batch,
        seed=args.seed,
        data_dir=args.data_dir,
        progress=not args.no_progress,
    )
    for r in result["rows"]:
        print(
            f"{r['label']:>10}: d = {r['d']:>7,}  cos = {r['cos_mean']:.4f} +- "
            f"{r['cos_std']:.4f} (theory {r['cos_theory']:.4f})  |g_hat - g|^2/|g|^2 = "
            f"{r['err_mean']:.4g} (theory {r['err_theory']:.4g})"
        )
    print(f"fotrain: wrote {args.out}/variance.json and variance.png", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the chosen study and print one line per row; returns the exit status."""
    from .paths import check_out_dir

    if args.out:
        check_out_dir(args.out)
    if args.what == "pinn-noise":
        return _run_pinn_noise(args)
    return _run_variance(args)


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register ``fotrain study`` on ``sub``, the main parser's subparsers."""
    p = sub.add_parser(
        "study",
        help="measurements with plots (ZO variance, PINN fixed noise)",
        description=DESCRIPTION,
    )
    p.add_argument("what", choices=["variance", "pinn-noise"], help="which study")
    p.add_argument("--out", help="output directory (default runs/study-WHAT)")
    p.add_argument("--preset", help="pinn-noise: PDE preset (default hjb20-tt-zo-fixed16)")
    p.add_argument("--bits", help="pinn-noise: word lengths in 2..32 (default 10,12,...,22)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="pinn-noise: override a preset value before the word-length scaling, "
        "e.g. --set pinn.sigma=0.1 (repeatable; values parsed as TOML; a "
        "formats.act/weight change needs the matching formats.acc.frac = "
        "act.frac + weight.frac, and the scaling then re-derives acc)",
    )
    p.add_argument(
        "--points", type=positive_int, default=256, help="pinn-noise: collocation points"
    )
    p.add_argument("--queries", type=positive_int, default=10, help="directions per estimate")
    p.add_argument("--repeats", type=positive_int, default=10, help="estimates per network")
    p.add_argument("--batch", type=positive_int, default=64, help="mini-batch size")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed")
    add_data_dir_arg(p)
    add_no_progress_arg(p)
    p.set_defaults(func=run)
