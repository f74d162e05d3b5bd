"""Hosts, 团长 (leaders), viewers and their revocable tokens."""
