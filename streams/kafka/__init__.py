"""The at-scale bus: an Apache Kafka broker (KRaft, one node, jars from Maven Central), the
indexer publishing to ``chain.events``, and faust-streaming agents applying the projections."""
