"""The one part of the build pyproject.toml cannot say: ship ``scenarios/`` inside the package.

The shipped scenarios stay at the repository root (``scenarios/default.yaml`` is what the README,
the Makefile and users name); the wheel carries them as the data-only package
``harness.shipped_scenarios`` so that ``dualsys list`` and scenario names work from an installed
wheel. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["harness", "harness.*"]), "harness.shipped_scenarios"],
    package_dir={"harness.shipped_scenarios": "scenarios"},
    package_data={"harness": ["py.typed"], "harness.shipped_scenarios": ["*.yaml"]},
)
