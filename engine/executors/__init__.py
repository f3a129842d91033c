"""Executors launch, watch and stop attempts on one kind of node."""
