"""API keys: stored as SHA-256 hashes, each with one role.

A request carries its key in the ``X-API-Key`` header. The server keeps only the
hashes (from a JSON keys file and/or ``FRAUDGRAPH_API_KEYS``), so a leaked keys file does
not leak keys. Roles:

``investigator``  GraphQL reads and the label mutations
``scorer``        the feature endpoints only
``admin``         everything, including jobs (snapshot reload)

Without configured keys the server refuses to start in production; in development it
accepts three documented keys, ``dev-investigator``, ``dev-scorer`` and ``dev-admin``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from graph_service.errors import FraudGraphError, InvalidInput

log = logging.getLogger(__name__)

#: The request header that carries the key.
API_KEY_HEADER: Final = "X-API-Key"


class Role(StrEnum):
    """What a key may do."""

    INVESTIGATOR = "investigator"
    SCORER = "scorer"
    ADMIN = "admin"


#: Development keys, accepted only when no keys are configured outside production.
DEVELOPMENT_KEYS: Final[dict[str, Role]] = {
    "dev-investigator": Role.INVESTIGATOR,
    "dev-scorer": Role.SCORER,
    "dev-admin": Role.ADMIN,
}


class Unauthenticated(FraudGraphError):
    """No API key, or one the server does not know."""

    http_status = 401
    code = "unauthenticated"


class Forbidden(FraudGraphError):
    """The key's role may not use this endpoint."""

    http_status = 403
    code = "forbidden"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A known key: its owner's name (recorded as label author), role and hash."""

    name: str
    role: Role
    sha256: str


def hash_key(secret: str) -> str:
    """The hex SHA-256 of a key, as stored.

    Examples
    --------
    >>> hash_key("dev-scorer")[:12]
    'f79206376e31'
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def _entry(name: str, role: str, digest: str, where: str) -> ApiKey:
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InvalidInput(f"{where}: key name {name!r} must be letters, digits, '-', '_' or '.'")
    try:
        parsed = Role(role)
    except ValueError as exc:
        raise InvalidInput(
            f"{where}: role {role!r} of key {name!r} is not one of {[r.value for r in Role]}"
        ) from exc
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InvalidInput(f"{where}: key {name!r} needs a 64-hex-digit sha256 hash")
    return ApiKey(name=name, role=parsed, sha256=digest)


class KeyRing:
    """The keys a server accepts, looked up by hash.

    Parameters
    ----------
    keys : iterable of ApiKey

    Raises
    ------
    InvalidInput
        If two keys share a hash or a name.
    """

    def __init__(self, keys: list[ApiKey]) -> None:
        self._by_hash: dict[str, ApiKey] = {}
        names: set[str] = set()
        for key in keys:
            if key.sha256 in self._by_hash or key.name in names:
                raise InvalidInput(f"API key {key.name!r} is configured twice")
            self._by_hash[key.sha256] = key
            names.add(key.name)

    def __len__(self) -> int:
        return len(self._by_hash)

    @classmethod
    def load(cls, *, keys_file: Path | None, inline: str | None, environment: str) -> KeyRing:
        """Keys from a JSON file and/or inline entries, with the development default.

        Parameters
        ----------
        keys_file : Path, optional
            JSON list of ``{"name", "role", "sha256"}``.
        inline : str, optional
            ``name:role:sha256hex`` entries separated by commas.
        environment : str
            ``development`` gets :data:`DEVELOPMENT_KEYS` when nothing is configured.

        Returns
        -------
        KeyRing

        Raises
        ------
        InvalidInput
            On a malformed file or entry, or no keys at all in production.
        """
        keys: list[ApiKey] = []
        if keys_file is not None:
            try:
                rows = json.loads(Path(keys_file).read_text())
            except (OSError, ValueError) as exc:
                raise InvalidInput(f"API keys file {keys_file}: {exc}") from exc
            if not isinstance(rows, list):
                raise InvalidInput(f"API keys file {keys_file}: expected a JSON list")
            for row in rows:
                if not isinstance(row, dict):
                    raise InvalidInput(f"API keys file {keys_file}: entries must be objects")
                keys.append(
                    _entry(
                        str(row.get("name", "")),
                        str(row.get("role", "")),
                        str(row.get("sha256", "")),
                        str(keys_file),
                    )
                )
        for item in (inline or "").split(","):
            if not item.strip():
                continue
            parts = item.strip().split(":")
            if len(parts) != 3:
                raise InvalidInput("FRAUDGRAPH_API_KEYS entries must be name:role:sha256hex")
            keys.append(_entry(parts[0], parts[1], parts[2], "FRAUDGRAPH_API_KEYS"))
        if not keys:
            if environment == "production":
                raise InvalidInput(
                    "no API keys configured: set FRAUDGRAPH_API_KEYS_FILE or FRAUDGRAPH_API_KEYS "
                    "(there is no default key in production)"
                )
            if environment == "development":
                log.warning("no API keys configured; accepting the development keys")
                keys = [
                    ApiKey(name=secret, role=role, sha256=hash_key(secret))
                    for secret, role in DEVELOPMENT_KEYS.items()
                ]
        return cls(keys)

    def authenticate(self, secret: str | None) -> ApiKey:
        """The key matching ``secret``.

        Raises
        ------
        Unauthenticated
            If ``secret`` is missing or unknown.
        """
        if not secret:
            raise Unauthenticated(f"missing API key: send it in the {API_KEY_HEADER} header")
        key = self._by_hash.get(hash_key(secret))
        if key is None:
            raise Unauthenticated("unknown API key")
        return key


def authorise(key: ApiKey, allowed: frozenset[Role]) -> ApiKey:
    """``key`` if its role is among ``allowed`` (admin always is).

    Raises
    ------
    Forbidden
        Otherwise.
    """
    if key.role is Role.ADMIN or key.role in allowed:
        return key
    wanted = " or ".join(sorted(r.value for r in allowed))
    raise Forbidden(f"role {key.role.value!r} may not do this; it needs {wanted}")
