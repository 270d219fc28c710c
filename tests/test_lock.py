"""Installs are pinned: constraints.txt pins every dependency, and the Makefile, CI and the
Dockerfile install from it; the Dockerfile installs dependencies before copying code."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"


def pins() -> dict[str, str]:
    out = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"not pinned: {line!r}"
            out[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return out


def requirement_names() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return [re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0]).lower()
            for r in reqs]


def test_every_dependency_is_pinned() -> None:
    pinned = pins()
    missing = [n for n in requirement_names() if n not in pinned]
    assert not missing, f"run `make lock`: {missing} are not in constraints.txt"


def test_the_venv_matches_the_pins() -> None:
    wrong = {}
    for name, version in pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # e.g. a platform-only package
        if installed != version:
            wrong[name] = (installed, version)
    assert not wrong, f"installed vs pinned (run `make install` or `make lock`): {wrong}"


def test_the_pins_are_consistent() -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_make_installs_from_the_constraints_and_can_refresh_them() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "-c $(CONSTRAINTS) -e '.[dev]'" in makefile
    assert "\nlock:" in makefile and "pip freeze --exclude-editable" in makefile
    stamp_rule = next(line for line in makefile.splitlines() if line.startswith("$(STAMP):"))
    assert "$(CONSTRAINTS)" in stamp_rule  # a refreshed lock reinstalls
    dry = subprocess.run(["make", "-n", "test", "demo", "lock"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_the_dockerfile_installs_pinned_dependencies_before_the_code() -> None:
    lines = [x.strip() for x in (ROOT / "Dockerfile").read_text().splitlines()]
    text = "\n".join(lines)
    deps = text.index("-c constraints.txt")
    assert "COPY pyproject.toml constraints.txt ./" in lines
    assert deps < text.index("COPY dialer ./dialer")
    assert "RUN pip install --no-deps -c constraints.txt ." in lines
    assert "constraints.txt" not in (ROOT / ".dockerignore").read_text().splitlines()
