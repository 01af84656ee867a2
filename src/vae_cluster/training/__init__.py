"""Training loop shared by every model."""
