"""How a refusal quotes the value it refuses."""


def quoted(value: str, limit: int) -> str:
    """`value` in quotes as a message shows it, cut after `limit` characters with an
    ellipsis, so that a long value fills neither a page nor a log line."""
    return repr(value if len(value) <= limit else value[:limit] + "…")
