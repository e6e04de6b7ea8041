"""Names of the stored tables, shared by the recorders that write them and the verifier."""

EVENTS_TABLE = "stored_events"
LEAVES_TABLE = "ledger_leaves"
TREE_TABLE = "ledger_tree"
CHECKPOINTS_TABLE = "ledger_checkpoints"
