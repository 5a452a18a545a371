"""Where one encoder fit spends its time: torch ops and Python functions, by self CPU time.

Usage (from the repository root; Kodak from CLRIC_KODAK_DIR):

    python benchmarks/encode_profile.py                          # kodim23, wide, medium, λ 0.3
    python benchmarks/encode_profile.py --image kodim01 --iterations 500 --top 15

The image is encoded with the VAE, one short warm-up fit loads what a process loads once
(torch's lazy imports), then the fit runs un-profiled (for scale), under ``cProfile`` (self
time per Python function) and, shortened to ``--op-iterations`` split as the efforts are (the
profiler keeps every op event: a whole ``medium`` fit needs > 20 GB), under ``torch.profiler``
(self CPU time per aten op). Both profilers add their own cost per op or call, so the tables
rank where the time goes. Run on an idle core for absolute numbers.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time

import torch

from clric_utils.codec.schedule import get_effort, short_effort
from clric_utils.codec.train import fit
from clric_utils.data import kodak_image
from clric_utils.images import image_to_tensor, read_image
from clric_utils.vae.loading import load_vae


def torch_op_table(run, top: int) -> str:
    """The ``top`` aten ops of ``run()`` by self CPU time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def python_function_table(run, top: int) -> str:
    """The ``top`` Python functions of ``run()`` by self time (cProfile)."""
    profiler = cProfile.Profile()
    profiler.runcall(run)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Profile one fit of one Kodak latent and print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vae", default="house")
    parser.add_argument("--image", default="kodim23")
    parser.add_argument("--lmbda", type=float, default=0.3)
    parser.add_argument("--preset", default="wide")
    parser.add_argument("--effort", default="medium")
    parser.add_argument("--iterations", type=int, default=None,
                        help="a short effort of N iterations instead of --effort")
    parser.add_argument("--op-iterations", type=int, default=200,
                        help="iterations of the fit that torch.profiler records")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    vae = load_vae(args.vae)
    image = image_to_tensor(read_image(kodak_image(args.image)))
    latent, size = vae.encode(image), tuple(image.shape[-2:])
    effort = short_effort(args.iterations) if args.iterations else get_effort(args.effort)

    def run(plan=effort):
        return fit(latent, size, args.lmbda, preset=args.preset, effort=plan, seed=args.seed,
                   progress=False)

    run(short_effort(3))  # warm-up: one-time imports (torch._dynamo via Adam) leave the tables
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    print(f"{args.image} latent {tuple(latent.shape)}, preset {args.preset}, {effort.name} "
          f"({effort.total_iterations} iterations), λ = {args.lmbda:g}, torch "
          f"{torch.__version__}, 1 thread: {seconds:.1f} s un-profiled, "
          f"{1000 * seconds / effort.total_iterations:.1f} ms per iteration")
    print("\n## Python functions by self time (cProfile, the whole fit)\n")
    print(python_function_table(run, args.top))
    print(f"\n## torch ops by self CPU time (torch.profiler, {args.op_iterations} iterations)\n")
    print(torch_op_table(lambda: run(short_effort(args.op_iterations)), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
