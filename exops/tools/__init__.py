"""Features beside the pipeline: probe, rehearse, logs analysis, the demo."""
