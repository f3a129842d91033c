"""The verbs users call (authorisation, defaults, validation) and read-only queries over the engine."""
