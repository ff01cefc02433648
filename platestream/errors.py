"""One exception hierarchy for the whole project."""


class PlatestreamError(Exception):
    """Base class of every error platestream raises on purpose."""


class ConfigError(PlatestreamError):
    """Settings are missing, malformed or unsafe."""


class SerdeError(PlatestreamError):
    """A record could not be encoded or decoded."""


class UnknownSchemaError(SerdeError):
    """A record names a schema id this process does not know."""


class StackError(PlatestreamError):
    """The local stack could not be started, stopped or reached."""


class BadInputError(PlatestreamError):
    """Input from outside (a camera, a user, a file) is malformed; the caller answers 4xx or dead-letters it."""


class ModelError(PlatestreamError):
    """A detector or OCR model is missing or cannot be loaded."""


class SinkError(PlatestreamError):
    """A projection (ClickHouse, S3) could not be written."""
