"""Names of the stored tables, shared by the recorders that write them and the verifier."""

EVENTS_TABLE = "stored_events"
LEAVES_TABLE = "ledger_leaves"
TREE_TABLE = "ledger_tree"
CHECKPOINTS_TABLE = "ledger_checkpoints"
PERSONAL_DATA_TABLE = "ledger_personal_data"
EVENT_INDEX_TABLE = "ledger_event_index"  # the search index (ledger.search), derived data
