"""Errors that describe bad input: the CLI reports them in one line and exits 2."""


class InputError(ValueError):
    """Raised for unusable user input: a missing or corrupt file, a wrong shape, no person."""


class BackendUnavailable(RuntimeError):
    """A backend cannot run here; the message names the package or device it needs."""
