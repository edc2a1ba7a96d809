"""The library every Spectral service stands on.

Modules are named for what they provide: ``config`` (typed settings from env), ``db``
(engine and sessions per service schema), ``bus`` (envelope, outbox, relay, consumers),
``web`` (app base, problems, health, metrics, OpenAPI), ``identity`` (JWT verification,
permissions), ``crypto`` (AES-256-GCM field encryption), ``logging``, ``tracing``, ``email``,
``storage``, ``kv`` (Redis or in-memory key-value), ``component`` (the module registry behind
``spectral all``) and ``testing``.
"""
