"""Growth actions, transport-free: callers commit and publish the returned events."""
