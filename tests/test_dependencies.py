"""requirements.lock stays in step with pyproject.toml: every dependency pinned, every pin allowed, and no pin
(nor lower bound) at a release with a known advisory."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# First releases without the advisories named in pyproject.toml.
FIXED = {"starlette": "1.6", "cryptography": "44.0.1", "h11": "0.16.0", "httpcore": "1.0.9"}


def pins() -> dict[str, Version]:
    found = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[canonicalize_name(name)] = Version(version)
    return found


def test_every_dependency_is_pinned_within_its_bounds() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    wanted += project["optional-dependencies"]["embedded"]
    locked = pins()
    for spec in map(Requirement, wanted):
        name = canonicalize_name(spec.name)
        if name == "contactsync":  # an extra naming another of the project's own extras
            continue
        assert name in locked, f"{spec.name} is not in requirements.lock"
        assert spec.specifier.contains(locked[name], prereleases=True), f"{name}=={locked[name]} outside {spec}"


def test_no_pin_at_a_release_with_a_known_advisory() -> None:
    locked = pins()
    for name, first_fixed in FIXED.items():
        assert locked[name] >= Version(first_fixed), f"{name}=={locked[name]} has a known advisory"
