"""Room fan-out: the broker assigns seq and keeps history; ticks coalesce frames."""
