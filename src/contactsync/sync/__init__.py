"""Pure sync rules about the write ledger: no database, no broker, no HTTP."""
