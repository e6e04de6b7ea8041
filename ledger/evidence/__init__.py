"""The evidence format (`docs/evidence-format.md`, v1): canonical JSON, keys, leaves, verification.

Nothing in this package imports the domain or the `eventsourcing` library, so that the
verifier can be handed to an auditor on its own.
"""
