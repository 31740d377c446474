"""One small error hierarchy. The web layer turns these into HTTP answers in one handler;
the CLI prints their message. Messages are written for the person who has to act on them."""


class CiteDeskError(Exception):
    """Base class for errors a user can act on."""


class ConfigError(CiteDeskError):
    """A setting is missing, unsafe or inconsistent."""


class IngestError(CiteDeskError):
    """A file could not be loaded, parsed or chunked."""


class StoreError(CiteDeskError):
    """The vector store, lexical index or catalog failed or is inconsistent."""


class WriterLockedError(StoreError):
    """Another process owns the data directory for writing."""


class NotFoundError(CiteDeskError):
    """The thing asked for does not exist."""


class ValidationError(CiteDeskError):
    """Input is malformed (an empty question, a bad Q&A set line, ...)."""


class LLMError(CiteDeskError):
    """The language-model endpoint failed, timed out or answered nonsense."""


class ServiceUnavailableError(StoreError):
    """A service a shared deployment needs (PostgreSQL, the Chroma server, Redis) cannot be
    reached right now; the request can be tried again once it is back."""


MAX_MESSAGE = 2000  # characters of an error message that are stored or shown


def clip(message: str, limit: int = MAX_MESSAGE) -> str:
    """An error message cut to `limit` characters: an error that quotes its input (a parser's
    repr of a huge value) must not store or print the input."""
    message = str(message)
    if len(message) <= limit:
        return message
    return f"{message[: limit - 40]}… ({len(message) - limit + 40} more characters cut)"


class MissingExtraError(ConfigError):
    """An optional part is used without the extra that installs its dependencies."""


def import_extra(module: str, extra: str, purpose: str):
    """Import `module`, which only the `citedesk[extra]` install brings, for `purpose`; without it,
    a MissingExtraError that says what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs the optional dependencies of citedesk[{extra}]: "
            f"pip install 'citedesk[{extra}]' ({exc})"
        ) from exc
