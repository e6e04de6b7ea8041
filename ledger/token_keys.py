"""The log's signing keys in a PKCS#11 token (an HSM, or SoftHSM2 in the tests).

`LEDGER_SIGNING_KEY=pkcs11:token=<label>;object=<label>?pin-source=file:<path>` (RFC 7512)
names the token and the label of the log's keys in it. The private keys never leave the token
(CKA_SENSITIVE, not CKA_EXTRACTABLE); the token signs with CKM_EDDSA, so a leaf or checkpoint
signed here is byte for byte what a file key signs, and its kid is derived from the public key
the same way: verifiers see no difference. Each key's CKA_ID is its kid.

The PIN is never in the URI: `pin-source` names a file, or `LEDGER_PKCS11_PIN_ENV` names an
environment variable holding it; neither the PIN nor the URI's query is shown in a message.

A session is opened on first use in the process that signs (gunicorn opens workers by fork,
and a PKCS#11 library must not be carried over a fork), is reopened in a forked child, and one
lock serialises the calls into it, because one session must not be used by two threads at once.

A PIN the token refuses is tried once per process: a token counts wrong PINs and locks after a
few (a real HSM, for good), so every later signing is refused at once with the first refusal's
words, until the PIN source is mended and the process started again. A token that is not
there is looked for again at the next signing: looking costs no try of the PIN.
"""

import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import cast
from urllib.parse import unquote

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import (
    PinExpired,
    PinIncorrect,
    PinInvalid,
    PinLenRange,
    PinLocked,
    PKCS11Error,
)
from pkcs11.types import SignMixin

from ledger.evidence.keys import VerifierKey, valid_key_name

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
# RFC 8410's id-Ed25519, as the DER the PKCS#11 3.0 CKA_EC_PARAMS of an Ed25519 key holds.
ED25519_PARAMS = bytes.fromhex("06032b6570")


class TokenError(RuntimeError):
    """The token cannot provide what is asked; the message says what, never the PIN."""


@dataclass(frozen=True)
class TokenURI:
    """The parts of a `pkcs11:` URI the log uses: which token, which label, where the PIN is."""

    token: str
    label: str
    pin_file: Path | None

    @classmethod
    def parse(cls, uri: str) -> "TokenURI":
        if not uri.startswith("pkcs11:"):
            raise TokenError("a PKCS#11 key is named by a URI that starts with 'pkcs11:'")
        path, _, query = uri[len("pkcs11:") :].partition("?")
        attributes = _pairs(path, ";")
        queries = _pairs(query, "&")
        if "pin-value" in queries or "pin-value" in attributes:
            raise TokenError(
                "the PKCS#11 URI must not hold the PIN (pin-value); name a file with "
                "pin-source=file:<path> or a variable with LEDGER_PKCS11_PIN_ENV"
            )
        unknown = set(attributes) - {"token", "object", "type"}
        if unknown:
            raise TokenError(
                f"the PKCS#11 URI has attributes the log does not use: {sorted(unknown)}"
            )
        if attributes.get("type", "private") != "private":
            raise TokenError("the PKCS#11 URI names a signing key: type=private or no type")
        token = attributes.get("token")
        if not token:
            raise TokenError("the PKCS#11 URI must name the token: token=<label>")
        label = attributes.get("object") or "ledger-log"
        pin_file = None
        source = queries.get("pin-source")
        if source is not None:
            if source.startswith("file://"):
                source = source[len("file://") :]
            elif source.startswith("file:"):
                source = source[len("file:") :]
            pin_file = Path(source)
            if not pin_file.is_absolute():
                raise TokenError("pin-source in the PKCS#11 URI must be an absolute file path")
        return cls(token, label, pin_file)


