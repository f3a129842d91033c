"""Shared fixtures. Real-service fixtures live in their own plugin modules."""

pytest_plugins = [
    "tests.fixtures.engine",
    "tests.fixtures.sshd",
    "tests.fixtures.clusters",
]
