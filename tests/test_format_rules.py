"""The format's rules live in one torch-free module that the codec imports (docs/format.md)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import clric_utils
from clric_utils.bitstream import rules

PACKAGE = Path(clric_utils.__file__).parent


def test_rules_import_without_torch_in_a_fresh_interpreter():
    code = ("import sys, clric_utils.bitstream.rules as r; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('clric_utils')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    loaded = eval(result.stdout)  # a printed list of module names
    assert "torch" not in loaded
    assert set(loaded) == {"clric_utils", "clric_utils.bitstream", "clric_utils.bitstream.rules"}


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved)."""
    package = "clric_utils." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            names.add(f"{base}.{node.module}" if node.level else node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_bitstream_module_imports_the_trainer():
    for path in sorted((PACKAGE / "bitstream").glob("*.py")):
        imported = _imports(path)
        assert not imported & {"clric_utils.codec.model", "clric_utils.codec.train"}, path.name


def test_every_format_constant_is_defined_once():
    """No other module of the package assigns a name that rules.py defines in capitals."""
    constants = [name for name in vars(rules) if re.fullmatch(r"[A-Z][A-Z0-9_]+", name)]
    assert {"MAGIC", "MAX_PIXELS", "MAX_GRID_RANGE", "PMF_BITS", "VAE_STRIDE"} <= set(constants)
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "rules.py":
            continue
        text = path.read_text()
        for name in constants:
            assert not re.search(rf"^{name}\s*(:[^=]*)?=", text, re.MULTILINE), (path, name)
