"""RFC 3161 timestamps of checkpoints (docs/evidence-format.md section 3.2): what is hashed,
the request the log sends, and the check of a token against the trust anchors one holds.

The log's own clock is the operator's word; a timestamp authority's token says, under a key
the auditor trusts and not the operator, that the checkpoint's signed note existed at the
token's time. What is timestamped is the note as the log signed it: the checkpoint text, the
empty line and the log's own signature lines, without any witness's cosignature (those are
added later, one by one, and would change the bytes). A verifier finds those bytes again in
any cosigned copy of the note with `log_signed_note`.

Building the request and checking the token's signature, its certificate chain to the
anchors and the TSA certificate's critical timeStamping usage is `rfc3161-client`'s; what is
ours is the binding to the checkpoint (the message imprint, the nonce, the policy) and the
reason a token fails, so that each is reported under its own code.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import NameOID
from rfc3161_client import (
    HashAlgorithm,
    TimeStampRequest,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from ledger.evidence.note import NoteError, split_note
from ledger.evidence.reasons import Reason

SHA256 = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
MAX_TOKEN = 64 * 1024  # larger than any token with its certificate chain
# A TimeStampResp's status, granted: SEQUENCE { INTEGER 0 }.
_GRANTED = bytes.fromhex("3003020100")


class TimestampError(ValueError):
    """A token that does not hold, with the reason code it is reported under."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class Timestamp:
    """A token checked to be over the note, with what it says: when, and by whom."""

    token: bytes  # the TimeStampToken, DER (a CMS ContentInfo)
    time: datetime  # genTime, in UTC
    tsa: str  # the TSA certificate's subject: its common name, else the whole name
    serial: int
    policy: str


def log_signed_note(note: str | bytes) -> bytes:
    """The bytes a checkpoint's timestamp is over: the note's text, the empty line and the
    signature lines named by the checkpoint's origin (the log's own), in their order; any
    other line (a witness's cosignature) is left out. NoteError for what is no note."""
    text, signatures = split_note(note)
    origin = text.split("\n", 1)[0]
    own = "".join(signature.line() for signature in signatures if signature.name == origin)
    if not own:
        raise NoteError(Reason.MALFORMED_NOTE, "the note has no signature line of its origin")
    return (text + "\n" + own).encode("utf-8")


def digest(note: str | bytes) -> bytes:
    """The SHA-256 of the log-signed note: the message imprint of its timestamp."""
    return hashlib.sha256(log_signed_note(note)).digest()


def request_for(note: str | bytes) -> TimeStampRequest:
    """A TimeStampReq over the log-signed note's SHA-256, with a random nonce (64 bits) and
    certReq, so that the answer carries the TSA certificate a verifier checks."""
    return (
        TimestampRequestBuilder()
        .data(log_signed_note(note))
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )


def token_of_reply(reply: bytes) -> bytes:
    """The TimeStampToken of a TSA's TimeStampResp, once its status is granted."""
    response = _decoded(reply, "reply")
    if response.status != 0:
        texts = "; ".join(response.status_string) or "no text"
        raise TimestampError(
            Reason.MALFORMED_TIMESTAMP,
            f"the TSA did not grant it (status {response.status}: {texts})",
        )
    return response.time_stamp_token()


def load_roots(pem: bytes) -> list[x509.Certificate]:
    """The trust anchors of a PEM file of certificates; ValueError for none or an
    unreadable one."""
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("no PEM certificate in it")
    try:
        roots = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        raise ValueError(f"not a PEM file of certificates: {error}") from error
    if not roots:
        raise ValueError("no certificate in it")
    return roots


def check_token(
    token: bytes,
    note: str | bytes,
    roots: list[x509.Certificate],
    *,
    nonce: int | None = None,
    policy: str | None = None,
) -> Timestamp:
    """The token, checked to be over `note` (its log-signed bytes) and signed by a TSA whose
    certificate chains to one of `roots` with the critical timeStamping usage; with `nonce`
    and `policy` (the log's check of a fresh reply), that it answers that request.

    malformed-timestamp: no token; timestamp-mismatch: a token over other bytes, or not the
    answer to the request (another nonce, another policy); timestamp-untrusted: a signature
    or a chain that does not hold with these anchors."""
    if len(token) > MAX_TOKEN:
        raise TimestampError(Reason.MALFORMED_TIMESTAMP, "the token is too large")
    response = _decoded(_as_response(token), "token")
    info = response.tst_info
    imprint = info.message_imprint
    try:
        expected = digest(note)
    except NoteError as error:
        raise TimestampError(error.reason, str(error)) from error
    if imprint.hash_algorithm != SHA256:
        raise TimestampError(
            Reason.TIMESTAMP_MISMATCH,
            f"the token's imprint is of {imprint.hash_algorithm.dotted_string}, not SHA-256",
        )
    if imprint.message != expected:
        raise TimestampError(
            Reason.TIMESTAMP_MISMATCH, "the token is over other bytes than this checkpoint's note"
        )
    if nonce is not None and info.nonce != nonce:
        raise TimestampError(Reason.TIMESTAMP_MISMATCH, "the token answers another nonce")
    if policy is not None and info.policy.dotted_string != policy:
        raise TimestampError(
            Reason.TIMESTAMP_MISMATCH,
            f"the token is of policy {info.policy.dotted_string}, not {policy}",
        )
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify(response, expected)
    except VerificationError as error:
        raise TimestampError(Reason.TIMESTAMP_UNTRUSTED, str(error)) from error
    return Timestamp(
        token=token,
        time=info.gen_time.astimezone(UTC),
        tsa=tsa_name(response),
        serial=info.serial_number,
        policy=info.policy.dotted_string,
    )


def read_token(token: bytes) -> tuple[datetime, str]:
    """What a token says, unchecked: its time (UTC) and its TSA's name; for showing a
    token the log checked before keeping it. TimestampError for what is no token."""
    response = _decoded(_as_response(token), "token")
    return response.tst_info.gen_time.astimezone(UTC), tsa_name(response)


def tsa_name(response: TimeStampResponse) -> str:
    """The subject of the certificate that signed the token: its common name, else the
    whole name; the token's `tsa` name when it carries no certificate."""
    infos = list(response.signed_data.signer_infos)
    for der in response.signed_data.certificates:
        certificate = x509.load_der_x509_certificate(der)
        if infos and (
            certificate.issuer == infos[0].issuer
            and certificate.serial_number == infos[0].serial_number
        ):
            names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if names:
                return str(names[0].value)
            return certificate.subject.rfc4514_string()
    return ""


def _as_response(token: bytes) -> bytes:
    """The token as a granted TimeStampResp (status, then the token), which is what the
    library reads: SEQUENCE { PKIStatusInfo, TimeStampToken }."""
    body = _GRANTED + token
    return b"\x30" + _der_length(len(body)) + body


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _decoded(data: bytes, what: str) -> TimeStampResponse:
    try:
        return decode_timestamp_response(data)
    except (ValueError, TypeError) as error:
        raise TimestampError(
            Reason.MALFORMED_TIMESTAMP, f"the {what} is not readable: {error}"
        ) from error
    except Exception as error:  # the library's parser raises its own kinds
        raise TimestampError(
            Reason.MALFORMED_TIMESTAMP, f"the {what} is not readable: {type(error).__name__}"
        ) from error
