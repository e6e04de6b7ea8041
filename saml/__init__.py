"""NemLog-in / OIOSAML 3.0 login: the service provider.

Turns a POSTed SAMLResponse into a verified `Identity` or a `LoginRefused` with a reason.
Knows nothing of Flask routes or the ledger's storage; `web/` wires it in.
"""
