"""Pure sync rules: planning a linked pair's writes, which values are the same written differently (`alike`),
when creates may be sent, when a mirrored contact counts as deleted, and how a lost create is recognised or
proven absent. No database, no broker, no HTTP: the tasks and the store load rows, call these, and persist what
they decide."""
