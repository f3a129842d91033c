"""Scheduling: the pure plan(), the ready-queue index, the resource ledger and node capacity."""
