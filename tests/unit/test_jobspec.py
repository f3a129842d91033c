"""Submission specs: strict validation, memory and duration parsing, batch order and cycles."""

from __future__ import annotations

import pytest

from engine.errors import ValidationError
from engine.service.jobspec import batch_order, parse_duration, parse_memory_mb, parse_specs


@pytest.mark.parametrize(
    "value,mb",
    [
        (4096, 4096),
        ("4096", 4096),
        ("512M", 512),
        ("4G", 4096),
        ("4gb", 4096),
        ("1.5G", 1536),
        ("2048k", 2),
        ("1T", 1024 * 1024),
        ("4GiB", 4096),
    ],
)
def test_memory(value: int | str, mb: int) -> None:
    assert parse_memory_mb(value) == mb


@pytest.mark.parametrize("value", ["lots", "4X", "-1G", ""])
def test_bad_memory(value: str) -> None:
    with pytest.raises(ValueError, match="not a memory size"):
        parse_memory_mb(value)


@pytest.mark.parametrize(
    "value,seconds",
    [(90, 90.0), ("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("2h", 7200.0), ("1d", 86400.0), ("0.5m", 30.0)],
)
def test_duration(value: float | str, seconds: float) -> None:
    assert parse_duration(value) == seconds


def test_bad_duration() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_specs_accept_strings_and_units() -> None:
    (spec,) = parse_specs([{"command": "python3 -c 'print(1)'", "mem_mb": "2G", "timeout": "1m", "retry_delay": "10s"}])
    assert spec.command == ["python3", "-c", "print(1)"]
    assert (spec.mem_mb, spec.timeout, spec.retry_delay) == (2048, 60.0, 10.0)


def test_spec_errors_name_the_job_and_field_and_nothing_is_half_accepted() -> None:
    with pytest.raises(ValidationError) as info:
        items = [{"command": ["true"]}, {"command": ["true"], "cpu": 2}, {"command": [], "priority": 500}]
        parse_specs(items, "jobs.yaml")
    message = str(info.value)
    assert "jobs.yaml: job #2: field 'cpu': unknown field" in message
    assert "job #3: field 'command'" in message and "job #3: field 'priority'" in message
    assert "Nothing was submitted" in message


def test_env_names_are_checked() -> None:
    with pytest.raises(ValidationError, match="invalid environment variable name"):
        parse_specs([{"command": ["true"], "env": {"1BAD": "x"}}])


def test_batch_order_puts_parents_first() -> None:
    specs = parse_specs(
        [
            {"command": ["true"], "key": "c", "after": ["b"]},
            {"command": ["true"], "key": "a"},
            {"command": ["true"], "key": "b", "after": ["a"]},
            {"command": ["true"], "after": [5]},  # a job id outside the batch
        ]
    )
    order = batch_order(specs)
    assert sorted(order) == [0, 1, 2, 3]
    assert order.index(1) < order.index(2) < order.index(0)


def test_cycle_error_names_the_cycle() -> None:
    specs = parse_specs(
        [
            {"command": ["true"], "key": "mesh", "after": ["post"]},
            {"command": ["true"], "key": "solve", "after": ["mesh"]},
            {"command": ["true"], "key": "post", "after": ["solve"]},
            {"command": ["true"], "key": "other"},
        ]
    )
    with pytest.raises(ValidationError) as info:
        batch_order(specs)
    message = str(info.value)
    assert "dependency cycle" in message
    assert "mesh -> post -> solve -> mesh" in message
    assert "other" not in message


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(ValidationError, match="dependency cycle: a -> a"):
        batch_order(parse_specs([{"command": ["true"], "key": "a", "after": ["a"]}]))


def test_unknown_key_and_duplicate_key() -> None:
    with pytest.raises(ValidationError, match="depends on 'nope'"):
        batch_order(parse_specs([{"command": ["true"], "key": "a", "after": ["nope"]}]))
    with pytest.raises(ValidationError, match="keys must be unique"):
        batch_order(parse_specs([{"command": ["true"], "key": "a"}, {"command": ["true"], "key": "a"}]))
