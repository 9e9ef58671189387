"""Errors the generation layer raises for the user to read."""

from __future__ import annotations


class GeneratorError(Exception):
    """A model could not be found, loaded or run.

    The message is shown to the user as is, so it says what went wrong and what to do about it
    (which package to install, which device exists) rather than echoing a library traceback.
    """
