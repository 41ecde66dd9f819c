"""Webhook receivers, one blueprint per forge."""
