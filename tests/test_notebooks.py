"""The tutorial notebooks: stored clean, parameterised for papermill, and run end to end.

The run tests execute every notebook with papermill in its fast mode (64×96 crops, a few dozen
training iterations, one image, one torch thread) with figures and results in a temporary
folder, so the repository's figures/ and results/ stay untouched. Notebooks 03 → 04 share a
work folder (04 decodes the file 03 wrote); 07 starts from an empty results folder, so it also
exercises making the missing results itself.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

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
COMMON = {"vae": "house", "threads": 1, "device": "cpu"}
CROP = [64, 96]
ITERATIONS = 60

#: Fast-mode parameters per notebook (besides COMMON and the folders).
FAST: dict[str, dict] = {
    "01_vae_latents": {"crop": CROP, "metrics": ["psnr", "lpips_alex"]},
    "02_overfitting": {"crop": CROP, "iterations": ITERATIONS, "progress": False},
    "03_entropy_coding": {"crop": CROP, "iterations": ITERATIONS, "progress": False},
    "04_decoding": {"crop": CROP, "iterations": ITERATIONS, "progress": False},
    "05_evaluation": {
        "crop": CROP, "iterations": ITERATIONS, "progress": False, "dataset": "auto",
        "max_images": 1, "lambdas": [10.0, 0.001], "jpeg_qualities": [10, 50],
        "webp_qualities": [10, 50], "latent_steps": [0.2, 0.8],
        "metrics": ["psnr", "lpips_alex", "dists"],
    },
    "06_continuous_quality": {
        "crop": CROP, "iterations": ITERATIONS, "progress": False, "lambdas": [30.0, 0.001],
        "metrics": ["psnr"], "interactive": False,
    },
    "07_paper_figures": {
        "crop": CROP, "iterations": ITERATIONS, "progress": False, "lambdas": [10.0, 0.1],
        "visual_images": [None], "visual_lambdas": [1.0], "rd_metrics": ["psnr", "dists"],
        "make_missing": True,
    },
}  # fmt: skip

#: Figures each notebook must leave in out_dir.
FIGURES = {
    "01_vae_latents": ["01_latent_channels.png", "01_vae_reconstruction.png",
                       "01_vae_error.png", "01_latent_noise.png"],
    "02_overfitting": ["02_training_curves.png", "02_latent_vs_estimate.png", "02_grids.png",
                       "02_decoded.png"],
    "03_entropy_coding": ["03_arm_context.png", "03_grid_probabilities.png",
                          "03_quantized_parameters.png", "03_file_vs_estimate.png"],
    "04_decoding": ["04_decoded.png", "04_macs.png"],
    "05_evaluation": ["05_rd_curves.png"],
    "06_continuous_quality": ["06_continuous_quality.png", "06_rate_curve.png"],
    "07_paper_figures": ["table1_macs.png", "table1_macs.csv", "fig1_rd_*.png",
                         "fig2_perceptual_*.png", "fig3_continuous_*.png", "fig_visual_*.png"],
}  # fmt: skip


def notebook_path(name: str) -> Path:
    """Path of a tutorial notebook."""
    return NOTEBOOKS_DIR / f"{name}.ipynb"


def read(name: str) -> nbformat.NotebookNode:
    """A tutorial notebook, validated against the nbformat schema."""
    notebook = nbformat.read(notebook_path(name), as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_the_seven_notebooks_exist_in_order():
    found = sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb"))
    assert found == list(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_stored_without_outputs(name):
    for cell in read(name).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a code cell has stored outputs"
            assert cell.execution_count is None, f"{name}: a code cell has an execution count"


@pytest.mark.parametrize("name", NAMES)
def test_has_papermill_parameters(name):
    import papermill

    notebook = read(name)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: expected one cell tagged 'parameters'"
    # papermill must parse every line of it (a comment containing '=' breaks its parser).
    names = set(papermill.inspect_notebook(str(notebook_path(name))))
    assert {"vae", "out_dir", "device", "threads"} <= names
    assert set(FAST[name]) <= names, f"{name}: unknown fast-mode parameters"
    assert names & {"crop", "max_images"}, f"{name}: no fast-mode size knob"


@pytest.mark.parametrize("name", NAMES)
def test_teaches_and_checks(name):
    cells = read(name).cells
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert markdown.lstrip().startswith("# ") and "$" in markdown, f"{name}: no title/equation"
    last_code = [c for c in cells if c.cell_type == "code"][-1].source
    assert last_code.count("assert ") >= 3, f"{name}: the last cell should check results"
    assert "all checks passed" in last_code


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Temporary out/work/results folders shared by the run tests of this module."""
    root = tmp_path_factory.mktemp("tutorial")
    made = {key: root / key
            for key in ("figures", "work", "results", "results07", "runs07", "executed")}
    for folder in made.values():
        folder.mkdir()
    return made


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_fast_mode(name, folders):
    import papermill

    parameters = {
        **COMMON,
        **FAST[name],
        "out_dir": str(folders["figures"]),
    }
    available = set(papermill.inspect_notebook(str(notebook_path(name))))
    if "work_dir" in available:
        parameters["work_dir"] = str(folders["work"])
    if "results_dir" in available:
        key = "results07" if name == "07_paper_figures" else "results"
        parameters["results_dir"] = str(folders[key])
    if "runs_dir" in available:  # 07: an empty one too, so that it makes what is missing
        parameters["runs_dir"] = str(folders["runs07"])
    output = folders["executed"] / f"{name}.ipynb"
    papermill.execute_notebook(
        str(notebook_path(name)),
        str(output),
        parameters=parameters,
        cwd=str(NOTEBOOKS_DIR),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=600,
    )
    executed = nbformat.read(output, as_version=4)
    text = "".join(
        out.get("text", "") for cell in executed.cells if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )  # fmt: skip
    assert "all checks passed" in text
    for pattern in FIGURES[name]:
        matches = list(folders["figures"].glob(pattern))
        assert matches and all(p.stat().st_size > 0 for p in matches), f"{name}: {pattern}"
