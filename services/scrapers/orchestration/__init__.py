"""Phase-1 control: the daily expected schedule, hourly workflow decisions, cleanup."""
