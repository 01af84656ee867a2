"""Feature extractors: items table -> feature matrix (one row per kept item)."""
