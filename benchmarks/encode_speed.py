"""Encoding speed of the overfitted codec: seconds per Kodak image for each preset × effort.

Usage (from the repository root; Kodak from CLRIC_KODAK_DIR):

    python benchmarks/encode_speed.py                        # all presets × efforts, 4 images
    python benchmarks/encode_speed.py --efforts fast --images 1 --threads 1 2
    python benchmarks/encode_speed.py --defaults-only --images 2   # today's default vs 0.1's

Each image (768×512, latent 64×96 or 96×64) is encoded with the VAE's posterior mean, then
``fit`` runs the whole schedule (training, weight quantization, fine-tune) at one λ. Prints
wall and CPU seconds per image, iterations per second, latent MSE and estimated bpp (mean over
the images). Then the default encode of this package (``DEFAULT_PRESET`` at ``DEFAULT_EFFORT``)
against package 0.1's default (``paper`` at 0.1's ``medium``: 3 000 + 300 + 100 iterations),
alternating on the same images in one run, and the ratio of their mean wall times.
Run it on an otherwise idle machine: other processes on the cores inflate wall time.

    python benchmarks/encode_speed.py --compare-with /tmp/base --images 1 --repeats 3

times this checkout's ``fit`` against the one of another checkout of the package (e.g.
``git worktree add /tmp/base HEAD``), each fit in a fresh subprocess, alternating old and new
on the same latents, and prints milliseconds per iteration, their ratio old/new and whether
the two fits gave bit-identical parameters.

    python benchmarks/encode_speed.py --tunes latent perceptual --efforts fast --images 2

times the tunes (``api.compress(tune=...)``: the distortion the fit minimises) against each
other, alternating on the same latents, one thread, and prints each tune's mean wall seconds
and its ratio to the first tune's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from clric_utils.codec.arch import DEFAULT_PRESET, PRESETS
from clric_utils.codec.schedule import DEFAULT_EFFORT, EFFORTS, Effort
from clric_utils.codec.train import fit
from clric_utils.codec.tunes import TUNES
from clric_utils.data import kodak_images
from clric_utils.images import image_to_tensor, read_image
from clric_utils.vae.loading import load_vae


def main(argv: list[str] | None = None) -> int:
    """Fit the first ``--images`` Kodak latents with every preset × effort × thread count."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vae", default="house", help="VAE (default house; tiny if missing)")
    parser.add_argument("--presets", nargs="+", default=sorted(PRESETS), choices=sorted(PRESETS))
    parser.add_argument("--efforts", nargs="+", default=list(EFFORTS), choices=list(EFFORTS))
    parser.add_argument("--images", type=int, default=4, help="first N Kodak images (1–24)")
    parser.add_argument("--lmbda", type=float, default=0.01)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--defaults-only", action="store_true",
                        help="only the comparison of the default encode with package 0.1's")
    parser.add_argument("--compare-with", type=Path, default=None,
                        help="only old (this checkout of the package) vs new, per iteration")
    parser.add_argument("--repeats", type=int, default=3, help="old/new pairs per image")
    parser.add_argument("--tunes", nargs="+", choices=TUNES, default=None,
                        help="only the encode time of these tunes, ratios to the first")
    args = parser.parse_args(argv)

    from clric_utils.errors import MissingWeightsError

    try:
        vae = load_vae(args.vae)
    except MissingWeightsError as error:
        print(f"{args.vae}: {error}\nfalling back to the seeded 'tiny' VAE", file=sys.stderr)
        vae = load_vae("tiny")
    torch.set_num_threads(1)
    latents = []
    for path in kodak_images()[: args.images]:
        image = image_to_tensor(read_image(path))
        latents.append((path.stem, vae.encode(image), tuple(image.shape[-2:])))

    if args.compare_with is not None:
        compare_checkouts(args.compare_with, latents, args)
        return 0
    if args.tunes:
        compare_tunes(vae, latents, args)
        return 0
    print(f"VAE {vae.name}, λ = {args.lmbda:g}, {len(latents)} image(s), "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s) outside fits")
    print(f"{'preset':>6} {'effort':>6} {'thr':>3} {'iters':>6} {'wall s':>7} {'cpu s':>7} "
          f"{'it/s':>6} {'mse':>7} {'bpp':>7}")
    for preset in [] if args.defaults_only else args.presets:
        for effort in args.efforts:
            for threads in args.threads:
                walls, cpus, mses, bpps = [], [], [], []
                for _name, latent, size in latents:
                    cpu = time.process_time()
                    result = fit(latent, size, args.lmbda, preset=preset, effort=effort,
                                 seed=args.seed, threads=threads, progress=False)
                    cpus.append(time.process_time() - cpu)
                    walls.append(result.seconds)
                    mses.append(result.latent_mse)
                    bpps.append(result.estimated_bpp)
                n = len(latents)
                iterations = EFFORTS[effort].total_iterations
                wall = sum(walls) / n
                print(f"{preset:>6} {effort:>6} {threads:>3} {iterations:>6} {wall:7.1f} "
                      f"{sum(cpus) / n:7.1f} {iterations / wall:6.0f} {sum(mses) / n:7.4f} "
                      f"{sum(bpps) / n:7.4f}", flush=True)
    compare_defaults(latents, args.lmbda, args.seed)
    return 0


