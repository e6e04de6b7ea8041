"""Names of the stored tables, shared by the recorders that write them and the verifier."""

EVENTS_TABLE = "stored_events"
LEAVES_TABLE = "ledger_leaves"
