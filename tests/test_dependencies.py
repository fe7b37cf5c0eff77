"""Dependency constraints: the known-bad PySide6 build must never be installed (README.md)."""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def bad_combination(pyside: str, python: tuple[int, int]) -> bool:
    """PySide6 6.12.0 on Python < 3.12 leaks references to None/True and aborts live plots."""
    return Version(pyside).release[:2] == (6, 12) and python < (3, 12)


def test_installed_pyside_is_not_the_known_bad_build():
    try:
        installed = version("PySide6-Essentials")
    except PackageNotFoundError:
        pytest.skip("PySide6-Essentials not installed")
    assert not bad_combination(installed, sys.version_info[:2]), installed


@pytest.mark.parametrize("python", ["3.10", "3.11"])
def test_declared_requirements_exclude_612_before_python_312(python):
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = {"python_version": python, "python_full_version": python + ".0"}
    pyside = [
        Requirement(d)
        for d in deps
        if d.lower().startswith("pyside6") and Requirement(d).marker.evaluate(env)
    ]
    assert pyside, "no PySide6 requirement applies"
    for req in pyside:
        assert not req.specifier.contains("6.12.0"), f"{req} admits 6.12.0 on Python {python}"
        assert req.specifier.contains("6.11.3")
