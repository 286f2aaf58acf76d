"""Loading and persisting for the tasks: every function takes a session and a tenant id and scopes by it."""
