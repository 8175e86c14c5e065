"""Byte formats and their pure codecs: the wire protocol, record framing, checkpoints and
signed notes, Merkle trees, the event and its storable form, segment encryption, key files,
the index layout. Imports nothing but the core's base modules."""
