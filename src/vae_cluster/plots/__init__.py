"""Headless matplotlib figures for a run."""
import matplotlib

matplotlib.use("Agg")
