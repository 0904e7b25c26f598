"""The REST read API of the platform (FastAPI).

Reads come from the SQL read models that :mod:`streams` projects from chain events; nothing
here writes to the chain or to a read model. Members log in with their wallet (Sign-In with
Ethereum, EIP-4361) and get a short-lived JWT that proves their address; what they may see
follows their on-chain role, read from the participants read model on every request
(``access.py``).

Layout: ``main.py`` (``create_app``), ``settings.py``, ``deps.py`` (``Annotated`` dependencies),
``schemas.py`` (response models), ``routes/`` (one router per resource), ``siwe.py`` (the
EIP-4361 message), ``security.py`` (nonces, tokens, access rules), ``server.py`` (uvicorn in a
thread), ``cli.py`` (``bright api ...``), ``bench.py`` (``bench_api``).
"""
