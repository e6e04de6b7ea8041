"""The entry points: the `ledger` command, `ledger init` and `ledger serve`, and the one place
that reads the environment and builds the services they and the portal use."""
