"""The one part of the build pyproject.toml cannot say: ship ``scenarios/`` inside the package.

The shipped scenarios stay at the repository root (``scenarios/default.yaml`` is what the README,
the Makefile and users name); the wheel carries them as the data-only package
``harness.shipped_scenarios`` so that ``dualsys list`` and scenario names work from an installed
wheel. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

# The report templates ride along the same way (harness.report_templates, from reports/templates)
# so that a wheel unpacked anywhere (pip --target, --user, a zipapp) carries them beside the code;
# the data-files copy under share/dualsys/templates (pyproject.toml) is found only when the wheel
# is installed into sys.prefix.
setup(
    packages=[
        *find_packages(include=["harness", "harness.*"]),
        "harness.shipped_scenarios",
        "harness.report_templates",
    ],
    package_dir={
        "harness.shipped_scenarios": "scenarios",
        "harness.report_templates": "reports/templates",
    },
    package_data={
        "harness": ["py.typed"],
        "harness.shipped_scenarios": ["*.yaml"],
        "harness.report_templates": ["*"],
    },
)
