"""The dependency direction of DESIGN.md, checked by the import-linter contracts in pyproject.toml."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dependency_direction_holds():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is a test dependency (pip install -e .[test])"
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


# ------------------------------------------------------------------------------------ short functions
LIMIT_LINES = 120  # the hard limit (aim for ~80: STYLE.md habit 16, long work reads as named steps)
CHECKED = ("gis", "layers", "api", "usecases")

# Files whose owners are rewriting them right now and split their long functions themselves (issue 15). Their
# functions are not held to the limit until the owner lands the split: then the lead removes the entry. This list
# only ever shrinks; never add a file to it.
KNOWN_OFFENDERS = {
    "layers/incidents.py": "dispatch",
    "gis/incidents.py": "dispatch",
    "api/routes/incidents.py": "dispatch",
    "layers/plans.py": "planner",
    "layers/reassign.py": "planner",
    "layers/roster.py": "planner",
    "layers/plan_io.py": "planner",
    "layers/services.py": "residents",
    "api/routes/services.py": "residents",
    "api/routes/open311.py": "residents",
    "api/auth.py": "security",
    "api/limits.py": "security",
}


def _long_functions(limit: int) -> list[tuple[int, str, str]]:
    import ast

    found = []
    for package in CHECKED:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" in rel or rel in KNOWN_OFFENDERS:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > limit:
                        found.append((lines, rel, node.name))
    return sorted(found, reverse=True)


def test_no_function_is_over_the_hard_limit():
    offenders = _long_functions(LIMIT_LINES)
    assert not offenders, f"functions over {LIMIT_LINES} lines (split them into named steps):\n" + "\n".join(
        f"  {rel}: {name} ({lines} lines)" for lines, rel, name in offenders)


def test_the_known_offenders_are_files_of_the_tree():
    assert all((ROOT / rel).is_file() for rel in KNOWN_OFFENDERS), "remove entries of files that are gone"