def _pairs(text: str, separator: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in text.split(separator):
        if not part:
            continue
        name, equals, value = part.partition("=")
        if not equals:
            # The part is not shown: a PIN written without `pin-value=` must not reach a log.
            raise TokenError("a part of the PKCS#11 URI has no '=' and value")
        pairs[name] = unquote(value)
    return pairs


@dataclass(frozen=True)
class TokenSigningKey:
    """A private key in the token: signs like `SigningKey`, and never shows its bytes."""

    name: str
    public_key: bytes
    token: "Token" = field(repr=False, compare=False)

    @cached_property
    def verifier_key(self) -> VerifierKey:
        return VerifierKey(self.name, self.public_key)

    @cached_property
    def kid(self) -> str:
        return self.verifier_key.kid

    def sign(self, message: bytes) -> bytes:
        return self.token.sign(self.kid, message)


_SHARED: dict[tuple[TokenURI, str, str | None], "Token"] = {}
_SHARED_LOCK = threading.Lock()
# The process each PKCS#11 library was initialised in by a Token: a forked child (a gunicorn
# worker) inherits the parent's initialised library, which PKCS#11 says it must not use.
_INITIALISED_IN: dict[str, int] = {}


class Token:
    """One configured token: the session of this process and the keys under the label."""

    @classmethod
    def shared(cls, uri: TokenURI, module: str, pin_env: str | None = None) -> "Token":
        """The process's one `Token` for these settings. A PKCS#11 login belongs to the
        process, not the session: a second login to the same token is refused, so every key
        ring of the process (the app's, the recorder's) signs through this one."""
        with _SHARED_LOCK:
            token = _SHARED.get((uri, module, pin_env))
            if token is None:
                token = _SHARED[(uri, module, pin_env)] = cls(uri, module, pin_env)
            return token

    def __init__(self, uri: TokenURI, module: str, pin_env: str | None = None) -> None:
        self.uri = uri
        self.module = module
        self.pin_env = pin_env
        self._lock = threading.Lock()
        self._session: pkcs11.Session | None = None
        self._pid = 0
        # The private key objects found in this session by kid: a search per signature would
        # cost more than the signature itself.
        self._signers: dict[str, SignMixin] = {}
        # Why the token refused this process's login, once it has: not tried again.
        self._refused: str | None = None

    def _pin(self) -> str:
        if self.uri.pin_file is not None:
            try:
                return self.uri.pin_file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise TokenError(
                    f"the token PIN file {self.uri.pin_file} cannot be read: {error.strerror}"
                ) from None
        if self.pin_env:
            pin = os.environ.get(self.pin_env)
            if pin:
                return pin
            raise TokenError(f"the token PIN variable {self.pin_env} is not set")
        raise TokenError(
            "no token PIN: add pin-source=file:<path> to the PKCS#11 URI or set "
            "LEDGER_PKCS11_PIN_ENV to the name of a variable holding it"
        )

    def _open(self) -> pkcs11.Session:
        """This process's session, opened on first use (after any fork)."""
        if self._session is not None and self._pid == os.getpid():
            return self._session
        if self._refused is not None:
            raise TokenError(self._refused)
        try:
            library = pkcs11.lib(self.module)
            with _SHARED_LOCK:
                if _INITIALISED_IN.setdefault(self.module, os.getpid()) != os.getpid():
                    library.reinitialize()
                    _INITIALISED_IN[self.module] = os.getpid()
            token = library.get_token(token_label=self.uri.token)
        except PKCS11Error as error:
            raise TokenError(
                f"no PKCS#11 token labelled {self.uri.token!r} in {self.module} "
                f"({type(error).__name__})"
            ) from None
        try:
            session = token.open(user_pin=self._pin(), rw=True)
        except (PinIncorrect, PinLenRange, PinInvalid):
            self._refused = (
                f"the token {self.uri.token!r} refused the PIN; it is not tried again by "
                "this process: mend the PIN source and start the process again"
            )
            raise TokenError(self._refused) from None
        except (PinLocked, PinExpired) as error:
            self._refused = (
                f"the token {self.uri.token!r} does not take the PIN ({type(error).__name__}); "
                "its security officer must unlock or renew it, then start the process again"
            )
            raise TokenError(self._refused) from None
        except PKCS11Error as error:
            raise TokenError(
                f"the token {self.uri.token!r} cannot be opened ({type(error).__name__})"
            ) from None
        self._session, self._pid = session, os.getpid()
        self._signers = {}
        return session

    def _private(self, session: pkcs11.Session, kid: str | None) -> list[pkcs11.PrivateKey]:
        template: dict[Attribute, object] = {
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.LABEL: self.uri.label,
        }
        if kid is not None:
            template[Attribute.ID] = bytes.fromhex(kid)
        return [key for key in session.get_objects(template)]  # type: ignore[misc]

    def _public_bytes(self, session: pkcs11.Session, key_id: bytes) -> bytes:
        public = session.get_key(
            object_class=ObjectClass.PUBLIC_KEY, label=self.uri.label, id=key_id
        )
        point = bytes(public[Attribute.EC_POINT])
        # SoftHSM2 and most tokens give the point as a DER OCTET STRING (04 20 <32 bytes>).
        if len(point) == 34 and point[:2] == b"\x04\x20":
            point = point[2:]
        if len(point) != 32:
            raise TokenError(f"the key {key_id.hex()} in the token is not an Ed25519 key")
        return point

    def keys(self, name: str) -> list[TokenSigningKey]:
        """The signing keys under the label, by the kid their public key gives."""
        with self._lock:
            session = self._open()
            found = []
            for private in self._private(session, None):
                key_id = bytes(private[Attribute.ID])
                found.append(TokenSigningKey(name, self._public_bytes(session, key_id), self))
            return found

    def key(self, name: str, kid: str) -> TokenSigningKey:
        with self._lock:
            session = self._open()
            if not self._private(session, kid):
                raise TokenError(
                    f"the log is signed by key {kid}, but the token {self.uri.token!r} holds "
                    f"no key {kid} labelled {self.uri.label!r}"
                )
            key = TokenSigningKey(name, self._public_bytes(session, bytes.fromhex(kid)), self)
        if key.kid != kid:
            raise TokenError(f"the token's key with id {kid} is key {key.kid}")
        return key

    def unpublished(self, name: str, published: set[str]) -> int:
        """How many key pairs under the label are not among the `published` kids."""
        return sum(1 for key in self.keys(name) if key.kid not in published)

    def adopt(self, name: str, published: set[str]) -> TokenSigningKey | None:
        """The one key pair under the label that is not yet published, made in the token
        beforehand (by its security officer, say, in a key ceremony), given its kid as CKA_ID;
        None when there is none. Two such keys are refused: which one signs must be clear."""
        with self._lock:
            session = self._open()
            new: list[tuple[bytes, TokenSigningKey]] = []
            for private in self._private(session, None):
                key_id = bytes(private[Attribute.ID])
                key = TokenSigningKey(name, self._public_bytes(session, key_id), self)
                if key.kid not in published:
                    new.append((key_id, key))
            if not new:
                return None
            if len(new) > 1:
                raise TokenError(
                    f"the token {self.uri.token!r} holds {len(new)} unpublished keys labelled "
                    f"{self.uri.label!r}; leave the one that is to sign next"
                )
            ((key_id, key),) = new
            final_id = bytes.fromhex(key.kid)
            if key_id != final_id:
                template = {Attribute.LABEL: self.uri.label, Attribute.ID: key_id}
                for item in list(session.get_objects(template)):
                    item[Attribute.ID] = final_id
            return key

    def generate(self, name: str) -> TokenSigningKey:
        """A new Ed25519 key pair made inside the token; the private key cannot leave it."""
        if not valid_key_name(name):
            raise TokenError(f"the origin {name!r} cannot name a key: no spaces and no '+'")
        provisional = os.urandom(8)
        with self._lock:
            session = self._open()
            public, private = session.generate_keypair(
                KeyType.EC_EDWARDS,
                mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                store=True,
                label=self.uri.label,
                id=provisional,
                public_template={Attribute.EC_PARAMS: ED25519_PARAMS},
                private_template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                },
            )
            key = TokenSigningKey(name, self._public_bytes(session, provisional), self)
            # The id is the kid, known only once the public key is: set on both halves.
            final_id = bytes.fromhex(key.kid)
            public[Attribute.ID] = final_id
            private[Attribute.ID] = final_id
        return key

    def sign(self, kid: str, message: bytes) -> bytes:
        with self._lock:
            session = self._open()
            signer = self._signers.get(kid)
            if signer is None:
                keys = self._private(session, kid)
                if not keys:
                    raise TokenError(f"the token {self.uri.token!r} holds no key {kid}")
                # An Ed25519 private key object signs (python-pkcs11 types it without the mixin).
                signer = self._signers[kid] = cast(SignMixin, keys[0])
            return bytes(signer.sign(message, mechanism=Mechanism.EDDSA))

    def destroy(self, kid: str) -> None:
        """Delete a key pair that no longer signs (its verifier key stays published)."""
        with self._lock:
            session = self._open()
            self._signers.pop(kid, None)
            template = {Attribute.LABEL: self.uri.label, Attribute.ID: bytes.fromhex(kid)}
            for item in list(session.get_objects(template)):
                item.destroy()
