"""Exceptions shared by every service. HTTP mapping lives in agora.web.

Each exception's ``args`` are its constructor arguments, so that nameko RPC (which re-creates a registered
exception as ``type(*args)`` on the caller's side; see agora.nameko) carries the details — e.g. the failing
fields of a ValidationFailed — across services.
"""


class AgoraError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, details: dict | None = None, **more):
        self.message = message
        self.details = {**(details or {}), **more}
        super().__init__(message, self.details)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict:
        body = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ValidationFailed(AgoraError):
    """Bad input; ``details['fields']`` maps each failing field to its messages."""
    status = 422
    code = "validation_failed"

    def __init__(self, fields: dict, message: str = "invalid input"):
        super().__init__(message, fields=fields)
        self.fields = fields
        self.args = (fields, message)


class BadRequest(AgoraError):
    status = 400
    code = "bad_request"


class NotFound(AgoraError):
    status = 404
    code = "not_found"


class Conflict(AgoraError):
    """The command is valid but not now (wrong phase, closed round, ...)."""
    status = 409
    code = "conflict"


class Unauthorized(AgoraError):
    status = 401
    code = "unauthorized"


class Forbidden(AgoraError):
    status = 403
    code = "forbidden"


class ConcurrencyError(AgoraError):
    """Another writer appended to the stream first: reload the aggregate and retry the command."""
    status = 409
    code = "concurrency_conflict"

    def __init__(self, tenant: str, stream: str, expected_version, actual_version=None):
        super().__init__(
            f"stream {tenant}/{stream}: expected version {expected_version}, "
            f"but it is at {actual_version if actual_version is not None else 'a later version'}",
            stream=stream, expected_version=expected_version, actual_version=actual_version)
        self.tenant = tenant
        self.stream = stream
        self.expected_version = expected_version
        self.actual_version = actual_version
        self.args = (tenant, stream, expected_version, actual_version)
