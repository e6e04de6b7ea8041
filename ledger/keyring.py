"""The log's signing keys on disk: private keys by kid, and every verifier key ever used.

Layout of the keys directory (created by `ledger init`, never committed):
`signing-<kid>.pem` (mode 0600) for each private key still in use, and `verifier-keys`,
one verifier key line per key the log has ever signed with, oldest first.
"""

import threading
from pathlib import Path

from ledger.evidence.keys import SigningKey, VerifierKey, parse_verifier_keys

VERIFIER_KEYS_FILE = "verifier-keys"


class KeyRingError(RuntimeError):
    """The keys directory cannot provide what is asked; the message says what to do."""


class KeyRing:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._loaded: dict[str, SigningKey] = {}
        self._lock = threading.Lock()

    def _private_path(self, kid: str) -> Path:
        return self.directory / f"signing-{kid}.pem"

    def signing_key(self, kid: str) -> SigningKey:
        """The private key with this kid, read from disk once per process."""
        with self._lock:
            key = self._loaded.get(kid)
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

    def first_signing_key(self) -> SigningKey:
        """The key that signs leaf 0: the only one `ledger init` created."""
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

    def create(self, origin: str) -> SigningKey:
        """A new signing key, written and published beside the others."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = SigningKey.generate(origin)
        key.write(self._private_path(key.kid))
        with (self.directory / VERIFIER_KEYS_FILE).open("a", encoding="utf-8") as file:
            file.write(key.verifier_key.line() + "\n")
        return key

    def retire(self, kid: str) -> None:
        """Delete a private key that no longer signs; its verifier key stays published."""
        with self._lock:
            self._loaded.pop(kid, None)
            self._private_path(kid).unlink(missing_ok=True)
