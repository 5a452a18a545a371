"""Running the tutorial notebooks in fast mode, once per test session.

Every notebook runs with papermill in its fast mode (64×96 crops, a few dozen training
iterations, one image, one torch thread) with figures and results in temporary folders, so the
repository's figures/ and results/ stay untouched. Notebooks 03 → 04 share a work folder (04
decodes the file 03 wrote); 07 starts from an empty results folder, so it also exercises making
the missing results itself. Runs are cached: the notebook tests and the site test share them.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NAMES = (
    "01_vae_latents",
    "02_overfitting",
    "03_entropy_coding",
    "04_decoding",
    "05_evaluation",
    "06_continuous_quality",
    "07_paper_figures",
)

#: Parameters every notebook gets in the tests.
COMMON = {"vae": "house", "threads": 1, "device": "cpu", "progress": False}
CROP = [64, 96]
ITERATIONS = 60

#: Fast-mode parameters per notebook (besides COMMON and the folders).
FAST: dict[str, dict] = {
    "01_vae_latents": {"crop": CROP, "metrics": ["psnr", "lpips_alex"]},
    "02_overfitting": {"crop": CROP, "iterations": ITERATIONS},
    "03_entropy_coding": {"crop": CROP, "iterations": ITERATIONS},
    "04_decoding": {"crop": CROP, "iterations": ITERATIONS},
    "05_evaluation": {
        "crop": CROP, "iterations": ITERATIONS, "dataset": "auto",
        "max_images": 1, "lambdas": [10.0, 0.001], "jpeg_qualities": [10, 50],
        "webp_qualities": [10, 50], "latent_steps": [0.2, 0.8],
        "metrics": ["psnr", "lpips_alex", "dists"],
    },
    "06_continuous_quality": {
        "crop": CROP, "iterations": ITERATIONS, "lambdas": [30.0, 0.001],
        "metrics": ["psnr"], "interactive": False,
    },
    "07_paper_figures": {
        "crop": CROP, "iterations": ITERATIONS, "lambdas": [10.0, 0.1],
        "visual_images": [None], "visual_lambdas": [10.0, 1.0], "rd_metrics": ["psnr", "dists"],
        "make_missing": True,
    },
}  # fmt: skip

#: Figures each notebook must leave in out_dir.
FIGURES = {
    "01_vae_latents": ["01_latent_channels.png", "01_vae_reconstruction.png",
                       "01_vae_error.png", "01_latent_noise.png", "01_two_vaes.png"],
    "02_overfitting": ["02_training_curves.png", "02_latent_vs_estimate.png", "02_grids.png",
                       "02_decoded.png", "02_perceptual_tune.png"],
    "03_entropy_coding": ["03_arm_context.png", "03_grid_probabilities.png",
                          "03_quantized_parameters.png", "03_file_vs_estimate.png"],
    "04_decoding": ["04_decoded.png", "04_macs.png"],
    "05_evaluation": ["05_rd_curves.png"],
    "06_continuous_quality": ["06_continuous_quality.png", "06_rate_curve.png"],
    "07_paper_figures": ["table1_macs.png", "table1_macs.csv", "fig1_rd_*.png",
                         "fig2_perceptual_*.png", "fig3_continuous_*.png", "07_visual_*.png"],
}  # fmt: skip


#: The exercises' solutions: ``notebooks/solutions/<chapter>_solutions.ipynb``, one per chapter.
SOLUTIONS_DIR = NOTEBOOKS_DIR / "solutions"
SOLUTION_NAMES = tuple(f"solutions/{name}_solutions" for name in NAMES)

#: Fast-mode parameters of every solutions notebook (besides COMMON and out_dir).
SOLUTIONS_FAST = {"crop": CROP, "iterations": ITERATIONS}


def notebook_path(name: str) -> Path:
    """Path of a tutorial notebook (``solutions/…`` for a solutions notebook)."""
    return NOTEBOOKS_DIR / f"{name}.ipynb"


class TutorialRuns:
    """Fast-mode papermill runs of the notebooks into one temporary root, each at most once."""

    def __init__(self, root: Path) -> None:
        self.folders = {key: root / key
                        for key in ("figures", "work", "results", "results07", "runs07",
                                    "executed")}  # fmt: skip
        for folder in self.folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        self._done: dict[str, Path] = {}

    @property
    def executed_dir(self) -> Path:
        """Where the executed copies go (``<name>.ipynb``)."""
        return self.folders["executed"]

    def parameters(self, name: str) -> dict:
        """The papermill parameters of a notebook's fast run."""
        import papermill

        available = set(papermill.inspect_notebook(str(notebook_path(name))))
        fast = SOLUTIONS_FAST if name.startswith("solutions/") else FAST[name]
        parameters = {**COMMON, **fast, "out_dir": str(self.folders["figures"])}
        if "work_dir" in available:
            parameters["work_dir"] = str(self.folders["work"])
        if "results_dir" in available:
            key = "results07" if name == "07_paper_figures" else "results"
            parameters["results_dir"] = str(self.folders[key])
        if "runs_dir" in available:  # 07: an empty one too, so that it makes what is missing
            parameters["runs_dir"] = str(self.folders["runs07"])
        return {key: value for key, value in parameters.items() if key in available}

    def run(self, name: str) -> Path:
        """Execute a notebook (once per session; 04 runs 03 first) and return the executed copy."""
        import papermill

        if name not in self._done:
            if name == "04_decoding":
                self.run("03_entropy_coding")
            output = self.executed_dir / f"{name}.ipynb"
            output.parent.mkdir(parents=True, exist_ok=True)
            papermill.execute_notebook(
                str(notebook_path(name)),
                str(output),
                parameters=self.parameters(name),
                cwd=str(notebook_path(name).parent),  # as JupyterLab runs it
                kernel_name="python3",
                progress_bar=False,
                execution_timeout=600,
            )
            self._done[name] = output
        return self._done[name]

    def run_all(self, solutions: bool = False) -> list[Path]:
        """Execute every chapter in order, then (``solutions``) every solutions notebook;
        cached ones are not run again."""
        return [self.run(name) for name in NAMES + (SOLUTION_NAMES if solutions else ())]
