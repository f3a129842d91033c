"""Shared fixtures. Real-service fixtures live in their own plugin modules."""

pytest_plugins = [
    "pytester",
    "tests.fixtures.reporting",
    "tests.fixtures.leftovers",
    "tests.fixtures.engine",
    "tests.fixtures.sshd",
    "tests.fixtures.accounts",
    "tests.fixtures.clusters",
]
