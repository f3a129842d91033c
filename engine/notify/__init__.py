"""Hooks: which events reach which hook, and delivering them (a command, or an HTTP POST) off the engine loop."""
