"""Commit: the executor, the safety rules on fresh reads, waits, verify, results."""
