"""Export failures that are not bad input: parity or graph checks that did not pass."""

from engine.errors import InputError


class ExportError(InputError):
    """The exported model is wrong (parity, checker); the message names what failed."""
