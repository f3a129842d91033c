"""User-facing errors: each names the thing, the cause and the next step."""

from __future__ import annotations


class JobTuiError(Exception):
    """Base error; `title` is a short heading, the message says what, where and what to do."""

    title = "jobtui error"
    exit_code = 1
    http_status = 400

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title:
            self.title = title

    def __str__(self) -> str:
        return self.message


class ConfigError(JobTuiError):
    title = "Configuration error"
    exit_code = 2


class StoreError(JobTuiError):
    title = "State store error"
    http_status = 500


class ValidationError(JobTuiError):
    title = "Invalid request"
    exit_code = 2
    http_status = 422


class NotFound(JobTuiError):
    title = "Not found"
    http_status = 404


class PermissionDenied(JobTuiError):
    title = "Not allowed"
    http_status = 403


class NotAuthenticated(PermissionDenied):
    """No identity: a missing or unknown token (HTTP 401, as the OpenAPI document declares)."""

    title = "Unknown caller"
    http_status = 401


class Conflict(JobTuiError):
    title = "Not possible in this state"
    http_status = 409


class EngineUnavailable(JobTuiError):
    title = "No engine running"
    http_status = 503


class EngineLocked(JobTuiError):
    title = "Engine already running"
    exit_code = 1


class StartupError(JobTuiError):
    """The engine cannot start where it was asked to: its state directory or listening address cannot be used."""

    title = "Cannot start the engine"
    exit_code = 1
