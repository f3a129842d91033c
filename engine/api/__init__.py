"""Reaching the engine: the HTTP server, the HTTP and in-process clients, discovery, tokens, the daemon host."""
