"""Authentication (API keys), authorization (roles per RPC) and TLS for the server.

* :mod:`.keys` -- the hashed API-key file and constant-time verification.
* :mod:`.policy` -- which role each RPC needs (one table, extend it there).
* :mod:`.principal` -- who is calling: ``current_principal()`` inside a handler.
* :mod:`.interceptor` -- the server interceptor tying the three together.
* :mod:`.tls` / :mod:`.client_tls` -- server and client credentials.
* :mod:`.keys_cli` -- ``python -m server.keys``: create, list and revoke keys.
"""
