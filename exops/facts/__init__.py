"""Get: read-only facts of a cluster (the gather, its session, the view, health)."""
