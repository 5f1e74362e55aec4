"""Compare: the plan model, preflight checks, the planner and restore planning (pure)."""
