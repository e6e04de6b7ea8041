"""The log's signing keys on disk: private keys by kid, and every verifier key ever used.

Layout of the keys directory (created by `ledger init`, never committed):
`signing-<kid>.pem` (mode 0600) for each private key still in use, and `verifier-keys`,
one verifier key line per key the log has ever signed with, oldest first.
"""

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from ledger.evidence.keys import SigningKey, VerifierKey, parse_verifier_keys
from ledger.token_keys import DEFAULT_MODULE, Token, TokenError, TokenSigningKey, TokenURI

VERIFIER_KEYS_FILE = "verifier-keys"
T = TypeVar("T")


class KeyRingError(RuntimeError):
    """The keys directory cannot provide what is asked; the message says what to do."""


# The settings that put the private keys in a PKCS#11 token (ledger.config, README).
SIGNING_KEY_SETTING = "LEDGER_SIGNING_KEY"
PKCS11_MODULE_SETTING = "LEDGER_PKCS11_MODULE"
PKCS11_PIN_ENV_SETTING = "LEDGER_PKCS11_PIN_ENV"


class KeyRing:
    """Private keys as files in the directory, or in a token when one is given; the
    published verifier keys are always in the directory's `verifier-keys`."""

    def __init__(self, directory: Path, token: Token | None = None) -> None:
        self.directory = directory
        self.token = token
        self._loaded: dict[str, SigningKey | TokenSigningKey] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, directory: Path, env: Mapping[str, str]) -> "KeyRing":
        """The key ring the settings name: a token when LEDGER_SIGNING_KEY is a pkcs11 URI."""
        uri = env.get(SIGNING_KEY_SETTING) or ""
        if not uri:
            return cls(directory)
        token = Token.shared(
            TokenURI.parse(uri),
            env.get(PKCS11_MODULE_SETTING) or DEFAULT_MODULE,
            env.get(PKCS11_PIN_ENV_SETTING) or None,
        )
        return cls(directory, token)

    def _private_path(self, kid: str) -> Path:
        return self.directory / f"signing-{kid}.pem"

    def signing_key(self, kid: str) -> SigningKey | TokenSigningKey:
        """The private key with this kid, read from disk (or found in the token) once per
        process."""
        with self._lock:
            key = self._loaded.get(kid)
            # With a token, a file key still signs until the log has rotated into the token.
            if key is None and self.token is not None and not self._private_path(kid).exists():
                key = self._loaded[kid] = _token_call(lambda: self.token_key(kid))
            if key is None:
                path = self._private_path(kid)
                if not path.exists():
                    raise KeyRingError(
                        f"the log is signed by key {kid}, but {path} is missing; "
                        "copy the current signing key to this host"
                    )
                key = SigningKey.read(path)
                if key.kid != kid:
                    raise KeyRingError(f"{path} holds key {key.kid}, not {kid}")
                self._loaded[kid] = key
            return key

    def token_key(self, kid: str) -> TokenSigningKey:
        assert self.token is not None
        origin = self._origin()
        return self.token.key(origin, kid)

    def _origin(self) -> str:
        """The key name of the published keys (a token key's name is not in the token)."""
        keys = list(self.verifier_keys().values())
        if not keys:
            raise KeyRingError(f"{self.directory / VERIFIER_KEYS_FILE} is empty; run `ledger init`")
        return keys[0].name

    def first_signing_key(self) -> SigningKey | TokenSigningKey:
        """The key that signs leaf 0: the only one `ledger init` created."""
        if self.token is not None:
            token = self.token
            keys = _token_call(lambda: token.keys(self._origin()))
            if len(keys) != 1:
                raise KeyRingError(
                    f"expected exactly one signing key labelled {token.uri.label!r} in the "
                    f"token {token.uri.token!r} for an empty log, found {len(keys)}; "
                    "run `ledger init`"
                )
            return self.signing_key(keys[0].kid)
        paths = sorted(self.directory.glob("signing-*.pem"))
        if len(paths) != 1:
            raise KeyRingError(
                f"expected exactly one signing key in {self.directory} for an empty log, "
                f"found {len(paths)}; run `ledger init`"
            )
        key = SigningKey.read(paths[0])
        return self.signing_key(key.kid)

    def verifier_keys(self) -> dict[str, VerifierKey]:
        path = self.directory / VERIFIER_KEYS_FILE
        if not path.exists():
            raise KeyRingError(f"{path} is missing; run `ledger init`")
        return parse_verifier_keys(path.read_text(encoding="utf-8"))

    def create(self, origin: str, *, existing: bool = False) -> SigningKey | TokenSigningKey:
        """A new signing key, written (or made in the token) and published beside the others.

        In a token, a key pair under the label that this log has not published is refused
        unless `existing` says to take it: it may be another log's, or one left from an
        earlier `ledger init`, and two logs signing with one key would be one log to a
        verifier. With `existing`, the one such key pair is the new key: the token's officer
        may have made it in a key ceremony."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key: SigningKey | TokenSigningKey
        if self.token is not None:
            token = self.token
            published = (
                set(self.verifier_keys())
                if (self.directory / VERIFIER_KEYS_FILE).exists()
                else set()
            )
            if existing:
                taken = _token_call(lambda: token.adopt(origin, published))
                if taken is None:
                    raise KeyRingError(
                        f"the token {token.uri.token!r} holds no key labelled "
                        f"{token.uri.label!r} that this log has not published, so there is "
                        "none to take; leave out --existing-key to make one there"
                    )
                key = taken
            else:
                unpublished = _token_call(lambda: token.unpublished(origin, published))
                if unpublished:
                    raise KeyRingError(
                        f"the token {token.uri.token!r} holds {unpublished} key(s) labelled "
                        f"{token.uri.label!r} that this log has not published; nothing was "
                        "made or written. Name another label (object= in LEDGER_SIGNING_KEY), "
                        "or pass --existing-key if the token's officer made it for this log"
                    )
                key = _token_call(lambda: token.generate(origin))
        else:
            key = SigningKey.generate(origin)
            key.write(self._private_path(key.kid))
        with (self.directory / VERIFIER_KEYS_FILE).open("a", encoding="utf-8") as file:
            file.write(key.verifier_key.line() + "\n")
        return key

    def retire(self, kid: str) -> None:
        """Delete a private key that no longer signs; its verifier key stays published."""
        with self._lock:
            self._loaded.pop(kid, None)
            if self.token is not None:
                token = self.token
                _token_call(lambda: token.destroy(kid))
            # A file key rotated out of, also when the log rotated into the token.
            self._private_path(kid).unlink(missing_ok=True)


def _token_call(call: Callable[[], T]) -> T:
    """A token's refusal as the key ring's, so that callers handle one kind of error."""
    try:
        return call()
    except TokenError as error:
        raise KeyRingError(str(error)) from None
