"""Experiment tracking (config group `logger`): none (default), mlflow, tensorboard."""
