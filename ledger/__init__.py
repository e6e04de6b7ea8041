"""The domain and its evidence: aggregates, commands, the signed log, proofs, verification,
export, search and projections. Knows nothing of Flask or SAML."""
