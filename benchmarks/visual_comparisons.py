"""Visual comparisons of the paper's images: CLRIC at two rates, JPEG/WebP/AVIF at matched size.

Usage (from the repository root; Kodak from CLRIC_KODAK_DIR, CLIC 2020 Professional validation
from CLRIC_CLIC_DIR, LPIPS/DISTS backbones from CLRIC_TORCHVISION_WEIGHTS):

    python benchmarks/visual_comparisons.py                       # Kodak 13, 19, 22 (+ CLIC)
    python benchmarks/visual_comparisons.py --kodak 19 --clic --lambdas 1 0.1
    python benchmarks/visual_comparisons.py --vae sd --device cuda

Writes figures/fig_visual_<image>.png per image: the original (full, detail boxed), then the
boxed region for CLRIC at each λ and for each baseline at the quality whose real file size is
closest to that CLRIC file (a baseline that cannot go that low says so). The paper's images are
Kodak 13, 19, 22 and CLIC images 6, 7, 13, 14, 18, 20, 21, 22, 23, 39 (numbered in name order);
the CLIC ones are drawn only when CLRIC_CLIC_DIR (or the download cache) holds the data set.
Each image costs one CLRIC encode per λ (minutes on a CPU) plus about 10 encodes per baseline
and rate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clric_utils.codec.arch import DEFAULT_PRESET
from clric_utils.data import clic2020_image, kodak_image
from clric_utils.errors import DatasetMissingError
from clric_utils.evaluation.contenders import make_codec
from clric_utils.evaluation.visual import visual_comparison
from clric_utils.images import read_image

#: The paper's choices (supplement, Figs. 4–14).
PAPER_KODAK = (13, 19, 22)
PAPER_CLIC = (6, 7, 13, 14, 18, 20, 21, 22, 23, 39)

#: Default λ pair: about 0.04 and 0.1 bpp on Kodak with the house VAE and the wide preset
#: (clric_utils.codec.schedule.LAMBDA_CALIBRATION), the low-rate range the paper shows.
DEFAULT_LAMBDAS = (1.0, 0.1)


def chosen_images(kodak: list[int], clic: list[int] | None) -> list[tuple[str, Path]]:
    """(figure name, path) of the requested images; CLIC ones are skipped, with a note, when
    the data set is not on this machine."""
    images = [(f"kodim{n:02d}", kodak_image(n)) for n in kodak]
    if clic:
        try:
            images += [(f"clic{n:02d}", clic2020_image(n)) for n in clic]
        except DatasetMissingError as error:
            print(f"skipping the CLIC images: {error}")
    return images


def main(argv: list[str] | None = None) -> int:
    """Draw one matched-rate comparison figure per requested image."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kodak", nargs="*", type=int, default=list(PAPER_KODAK),
                        help="Kodak numbers (default: 13 19 22)")
    parser.add_argument("--clic", nargs="*", type=int, default=list(PAPER_CLIC),
                        help="CLIC 2020 image numbers, 1–41 in name order (default: the "
                        "paper's ten; none: --clic with no numbers)")
    parser.add_argument("--lambdas", nargs="+", type=float, default=list(DEFAULT_LAMBDAS),
                        help="CLRIC λ values, two or more (default: 1 0.1)")
    parser.add_argument("--baselines", nargs="+", default=["jpeg", "webp", "avif"])
    parser.add_argument("--vae", default="house")
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--effort", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--figures", type=Path, default=Path("figures"))
    args = parser.parse_args(argv)

    from clric_utils.vae import load_vae

    vae = load_vae(args.vae, args.device)
    clric = make_codec("clric", vae=vae, device=args.device, preset=args.preset,
                       effort=args.effort)  # fmt: skip
    baselines = [make_codec(name) for name in args.baselines]
    for name, path in chosen_images(args.kodak, args.clic):
        out = args.figures / f"fig_visual_{name}.png"
        title = (f"{name}: CLRIC ({args.vae} VAE, preset {args.preset}) and "
                 f"{', '.join(b.name for b in baselines)} at the file size closest to CLRIC's "
                 "(a note where a format cannot get that small); crops of the boxed region, "
                 "metrics on the whole image")  # fmt: skip
        _, comparison = visual_comparison(read_image(path), clric, args.lambdas, baselines,
                                          out, title)  # fmt: skip
        print(f"wrote {out}")
        for item in comparison.subject:
            print("  " + item.caption().replace("\n", " | "))
        for row in comparison.baselines.values():
            for item in dict.fromkeys(row):  # a spanning panel once
                print("  " + item.caption().replace("\n", " | "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
