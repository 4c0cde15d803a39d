"""simerr.py - the one exception every simulator layer raises for a non-2xx.

The server turns an ApiError into the contract's error body
``{"code","message","requestId"}`` with the given status and headers.
"""


class ApiError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def bad_request(message):
    return ApiError(400, "bad_request", message)


def not_found(what, ident):
    return ApiError(404, "not_found", f"{what} {ident} not found")


def conflict(message):
    return ApiError(409, "conflict", message)


def missing_scope(scope):
    return ApiError(403, "missing_scope", f"requires {scope}")
