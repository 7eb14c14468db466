"""Exceptions of the Gale SDK. All derive from GaleError."""

from __future__ import annotations


class GaleError(Exception):
    """Base class of every error the SDK raises on purpose."""


class EmitError(GaleError):
    """An emit does not fit the component's declared outputs (undeclared
    stream, wrong number of values, a value with no Gale type, a direct emit
    without a task...), or anchors to an input that is no longer held.

    Raised by ``emit`` before anything is sent, so the node never sees the
    bad tuple. Inside ``execute`` it fails the input like any exception."""


class AckError(GaleError):
    """An input is acked or failed twice, or is not an input of this task."""


class AttachError(GaleError):
    """The Attach session ended in error: the node could not be reached,
    refused the hello, ended the stream with an error status, or fell
    silent. The message says which; ``gale.run`` prints it and exits 1."""


class TopologyError(GaleError):
    """A topology built with TopologyBuilder is invalid. ``problems`` lists
    every problem found, each naming the component and field."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        n = len(self.problems)
        head = "invalid topology: 1 problem" if n == 1 else f"invalid topology: {n} problems"
        super().__init__(head + "\n  - " + "\n  - ".join(self.problems))


class SubmitError(GaleError):
    """SubmitTopology failed; ``code`` is the gRPC status code name
    (e.g. "INVALID_ARGUMENT", "ALREADY_EXISTS", "UNAVAILABLE")."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)
