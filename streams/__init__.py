"""The read side and the message bus.

Chain events become SQL read models (see "Read side" in DESIGN.md)::

    chain --eth_getLogs--> chain.indexer.Indexer --> bus "chain.events" --> projections --> SQL

* ``chain/indexer.py``: logs in chunks up to ``head - confirmations``, decoded with every
  artifact's ABI, one ``ChainEvent`` per log; recent block hashes; a parent-hash mismatch rolls
  the read models back to the common ancestor and the new branch is applied.
* ``streams/store.py``: ``ReadModelStore``, the indexer's sink: events, projection updates and
  the checkpoint in one transaction; idempotent by (chain id, block hash, log index); reorg
  rollback by deleting the orphaned events and replaying the affected projections from the
  stored events (``chain_events`` is the event store).
* ``streams/projections.py``: projection functions of (event, session) in a registry; new
  read models (market, oracle, coalitions) add a ``Projection`` and a migration.
* ``streams/models.py``, ``streams/migrations/`` (``streams/alembic.ini``): SQLAlchemy 2
  models and Alembic migrations; SQLite by default, PostgreSQL at scale
  (``BRIGHT_DATABASE_URL``, ``streams/settings.py``); ``streams/postgres.py`` starts a
  throw-away PostgreSQL server.
* ``streams/runner.py``: the embedded runner (indexer, in-process bus, projector);
  ``streams/cli.py``: ``bright index run|rebuild|status``.
* ``streams/kafka/``: the at-scale bus: a KRaft Kafka broker from Maven Central's jars
  (``bright kafka up|down``), the indexer publishing to ``chain.events`` keyed by aggregate,
  faust-streaming agents applying the same projections.
* ``streams/bench.py``: ``bench_indexer`` (events/s projected vs raw fetch and decode).
* ``streams/bus.py``: the ``Bus`` protocol and the in-process bus.
"""