#: Package 0.1's default encode: the paper preset at 0.1's medium effort.
DEFAULT_0_1 = ("paper", Effort("medium-0.1", softround_iterations=3000, ste_iterations=300,
                               finetune_iterations=100))


def compare_defaults(latents, lmbda: float, seed: int) -> None:
    """Wall seconds of today's default encode and of 0.1's, alternating per image; the ratio."""
    now = (DEFAULT_PRESET, DEFAULT_EFFORT)
    seconds: dict[str, list[float]] = {"now": [], "0.1": []}
    for _name, latent, size in latents:
        for key, (preset, effort) in (("now", now), ("0.1", DEFAULT_0_1)):
            result = fit(latent, size, lmbda, preset=preset, effort=effort, seed=seed,
                         threads=1, progress=False)
            seconds[key].append(result.seconds)
    mean_now = sum(seconds["now"]) / len(latents)
    mean_old = sum(seconds["0.1"]) / len(latents)
    print(f"default encode: {DEFAULT_PRESET}/{DEFAULT_EFFORT} {mean_now:.1f} s; package 0.1's "
          f"paper/medium (3 400 iterations) {mean_old:.1f} s; ratio {mean_now / mean_old:.2f} "
          f"(≤ 1: no slower), mean of {len(latents)} image(s), 1 thread, λ = {lmbda:g}")


def compare_tunes(vae, latents, args) -> None:
    """Wall seconds of a fit per tune, alternating on the same latents; ratios to the first."""
    from clric_utils.api import distortion_for

    preset = args.presets[0] if len(args.presets) == 1 else DEFAULT_PRESET
    effort = args.efforts[0]
    seconds: dict[str, list[float]] = {tune: [] for tune in args.tunes}
    for name, latent, size in latents:
        for tune in args.tunes:
            result = fit(latent, size, args.lmbda, preset=preset, effort=effort,
                         seed=args.seed, threads=1, progress=False,
                         distortion=distortion_for(vae, tune))
            seconds[tune].append(result.seconds)
            print(f"{name} {tune}: {result.seconds:.1f} s, estimated {result.estimated_bpp:.4f}"
                  f" bpp", flush=True)
    first = sum(seconds[args.tunes[0]])
    for tune, values in seconds.items():
        print(f"{preset}/{effort}, λ = {args.lmbda:g}, 1 thread, {len(latents)} image(s): "
              f"{tune} {sum(values) / len(values):.1f} s per fit, {sum(values) / first:.2f}× "
              f"the {args.tunes[0]} tune's")


