"""pyproject.toml and environment.yml must ask for the same packages and versions."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11
yaml = pytest.importorskip("yaml")
requirements = pytest.importorskip("packaging.requirements")
specifiers = pytest.importorskip("packaging.specifiers")
utils = pytest.importorskip("packaging.utils")

ROOT = Path(__file__).resolve().parents[1]


def _normalise(lines: list[str]) -> dict[str, tuple[str, frozenset[str], str]]:
    """Requirement strings → {canonical name: (specifier, extras, marker)}."""
    result = {}
    for line in lines:
        requirement = requirements.Requirement(line)
        name = utils.canonicalize_name(requirement.name)
        assert name not in result, f"{name} listed twice"
        specifier = ",".join(sorted(str(s) for s in requirement.specifier))
        result[name] = (specifier, frozenset(requirement.extras), str(requirement.marker or ""))
    return result


@pytest.fixture(scope="module")
def pyproject() -> dict:
    """The parsed pyproject.toml."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment() -> dict:
    """The parsed environment.yml."""
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _pip_section(environment: dict) -> list[str]:
    """The entries of environment.yml's ``pip:`` list."""
    sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, "environment.yml needs exactly one pip section"
    return sections[0]


def test_pip_section_equals_pyproject(pyproject, environment):
    project = pyproject["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    pip = [line for line in _pip_section(environment) if not line.startswith("-")]
    assert _normalise(pip) == _normalise(wanted)


def test_environment_installs_the_package(environment):
    assert any(line.replace(" ", "").startswith("-e.") for line in _pip_section(environment))


def test_torch_pins(pyproject):
    pins = _normalise(pyproject["project"]["dependencies"])
    assert pins["torch"][0] == "==2.14.1"
    assert pins["torchvision"][0] == "==0.29.1"


def test_conda_python_satisfies_requires_python(pyproject, environment):
    pythons = [
        d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python")
    ]
    assert len(pythons) == 1
    version = pythons[0].split("=", 1)[1].lstrip("=")
    allowed = specifiers.SpecifierSet(pyproject["project"]["requires-python"])
    assert version in allowed, f"python {version} is outside requires-python {allowed}"
