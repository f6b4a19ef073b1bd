"""Bearer tokens of the service: where they come from and how a request's token is checked.

Writing always needs a token; reading needs one only when the server was started with
``read_token_required``. Tokens come from the ``token`` argument of
:func:`~automl_meta.service.create_app`, else ``$AUTOML_META_TOKEN``, else a token file
(one token per line; blank lines and ``#`` comments are ignored, so a team can rotate
tokens by listing the old and the new one for a while). Tokens are compared with
:func:`hmac.compare_digest` against every configured token, so the time a check takes says
nothing about how much of a guess was right.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from automl_meta.errors import ConfigurationError

TOKEN_ENV = "AUTOML_META_TOKEN"
TOKEN_FILE_ENV = "AUTOML_META_TOKEN_FILE"
MIN_TOKEN_LENGTH = 16


def load_tokens(token: str | None = None, token_file: str | os.PathLike[str] | None = None
                ) -> tuple[str, ...]:
    """The accepted tokens: ``token``, else ``$AUTOML_META_TOKEN``, else the token file.

    The token file is ``token_file`` or ``$AUTOML_META_TOKEN_FILE``. An empty result means
    the server accepts no writes.

    Raises:
        ConfigurationError: when the token file is missing or unreadable, or a token is
            shorter than 16 characters (too easy to guess).
    """
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if token is not None:
        tokens: tuple[str, ...] = (token.strip(),)
    else:
        file = token_file or os.environ.get(TOKEN_FILE_ENV) or None
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
