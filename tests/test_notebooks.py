"""The tutorial notebooks: stored clean, parameterised for papermill, and run end to end.

Every chapter ends with exercises; their solutions are notebooks of their own
(``notebooks/solutions/``), checked and run here like the chapters. The runs themselves (fast
mode, temporary folders, shared with the site test) are in ``tutorial_runs.py``.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from tutorial_runs import (
    FAST,
    FIGURES,
    NAMES,
    NOTEBOOKS_DIR,
    SOLUTION_NAMES,
    SOLUTIONS_DIR,
    SOLUTIONS_FAST,
    TutorialRuns,
    notebook_path,
)

EVERY = NAMES + SOLUTION_NAMES


def read(name: str) -> nbformat.NotebookNode:
    """A tutorial notebook, validated against the nbformat schema."""
    notebook = nbformat.read(notebook_path(name), as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_the_seven_notebooks_exist_in_order():
    found = sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb"))
    assert found == list(NAMES)


def test_one_solutions_notebook_per_chapter():
    found = sorted(f"solutions/{p.stem}" for p in SOLUTIONS_DIR.glob("*.ipynb"))
    assert found == list(SOLUTION_NAMES)


@pytest.mark.parametrize("name", EVERY)
def test_stored_without_outputs(name):
    for cell in read(name).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a code cell has stored outputs"
            assert cell.execution_count is None, f"{name}: a code cell has an execution count"


@pytest.mark.parametrize("name", EVERY)
def test_has_papermill_parameters(name):
    import papermill

    notebook = read(name)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: expected one cell tagged 'parameters'"
    # papermill must parse every line of it (a comment containing '=' breaks its parser).
    names = set(papermill.inspect_notebook(str(notebook_path(name))))
    assert {"vae", "out_dir", "device", "threads"} <= names
    fast = SOLUTIONS_FAST if name in SOLUTION_NAMES else FAST[name]
    assert set(fast) <= names, f"{name}: unknown fast-mode parameters"
    assert names & {"crop", "max_images"}, f"{name}: no fast-mode size knob"


@pytest.mark.parametrize("name", EVERY)
def test_teaches_and_checks(name):
    cells = read(name).cells
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert markdown.lstrip().startswith("# "), f"{name}: no title"
    # An equation: a TeX control word (\frac, \lambda, …) inside $…$ or $$…$$.
    assert re.search(r"\$[^$]*\\[A-Za-z]+[^$]*\$", markdown), f"{name}: no equation"
    last_code = [c for c in cells if c.cell_type == "code"][-1].source
    assert last_code.count("assert ") >= 3, f"{name}: the last cell should check results"
    assert "all checks passed" in last_code


def exercise_numbers(markdown: str) -> list[int]:
    """The numbers of the exercises in a markdown text (list items ``1.`` … at line start)."""
    return [int(n) for n in re.findall(r"^(\d+)\. ", markdown, flags=re.MULTILINE)]


@pytest.mark.parametrize("name", NAMES)
def test_ends_with_exercises_and_their_solutions_answer_each(name):
    last = read(name).cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Exercises"), name
    numbers = exercise_numbers(last.source)
    assert numbers == list(range(1, len(numbers) + 1)) and 3 <= len(numbers) <= 5, numbers
    assert f"solutions/{name}_solutions.ipynb" in last.source, f"{name}: no link to solutions"
    solutions = read(f"solutions/{name}_solutions").cells
    headings = [int(n) for c in solutions if c.cell_type == "markdown"
                for n in re.findall(r"^## Exercise (\d+)", c.source, flags=re.MULTILINE)]
    assert headings == numbers, f"{name}: solutions answer {headings}, chapter asks {numbers}"


def printed_text(executed_path) -> str:
    """Everything an executed notebook's code cells printed (stream outputs)."""
    executed = nbformat.read(executed_path, as_version=4)
    return "".join(out.get("text", "") for cell in executed.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_fast_mode(name, tutorial_runs: TutorialRuns):
    assert "all checks passed" in printed_text(tutorial_runs.run(name))
    figures = tutorial_runs.folders["figures"]
    for pattern in FIGURES[name]:
        matches = list(figures.glob(pattern))
        assert matches and all(p.stat().st_size > 0 for p in matches), f"{name}: {pattern}"


@pytest.mark.slow
@pytest.mark.parametrize("name", SOLUTION_NAMES)
def test_solutions_run_in_fast_mode(name, tutorial_runs: TutorialRuns):
    assert "all checks passed" in printed_text(tutorial_runs.run(name))


def test_lab_mode_names_only_parameters_the_chapters_have(capsys) -> None:
    """`make tutorial LAB=1`: every chapter has lab settings, each a papermill parameter of
    the chapter (with `lab` itself), 03 and 04 share the crop (04 decodes 03's file), the note
    names each change and what the full run does, and the command prints JSON for `-y`."""
    import json

    import papermill

    from clric_utils.tutorial import lab

    assert set(lab.LAB_RUNS) == set(NAMES)
    for name in NAMES:
        available = set(papermill.inspect_notebook(str(notebook_path(name))))
        parameters = lab.lab_parameters(name)
        assert parameters["lab"] is True and set(parameters) <= available, name
        note = lab.lab_note(name)
        assert all(f"{s.parameter} = " in note and s.full_run in note
                   for s in lab.LAB_RUNS[name]), note
    assert (lab.lab_parameters("03_entropy_coding")["crop"]
            == lab.lab_parameters("04_decoding")["crop"])
    assert lab.main(["05_evaluation"]) == 0
    assert json.loads(capsys.readouterr().out) == lab.lab_parameters("05_evaluation")
    with pytest.raises(KeyError, match="no lab settings"):
        lab.lab_parameters("08_nothing")
