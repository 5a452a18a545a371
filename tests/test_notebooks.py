"""The tutorial notebooks: stored clean, parameterised for papermill, and run end to end.

The runs themselves (fast mode, temporary folders, shared with the site test) are in
``tutorial_runs.py``.
"""

from __future__ import annotations

import nbformat
import pytest
from tutorial_runs import FAST, FIGURES, NAMES, NOTEBOOKS_DIR, TutorialRuns, notebook_path


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


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_fast_mode(name, tutorial_runs: TutorialRuns):
    executed = nbformat.read(tutorial_runs.run(name), as_version=4)
    text = "".join(
        out.get("text", "") for cell in executed.cells if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )  # fmt: skip
    assert "all checks passed" in text
    figures = tutorial_runs.folders["figures"]
    for pattern in FIGURES[name]:
        matches = list(figures.glob(pattern))
        assert matches and all(p.stat().st_size > 0 for p in matches), f"{name}: {pattern}"
