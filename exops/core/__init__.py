"""Shared by every stage: errors, exit codes, models, settings, secret redaction."""
