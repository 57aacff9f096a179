"""Exception types shared by every step; each carries the URI it concerns and a reason."""

from __future__ import annotations

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_CONFIG = 2


class MusicgenError(Exception):
    """Base class for every error musicgen raises on purpose."""

    exit_code = EXIT_JOB_FAILED


class ConfigError(MusicgenError):
    """Bad configuration or arguments; the job exits 2 before doing any work."""

    exit_code = EXIT_CONFIG


class JobFailed(MusicgenError):
    """The job ran but its outcome is a failure (failure ratio over threshold, divergence)."""

    exit_code = EXIT_JOB_FAILED


class StorageError(MusicgenError):
    """A read, write or listing failed; names the URI."""

    def __init__(self, uri: str, message: str) -> None:
        super().__init__(f"{uri}: {message}")
        self.uri = uri
        self.message = message

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt from its own arguments, so it crosses process boundaries (Ray workers).
        return (type(self), (self.uri, self.message))


class ObjectNotFound(StorageError):
    """The URI names nothing."""


class StorageConfigError(StorageError):
    """Storage cannot be used as configured (credentials, bucket, permission): exit 2.

    Retrying cannot help and the job's work would be lost, so these are raised before a job
    starts where possible, and are never mistaken for an empty folder.
    """

    exit_code = EXIT_CONFIG


class BucketNotFound(StorageConfigError):
    """The gs:// bucket does not exist (or its name is not a valid bucket name).

    Deliberately not an :class:`ObjectNotFound`: code that treats a missing folder as "nothing
    there yet" must not treat a missing bucket that way.
    """


class CredentialsError(StorageConfigError):
    """No usable Google credentials (missing, broken or expired: HTTP 401)."""


class AccessDenied(StorageConfigError):
    """The credentials in use are not allowed to do this (HTTP 403)."""


class InputError(MusicgenError):
    """One input file could not be turned into data; `reason` is a short stable slug."""

    def __init__(self, uri: str, reason: str, message: str) -> None:
        super().__init__(f"{uri}: {reason}: {message}")
        self.uri = uri
        self.reason = reason
        self.message = message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.uri, self.reason, self.message))
