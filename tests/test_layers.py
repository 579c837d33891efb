"""The import rule of shared/DESIGN.md, checked on the source: `storage/` imports nothing above
it, the core imports no front end (except the composition root), no front end imports another,
and the model in use has one writer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRONT_ENDS = ("handlers.slack", "handlers.discord", "handlers.cli")
PLATFORM_LIBRARIES = ("slack_bolt", "slack_sdk", "discord")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def under(name: str, *packages: str) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def named(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", modules("storage"), ids=named)
def test_storage_imports_nothing_above_it(path):
    upward = [n for n in imports(path) if under(n, "bot", "handlers", "worker", "openai")]
    assert not upward, f"{named(path)} imports {upward}"


# The composition root (`python -m bot`) builds the front ends: it alone may import them.
CORE = [path for path in modules("bot") if path != ROOT / "bot" / "__main__.py"]


@pytest.mark.parametrize("path", CORE, ids=named)
def test_the_core_imports_no_front_end(path):
    outward = [n for n in imports(path) if under(n, "handlers", *PLATFORM_LIBRARIES)]
    assert not outward, f"{named(path)} imports {outward}"


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_no_front_end_imports_another(front_end):
    others = [other for other in FRONT_ENDS if other != front_end]
    for path in modules(front_end.replace(".", "/")):
        crossing = [n for n in imports(path) if under(n, *others)]
        assert not crossing, f"{named(path)} imports {crossing}"


def test_the_model_in_use_has_one_writer():
    writers = [
        named(path)
        for package in ("bot", "handlers")
        for path in modules(package)
        if "models.activate(" in path.read_text()
    ]
    assert writers == ["bot/training/model_switch.py"]


def imported_names(path: Path) -> set[str]:
    return {
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


# The terminal's composition root opens the core; every other front-end module is handed a
# face (bot/faces.py) and may name records (JobRecord, MessageKey), never a store or the bag.
FACE_ONLY = [
    path
    for front_end in FRONT_ENDS
    for path in modules(front_end.replace(".", "/"))
    if path != ROOT / "handlers" / "cli" / "runtime.py"
]


@pytest.mark.parametrize("path", FACE_ONLY, ids=named)
def test_front_ends_see_the_core_through_a_face_never_its_stores(path):
    reaching = [
        name
        for name in imported_names(path)
        if name.startswith("bot.app.") or name.endswith("Store") or name.endswith("Stores")
    ]
    assert not reaching, f"{named(path)} imports {reaching}"
