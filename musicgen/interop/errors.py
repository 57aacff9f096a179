"""The one error type of Magenta interop: a bundle or checkpoint that cannot be used."""

from __future__ import annotations

from musicgen.errors import ConfigError


class MagentaModelError(ConfigError):
    """A Magenta bundle, checkpoint or run cannot be imported or exported (exit 2).

    It is a :class:`ConfigError` because the input the user named is wrong (another config, a
    truncated download, a checkpoint of another model): retrying cannot help.

    Attributes:
        uri: The file or folder concerned.
        reason: A short stable slug (``truncated``, ``unknown-config``, ``missing-variable``...).
        message: What is wrong, with the values involved.
    """

    def __init__(self, uri: str, reason: str, message: str) -> None:
        super().__init__(f"{uri}: {reason}: {message}")
        self.uri = uri
        self.reason = reason
        self.message = message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.uri, self.reason, self.message))
