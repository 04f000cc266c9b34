"""API keys: who is calling. Each key has a name and a role; secrets are kept only as SHA-256 digests.

Roles, each with everything of the ones before it:

- ``client``: classify (``/predict``, ``/model``, ``/metrics``, the API docs);
- ``reviewer``: post feedback (``POST /feedback``) and read the review queue (``GET /review``);
- ``admin``: reload and shadow (``/admin/*``), read and export feedback (``GET /feedback``).

Keys come from the environment (``HATESPEECH_API_KEYS``, ``HATESPEECH_REVIEWER_KEYS``, ``HATESPEECH_ADMIN_KEYS``:
comma-separated ``name:secret`` or bare ``secret``) and from a keys file (``HATESPEECH_API_KEY_FILE``: one key per
line, ``name role secret`` or ``name role sha256:<hex digest>``; a line with a bare secret is a client key). The file
is read again when it changes (checked at most once a second) and on SIGHUP; a file that no longer parses leaves
only the environment's keys (fail closed) and logs why. Logs name a key, never its secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from hatespeech.logs import log_event

logger = logging.getLogger("hatespeech.api")
DIGEST = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
RECHECK_S = 1.0


class Role(IntEnum):
    """What a key may do; a higher role may do everything a lower one may."""

    client = 1
    reviewer = 2
    admin = 3


ROLE_SETTINGS = {Role.client: "HATESPEECH_API_KEYS", Role.reviewer: "HATESPEECH_REVIEWER_KEYS",
                 Role.admin: "HATESPEECH_ADMIN_KEYS"}  # fmt: skip


class KeyConfigError(ValueError):
    """A key entry that cannot be used (its message names the entry's place, never the secret)."""


@dataclass(frozen=True)
class ApiKey:
    """A configured key: its name (logged and recorded as the reviewer), role and the secret's SHA-256 digest."""

    name: str
    role: Role
    digest: bytes


def digest_of(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _key(name: str, role: Role, secret: str, where: str) -> ApiKey:
    if not NAME.match(name):
        raise KeyConfigError(f"{where}: a key name is 1-64 letters, digits or _.@- (got {len(name)} characters)")
    hashed = DIGEST.match(secret)
    if hashed:
        return ApiKey(name, role, bytes.fromhex(hashed.group(1)))
    if len(secret) < 8:
        raise KeyConfigError(f"{where}: key '{name}' is shorter than 8 characters")
    return ApiKey(name, role, digest_of(secret))


def parse_env(value: str, role: Role) -> list[ApiKey]:
    """``name:secret`` or bare ``secret`` entries, comma-separated; a bare secret is named ``ROLE-N``."""
    keys = []
    for number, entry in enumerate((e.strip() for e in value.split(",") if e.strip()), start=1):
        name, colon, secret = entry.partition(":")
        if not colon or DIGEST.match(entry):
            name, secret = f"{role.name}-{number}", entry
        keys.append(_key(name, role, secret, f"{ROLE_SETTINGS[role]} entry {number}"))
    return keys


def parse_file(path: Path) -> list[ApiKey]:
    """The keys file: ``name role secret`` (or ``sha256:<hex>``) per line, a bare secret for a client key; blank
    lines and ``#`` comments are skipped."""
    keys = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        where = f"{path.name} line {number}"
        if len(fields) == 1:
            keys.append(_key(f"client-file-{number}", Role.client, fields[0], where))
            continue
        if len(fields) != 3:
            raise KeyConfigError(f"{where}: expected 'name role secret' (3 fields), got {len(fields)}")
        name, role, secret = fields
        if role not in Role.__members__:
            raise KeyConfigError(f"{where}: role must be one of {', '.join(Role.__members__)}, got {role!r}")
        keys.append(_key(name, Role[role], secret, where))
    return keys


class KeyRing:
    """The configured keys, the file's re-read when it changes; thread-safe (a lock around the swap)."""

    def __init__(self, env_keys: list[ApiKey], file: Path | None = None) -> None:
        self.env_keys = env_keys
        self.file = file
        self._lock = threading.Lock()
        self._file_keys: list[ApiKey] = []
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        if file is not None:
            self._file_keys = parse_file(file)  # at start a bad file stops the server (the caller says why)
            self._stamp = _stamp(file)

    @property
    def keys(self) -> list[ApiKey]:
        self._recheck()
        return self.env_keys + self._file_keys

    def has(self, role: Role) -> bool:
        """Whether any key of ``role`` or above is configured."""
        return any(key.role >= role for key in self.keys)

    def has_exactly(self, role: Role) -> bool:
        """Whether any key of exactly ``role`` is configured."""
        return any(key.role == role for key in self.keys)

    def match(self, token: str) -> ApiKey | None:
        """The key whose secret is ``token``; every digest is compared (constant time, no early exit)."""
        digest = digest_of(token)
        found = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.digest) and found is None:
                found = key
        return found

    def reload(self) -> None:
        """Read the keys file again now (SIGHUP)."""
        self._checked = 0.0
        self._stamp = None
        self._recheck()

    def _recheck(self) -> None:
        if self.file is None or time.monotonic() - self._checked < RECHECK_S:
            return
        with self._lock:
            self._checked = time.monotonic()
            try:
                stamp = _stamp(self.file)
                if stamp == self._stamp:
                    return
                keys = parse_file(self.file)
            except (OSError, UnicodeDecodeError, KeyConfigError) as exc:
                if self._file_keys or self._stamp is not None:
                    log_event(logger, "keys_file_refused", keys="environment only", error=str(exc), level=logging.ERROR)
                self._file_keys, self._stamp = [], None
                return
            self._file_keys, self._stamp = keys, stamp
            logger.info(f'{{"event": "keys_loaded", "file_keys": {len(keys)}}}')


def _stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_mtime_ns, status.st_size
