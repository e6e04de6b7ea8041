"""The package as README's "Going live" installs it (`pip install .`, not editable) holds
everything the portal needs to serve: its templates and its style sheet and scripts."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "ledger", "web", "saml")


def _portal_files() -> list[str]:
    """Every file the portal reads at run time besides its Python modules."""
    files = [*(ROOT / "web" / "templates").rglob("*.html"), *(ROOT / "web" / "static").iterdir()]
    return sorted(str(path.relative_to(ROOT)) for path in files if path.is_file())


def test_the_wheel_holds_the_portals_templates_and_static_files(tmp_path):
    source = tmp_path / "source"  # a copy: the build leaves build/ and egg-info behind
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("approval_ledger-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packaged = set(archive.namelist())
    expected = _portal_files()
    assert "web/templates/base.html" in expected
    assert "web/static/style.css" in expected
    assert [name for name in expected if name not in packaged] == []
