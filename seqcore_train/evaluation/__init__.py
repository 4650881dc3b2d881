"""Evaluation: threshold, metrics, report tables, figures, per-image maps; imports the top-level leaves and `data.records`, never the model or the jobs."""
