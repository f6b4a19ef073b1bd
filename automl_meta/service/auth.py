"""Bearer tokens of the service: where they come from and how a request's token is checked.

Writing always needs a write token. Reading needs a token only when the server has read
tokens (or was started with ``read_token_required``); then a read token or a write token
will do. Write tokens come from the ``token`` argument of
:func:`~automl_meta.service.create_app`, else ``$AUTOML_META_TOKEN``, else a token file
(``$AUTOML_META_TOKEN_FILE``; one token per line, blank lines and ``#`` comments ignored,
so a team can rotate tokens by listing the old and the new one for a while). Read tokens
come the same way from ``read_token``, ``$AUTOML_META_READ_TOKEN`` or
``$AUTOML_META_READ_TOKEN_FILE``. Tokens are compared with :func:`hmac.compare_digest`
against every configured token, so the time a check takes says nothing about how much of a
guess was right.

:class:`Access` makes the decision; the service asks it before a request's body is read.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from automl_meta.errors import ConfigurationError

TOKEN_ENV = "AUTOML_META_TOKEN"
TOKEN_FILE_ENV = "AUTOML_META_TOKEN_FILE"
READ_TOKEN_ENV = "AUTOML_META_READ_TOKEN"
READ_TOKEN_FILE_ENV = "AUTOML_META_READ_TOKEN_FILE"
MIN_TOKEN_LENGTH = 16


def load_tokens(token: str | None = None, token_file: str | os.PathLike[str] | None = None,
                *, read: bool = False) -> tuple[str, ...]:
    """The accepted tokens: ``token``, else ``$AUTOML_META_TOKEN``, else the token file.

    The token file is ``token_file`` or ``$AUTOML_META_TOKEN_FILE``. An empty result means
    the server accepts no writes. With ``read=True``, the read tokens instead:
    ``$AUTOML_META_READ_TOKEN`` and ``$AUTOML_META_READ_TOKEN_FILE`` (an empty result
    means reads are open, unless ``read_token_required``).

    Raises:
        ConfigurationError: when the token file is missing or unreadable, or a token is
            shorter than 16 characters (too easy to guess).
    """
    env, file_env = (READ_TOKEN_ENV, READ_TOKEN_FILE_ENV) if read else (TOKEN_ENV,
                                                                         TOKEN_FILE_ENV)
    if token is None:
        token = os.environ.get(env) or None
    if token is not None:
        tokens: tuple[str, ...] = (token.strip(),)
    else:
        file = token_file or os.environ.get(file_env) or None
        tokens = _read_token_file(Path(file)) if file else ()
    for item in tokens:
        if len(item) < MIN_TOKEN_LENGTH:
            raise ConfigurationError(
                f"A service token has {len(item)} characters; expected at least "
                f"{MIN_TOKEN_LENGTH}. Generate one with: python -c \"import secrets; "
                "print(secrets.token_urlsafe(32))\"."
            )
    return tokens


def _read_token_file(path: Path) -> tuple[str, ...]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read the token file {str(path)!r}: {exc.strerror or exc}. Expected a "
            "readable file with one token per line."
        ) from exc
    tokens = tuple(line.strip() for line in text.splitlines()
                   if line.strip() and not line.lstrip().startswith("#"))
    if not tokens:
        raise ConfigurationError(f"The token file {str(path)!r} holds no token; expected one "
                                 "token per line.")
    return tokens


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def token_matches(candidate: str | None, tokens: tuple[str, ...]) -> bool:
    """Whether ``candidate`` is one of ``tokens``, in time independent of where it differs."""
    if not candidate or not tokens:
        return False
    given = candidate.encode()
    found = False
    for token in tokens:  # no early exit: every token is compared every time
        found |= hmac.compare_digest(given, token.encode())
    return found


@dataclass(frozen=True)
class Access:
    """Who may read and who may write: the decision, made from the Authorization header.

    Args:
        write_tokens: tokens that may write (and read). None: the server accepts no writes.
        read_tokens: tokens that may only read. Any: reads need a read or a write token.
        read_token_required: reads need a token even without read tokens (a write token).
    """

    write_tokens: tuple[str, ...] = ()
    read_tokens: tuple[str, ...] = ()
    read_token_required: bool = False

    @property
    def reads_protected(self) -> bool:
        """Whether reading needs a token."""
        return self.read_token_required or bool(self.read_tokens)

    def refusal(self, authorization: str | None, write: bool) -> tuple[int, str] | None:
        """None when a request with this ``Authorization`` header value may go on, else the
        HTTP status (401 or 403) and the message why not."""
        return self.token_refusal(bearer_token(authorization), write)

    def token_refusal(self, given: str | None, write: bool) -> tuple[int, str] | None:
        """:meth:`refusal` for the bearer token itself (None: no token was sent)."""
        if not write and not self.reads_protected:
            return None
        if write and not self.write_tokens:
            return 403, ("This server accepts no writes: it was started without a token. "
                         "Start it with AUTOML_META_TOKEN set or with --token-file.")
        accepted = self.write_tokens if write else self.write_tokens + self.read_tokens
        if token_matches(given, accepted):
            return None
        what = "is not valid" if given else "is missing"
        kind = "a write token" if write else "a read or write token"
        variable = "AUTOML_META_TOKEN" if write else "AUTOML_META_READ_TOKEN"
        return 401, (f"The bearer token {what}; this request needs {kind} of this server. "
                     "Send the header 'Authorization: Bearer <token>' "
                     f"(automl_meta.service.Client sends ${variable}, or pass it token= / "
                     "read_token=).")
