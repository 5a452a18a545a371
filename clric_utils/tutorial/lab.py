"""Lab mode: every chapter in a few minutes, for a class, and a note of what it leaves out.

``make tutorial LAB=1`` runs each chapter with ``lab=True`` and the parameters of
``LAB_RUNS[chapter]`` (papermill ``-y``, printed by ``python -m clric_utils.tutorial.lab
<chapter>``); the chapter prints ``lab_note(chapter)`` so that a student sees what the full
run (``make tutorial``, the default) does instead. The settings are data, chosen so that each
chapter runs in at most 4 minutes and all seven in at most 25 on the project's 2-core CPU
machine; measured there (``build/tutorial_times.csv``, two Kodak sweeps sharing the machine):
27 s to 2 min 54 s per chapter, 10 min 31 s for all seven (each chapter's front matter gives
its own).

Checks of a chapter that only hold on whole images (guarded by ``crop is None`` in the
notebooks) are skipped on crops; the note says so.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class LabSetting:
    """One parameter a lab run changes, and what the full run does instead (in words)."""

    parameter: str
    value: object
    full_run: str


#: A centre crop of the tutorial image (512×512, the astronaut): a 32×32 latent, ¼ of the fit's
#: values. Chapters 03 and 04 must use the same crop: 04 decodes the file 03 wrote.
CROP = [256, 256]

LAB_RUNS: dict[str, tuple[LabSetting, ...]] = {
    "01_vae_latents": (
        LabSetting("crop", CROP, "the whole 512×512 image"),
    ),
    "02_overfitting": (
        LabSetting("crop", CROP, "the whole 512×512 image"),
    ),
    "03_entropy_coding": (
        LabSetting("crop", CROP, "the whole 512×512 image"),
    ),
    "04_decoding": (
        LabSetting("crop", CROP, "the whole 512×512 image"),
    ),
    "05_evaluation": (
        LabSetting("max_images", 1, "the first 2 Kodak images"),
        LabSetting("crop", [256, 384], "whole 768×512 images"),
        LabSetting("lambdas", [10.0, 0.1, 0.001], "4 λ: 10, 1, 0.1, 0.001"),
    ),
    "06_continuous_quality": (
        LabSetting("crop", CROP, "the whole 512×512 image"),
        LabSetting("lambdas", [30.0, 1.0, 0.01, 0.001], "the 6 λ of wide's calibrated grid"),
    ),
    "07_paper_figures": (
        LabSetting("visual_images", [19], "Kodak 13, 19 and 22"),
        LabSetting("crop", [256, 384], "whole images in the visual comparison"),
    ),
}  # fmt: skip


def lab_parameters(chapter: str) -> dict:
    """The papermill parameters of ``chapter``'s lab run (``lab=True`` and its settings)."""
    if chapter not in LAB_RUNS:
        raise KeyError(f"no lab settings for chapter {chapter!r}; chapters: {sorted(LAB_RUNS)}")
    return {"lab": True, **{s.parameter: s.value for s in LAB_RUNS[chapter]}}


def lab_note(chapter: str) -> str:
    """What ``chapter``'s lab run changes and what the full run does instead, as one paragraph."""
    settings = LAB_RUNS[chapter]
    changes = "; ".join(f"{s.parameter} = {s.value!r} (full run: {s.full_run})"
                        for s in settings)
    return (f"Lab mode (make tutorial LAB=1): {changes}. Checks that hold only on whole images "
            "are skipped; `make tutorial` runs the chapter in full.")


def main(argv: list[str] | None = None) -> int:
    """Print a chapter's lab parameters as JSON (which is YAML: papermill's ``-y`` reads it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", choices=sorted(LAB_RUNS), help="notebook name, no suffix")
    args = parser.parse_args(argv)
    print(json.dumps(lab_parameters(args.chapter)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
