"""The library's floors: nothing below the app imports ocr_viz.app, and only the app (ocr_viz/app/)
and the served app's benchmarks (ocr_viz/serving/) import Streamlit. Every import counts, also
those inside functions."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ocr_viz"
STREAMLIT_FOLDERS = ("ocr_viz/app/", "ocr_viz/serving/")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved to absolute names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


def modules() -> list[tuple[str, Path]]:
    return [(path.relative_to(ROOT).as_posix(), path) for path in sorted(PACKAGE.rglob("*.py"))]


def test_nothing_below_the_app_floor_imports_the_app():
    wrong = [(where, target) for where, path in modules() if not where.startswith("ocr_viz/app/")
             for target in imports(path) if target == "ocr_viz.app" or target.startswith("ocr_viz.app.")]
    assert not wrong, wrong


def test_only_the_app_and_the_serving_benchmarks_import_streamlit():
    wrong = [(where, target) for where, path in modules() if not where.startswith(STREAMLIT_FOLDERS)
             for target in imports(path) if target.split(".")[0] == "streamlit"]
    assert not wrong, wrong


def test_the_check_sees_relative_and_late_imports():
    """The walker itself: a relative import resolves, an import inside a function counts."""
    app = ROOT / "ocr_viz" / "app" / "transport.py"
    assert "ocr_viz.app.session" in imports(app) and "streamlit" in imports(app)
    assert "ocr_viz.serving.benchmarks" in imports(ROOT / "ocr_viz" / "bench.py")  # inside main()
