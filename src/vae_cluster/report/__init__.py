"""Per-run reports and sweep leaderboards."""
