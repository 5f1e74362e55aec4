"""exops: idempotent, dry-run-first runbooks for Cisco Expressway / VCS clusters."""

__version__ = "0.1.0"
