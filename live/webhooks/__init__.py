"""Webhooks: a transactional outbox and its signed, retried delivery."""
