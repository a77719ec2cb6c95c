"""Pins live in pyproject.toml; environment.yml must list exactly the same."""

from __future__ import annotations

import re
import tomllib

from helpers.core.paths import ROOT


def _pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(_split(d) for d in deps)


def _split(requirement: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*==\s*([^\s;]+)\s*$", requirement)
    assert m, f"not an exact pin: {requirement!r}"
    return m.group(1).lower() + (m.group(2) or ""), m.group(3)


def _environment_pins() -> dict[str, str]:
    pins = {}
    in_pip = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.strip() == "- pip:":
            in_pip = True
            continue
        m = re.match(r"^\s+-\s+(.+?)\s*$", line)
        if in_pip and m and not m.group(1).startswith("-e"):
            name, version = _split(m.group(1))
            pins[name] = version
    return pins


def test_every_dependency_is_pinned_exactly():
    assert _pyproject_pins()


def test_environment_yml_agrees_with_pyproject():
    assert _environment_pins() == _pyproject_pins()


def test_installed_versions_match_the_pins():
    import importlib.metadata as md

    for name, version in _pyproject_pins().items():
        base = name.split("[")[0]
        assert md.version(base).split("+")[0] == version, base