#: Run in a subprocess with one checkout first on sys.path: fit the saved latent, print JSON.
_CHILD = """
import hashlib, json, sys, time, torch
torch.set_num_threads(1)
from clric_utils.codec.schedule import short_effort
from clric_utils.codec.train import fit
latent, size, lmbda, preset, effort, seed = torch.load(sys.argv[1])
fit(latent, size, lmbda, preset=preset, effort=short_effort(3), progress=False)  # imports
start, cpu = time.perf_counter(), time.process_time()
result = fit(latent, size, lmbda, preset=preset, effort=effort, seed=seed, progress=False)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
digest = hashlib.sha256()
for value in result.model.state_dict().values():
    digest.update(value.detach().contiguous().numpy().tobytes())
digest.update(repr(sorted(result.weight_exponents.items())).encode())
print(json.dumps({"seconds": seconds, "cpu": cpu, "sha256": digest.hexdigest(),
                  "module": fit.__code__.co_filename, "bpp": result.estimated_bpp,
                  "mse": result.latent_mse}))
"""


def _fit_in(root: Path, job: Path) -> dict:
    """One fit of the saved ``job`` with the package of checkout ``root``, in a subprocess."""
    env = dict(os.environ, PYTHONPATH=str(root.resolve()), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(job)], env=env, check=True,
                          capture_output=True, text=True, cwd=root)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_checkouts(old_root: Path, latents, args) -> None:
    """Milliseconds per iteration of ``old_root``'s fit and this checkout's, alternating.

    CPU seconds of the fitting process are the measure (wall seconds are printed too): on
    cores shared with other work, they vary less than wall time.
    """
    new_root = Path(__file__).resolve().parents[1]
    effort = args.efforts[0]
    iterations = EFFORTS[effort].total_iterations
    preset = args.presets[0] if len(args.presets) == 1 else DEFAULT_PRESET
    print(f"old {old_root} vs new {new_root}: {preset}/{effort} ({iterations} iterations), "
          f"λ = {args.lmbda:g}, 1 thread, {args.repeats} pair(s) per image, each fit in a "
          f"fresh process after a 3-iteration warm-up fit (one-time imports)")
    with tempfile.TemporaryDirectory() as folder:
        totals = {"old": 0.0, "new": 0.0}  # CPU ms per iteration, summed
        for name, latent, size in latents:
            job = Path(folder) / f"{name}.pt"
            torch.save((latent, size, args.lmbda, preset, effort, args.seed), job)
            for repeat in range(args.repeats):
                # Alternate which side goes first, so that a drift in load favours neither.
                order = ("old", "new") if repeat % 2 == 0 else ("new", "old")
                runs = {side: _fit_in(old_root if side == "old" else new_root, job)
                        for side in order}
                ms = {side: 1000 * run["cpu"] / iterations for side, run in runs.items()}
                wall = {side: 1000 * run["seconds"] / iterations for side, run in runs.items()}
                totals["old"] += ms["old"]
                totals["new"] += ms["new"]
                if runs["old"]["module"] == runs["new"]["module"]:
                    raise RuntimeError(f"both sides imported {runs['old']['module']}")
                identical = runs["old"]["sha256"] == runs["new"]["sha256"]
                print(f"{name} #{repeat}: CPU old {ms['old']:.1f} ms/it, new {ms['new']:.1f} "
                      f"ms/it, old/new {ms['old'] / ms['new']:.2f} (wall {wall['old']:.1f} / "
                      f"{wall['new']:.1f} ms/it), bit-identical {identical} "
                      f"(bpp {runs['old']['bpp']:.5f} / {runs['new']['bpp']:.5f}, mse "
                      f"{runs['old']['mse']:.5f} / {runs['new']['mse']:.5f})", flush=True)
        print(f"CPU time per iteration, mean old/new: {totals['old'] / totals['new']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
