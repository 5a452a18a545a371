"""One image's whole λ grid: one ``fit`` per λ (old) against one ``fit_lambda_grid`` (new).

Usage (from the repository root; Kodak from CLRIC_KODAK_DIR):

    python benchmarks/encode_grid.py --images kodim23 --threads 1
    python benchmarks/encode_grid.py --images kodim23 --effort fast --threads 1 2 --metrics all

The λ grid is the one ``clric eval`` sweeps for CLRIC (``ClricCodec.parameters``: the preset's
``lambda_grid``). For each thread count, both ways run in the same process on the same latent
(house VAE posterior mean): their CPU and wall seconds and the ratio old/new. Then, per λ, the
real bpp (the written file, header included), the latent MSE and the quality through the VAE
of both ways, and the BD-rate of new against old per metric (< 0: the new way saves bits).
With several images it also prints the summed times and the BD-rates between the mean curves
(bpp and each metric averaged per λ over the images). ``--noise-floor`` runs only the old way,
twice, the second time on the latent plus 1e-6 noise: the BD-rates that float rounding alone
moves a curve by. Run it on an otherwise idle machine: other processes on the cores inflate
wall time.
"""

from __future__ import annotations

import argparse
import time

import torch

from clric_utils.api import write_fit
from clric_utils.codec.arch import DEFAULT_PRESET, PRESETS
from clric_utils.codec.grid_fit import fit_lambda_grid
from clric_utils.codec.schedule import DEFAULT_EFFORT, EFFORTS, Effort, get_effort, short_effort
from clric_utils.codec.train import FitResult, fit
from clric_utils.data import kodak_images
from clric_utils.evaluation.bd import bd_rate_over_overlap
from clric_utils.evaluation.contenders import ClricCodec
from clric_utils.images import image_to_tensor, read_image
from clric_utils.metrics.quality import METRIC_NAMES, all_metrics
from clric_utils.vae.loading import load_vae


def setting_up(args: argparse.Namespace) -> tuple[Effort, object, list[float]]:
    """The effort, the house VAE and the preset's λ grid of a run; prints them."""
    effort = get_effort(args.effort) if args.iterations is None else short_effort(args.iterations)
    vae = load_vae("house")
    lambdas = list(ClricCodec(vae, preset=args.preset).parameters)
    print(f"VAE {vae.name}, preset {args.preset}, effort {effort.name} "
          f"({effort.total_iterations} iterations), λ grid {lambdas}, "
          f"torch {torch.__version__}")
    return effort, vae, lambdas


def image_and_latent(vae, stem: str) -> tuple[object, torch.Tensor]:
    """Kodak image ``stem`` and its latent (encoded on one thread)."""
    path = next(p for p in kodak_images() if p.stem == stem)
    image = read_image(path)
    torch.set_num_threads(1)
    return image, vae.encode(image_to_tensor(image))


