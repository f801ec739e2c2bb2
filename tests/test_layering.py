"""Imports run one way (docs/ARCHITECTURE.md): the JPEG layer knows nothing of the rest, the
two command modules do not import each other, and the runtime never imports training."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jpegzip"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every jpegzip module ``path`` imports, at any depth of the file (lazy ones too)."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            prefix = ".".join(base) if node.level else ""
            name = ".".join(filter(None, [prefix, node.module or ""]))
            found.add(name)
            found |= {f"{name}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] == "jpegzip"}


MODULES = {_module(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("module", [m for m in MODULES if not _under(m, "jpegzip.training")])
def test_the_runtime_never_imports_training(module):
    assert not [name for name in MODULES[module] if _under(name, "jpegzip.training")]


@pytest.mark.parametrize("module", [m for m in MODULES if _under(m, "jpegzip.jpeg")])
def test_the_jpeg_layer_imports_only_errors_and_limits(module):
    outside = [name for name in MODULES[module] if name != "jpegzip" and not any(
        _under(name, allowed) for allowed in ("jpegzip.jpeg", "jpegzip.errors", "jpegzip.limits"))]
    assert not outside


def test_the_command_modules_do_not_import_each_other():
    assert not [name for name in MODULES["jpegzip.cluster_cli"] if _under(name, "jpegzip.cli")]
