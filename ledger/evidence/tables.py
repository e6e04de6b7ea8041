"""Names of the stored tables, shared by the recorders that write them and the verifier."""

EVENTS_TABLE = "stored_events"
LEAVES_TABLE = "ledger_leaves"
TREE_TABLE = "ledger_tree"
CHECKPOINTS_TABLE = "ledger_checkpoints"
PERSONAL_DATA_TABLE = "ledger_personal_data"
# Where readers find the erasure by time of an opening that is gone (ledger.personal_data),
# derived data that `ledger verify` holds to the erasure events.
TIME_ERASURES_TABLE = "ledger_personal_erased_by_time"
EVENT_INDEX_TABLE = "ledger_event_index"  # the search index (ledger.search), derived data