def timed(function) -> tuple[object, float, float]:
    """(result, CPU seconds of this process, wall seconds) of ``function()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = function()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def measure(results: list[FitResult], vae, image, metrics: tuple[str, ...]) -> list[dict]:
    """Per fit: real bpp of its file, latent MSE and the image metrics of its decoded ŷ."""
    height, width = image.shape[:2]
    rows = []
    for result in results:
        encoded = write_fit(result, vae.name, vae.scaling_factor)
        with torch.no_grad():
            decoded = vae.decode_image(encoded.y_hat, height, width)
        quality = all_metrics(image, decoded, metrics)
        rows.append({"lmbda": result.lmbda, "bpp": encoded.bpp, "mse": result.latent_mse,
                     **{name: quality[name] for name in metrics}})
    return rows


def report(first_rows: list[dict], second_rows: list[dict], metrics: tuple[str, ...],
           names: tuple[str, str] = ("old", "new")) -> None:
    """Per-λ table of both ways, then the BD-rate of the second against the first per metric."""
    first, second = names
    columns = " ".join(f"{m + ' ' + first:>11} {m + ' ' + second:>11}" for m in metrics)
    print(f"{'λ':>7} {'bpp ' + first:>8} {'bpp ' + second:>8} {'mse ' + first:>9} "
          f"{'mse ' + second:>9} {columns}")
    for a, b in zip(first_rows, second_rows, strict=True):
        values = " ".join(f"{a[m]:11.4f} {b[m]:11.4f}" for m in metrics)
        print(f"{a['lmbda']:7g} {a['bpp']:8.4f} {b['bpp']:8.4f} {a['mse']:9.6f} "
              f"{b['mse']:9.6f} {values}")
    for metric in metrics:
        # LPIPS and DISTS fall as quality rises: BD-rate wants a rising metric.
        sign = -1.0 if metric.startswith(("lpips", "dists")) else 1.0
        gap, low, high = bd_rate_over_overlap(
            [r["bpp"] for r in first_rows], [sign * r[metric] for r in first_rows],
            [r["bpp"] for r in second_rows], [sign * r[metric] for r in second_rows], metric)
        text = "no overlap" if gap is None else f"{gap:+.2f} %"
        print(f"BD-rate {second} vs {first} on {metric}: {text} "
              f"(over {metric} {low:.4g} … {high:.4g})")


def main(argv: list[str] | None = None) -> int:
    """Fit each image's λ grid both ways for every thread count; print times and curves."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", nargs="+", default=["kodim23"], help="Kodak image stems")
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS))
    parser.add_argument("--effort", default=DEFAULT_EFFORT, choices=list(EFFORTS))
    parser.add_argument("--iterations", type=int, default=None,
                        help="a short effort of N steps instead of --effort (smoke tests)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--metrics", choices=["psnr", "all"], default="psnr",
                        help="psnr only, or every metric of all_metrics")
    parser.add_argument("--noise-floor", action="store_true",
                        help="only the old way, on the latent and on the latent + 1e-6·N(0, 1): "
                             "the BD-rates between two runs that differ by float rounding")
    args = parser.parse_args(argv)
    metrics = ("psnr",) if args.metrics == "psnr" else METRIC_NAMES
    if args.noise_floor:
        return noise_floor(args, metrics)
    effort, vae, lambdas = setting_up(args)
    curves: dict[str, list[list[dict]]] = {"old": [], "new": []}
    totals: dict[str, dict[int, dict[str, float]]] = {"CPU": {}, "wall": {}}
    for stem in args.images:
        image, latent = image_and_latent(vae, stem)
        size = tuple(image.shape[:2])
        print(f"\n{stem}: latent {tuple(latent.shape)}")
        for threads in args.threads:
            settings = {"preset": args.preset, "effort": effort, "seed": args.seed,
                        "threads": threads, "progress": False}
            old, cpu_old, wall_old = timed(lambda y=latent, hw=size, s=settings: [
                fit(y, hw, lmbda, **s) for lmbda in lambdas])
            new, cpu_new, wall_new = timed(lambda y=latent, hw=size, s=settings: fit_lambda_grid(
                y, hw, lambdas, **s))
            for way, value_old, value_new in (("CPU", cpu_old, cpu_new),
                                              ("wall", wall_old, wall_new)):
                total = totals[way].setdefault(threads, {"old": 0.0, "new": 0.0})
                total["old"] += value_old
                total["new"] += value_new
            print(f"{threads} thread(s): old {wall_old:.1f} s wall {cpu_old:.1f} s CPU, "
                  f"new {wall_new:.1f} s wall {cpu_new:.1f} s CPU, ratio old/new "
                  f"{wall_old / wall_new:.2f} wall {cpu_old / cpu_new:.2f} CPU", flush=True)
        torch.set_num_threads(1)
        # The curves of the last thread count (the others differ from them by float rounding).
        old_rows, new_rows = measure(old, vae, image, metrics), measure(new, vae, image, metrics)
        report(old_rows, new_rows, metrics)
        curves["old"].append(old_rows)
        curves["new"].append(new_rows)
    for way, seconds in totals.items():
        print(f"\nall images, {way}: " + ", ".join(
            f"{threads} thread(s) old {s['old']:.1f} s, new {s['new']:.1f} s, "
            f"ratio {s['old'] / s['new']:.2f}" for threads, s in seconds.items()))
    if len(args.images) > 1:
        print(f"\nMean curves of the {len(args.images)} images (bpp and metrics averaged per λ):")
        report(mean_rows(curves["old"]), mean_rows(curves["new"]), metrics)
    return 0


def noise_floor(args: argparse.Namespace, metrics: tuple[str, ...]) -> int:
    """The old way twice per image, the second time on the latent plus 1e-6 Gaussian noise:
    the BD-rates a change of float rounding alone gives (the floor under old-vs-new)."""
    effort, vae, lambdas = setting_up(args)
    curves: dict[str, list[list[dict]]] = {"old": [], "perturbed": []}
    for stem in args.images:
        image, latent = image_and_latent(vae, stem)
        noise = 1e-6 * torch.randn(latent.shape, generator=torch.Generator().manual_seed(1))
        size = tuple(image.shape[:2])
        settings = {"preset": args.preset, "effort": effort, "seed": args.seed,
                    "threads": args.threads[0], "progress": False}
        runs = {way: [fit(y, size, lmbda, **settings) for lmbda in lambdas]
                for way, y in (("old", latent), ("perturbed", latent + noise))}
        print(f"\n{stem}: the old way against itself on the latent + 1e-6 noise", flush=True)
        rows = {way: measure(results, vae, image, metrics) for way, results in runs.items()}
        report(rows["old"], rows["perturbed"], metrics, ("old", "perturbed"))
        for way in curves:
            curves[way].append(rows[way])
    if len(args.images) > 1:
        print(f"\nMean curves of the {len(args.images)} images:")
        report(mean_rows(curves["old"]), mean_rows(curves["perturbed"]), metrics,
               ("old", "perturbed"))
    return 0


def mean_rows(per_image: list[list[dict]]) -> list[dict]:
    """Per λ, the mean of every column over the images (each image's rows in λ order)."""
    return [{key: sum(rows[i][key] for rows in per_image) / len(per_image)
             for key in per_image[0][i]} for i in range(len(per_image[0]))]


if __name__ == "__main__":
    raise SystemExit(main())
