"""Metrics and the evaluator that writes the tidy metrics table."""
