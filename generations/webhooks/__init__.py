"""Outgoing webhooks: members' endpoints told when a video is ready or failed (Standard Webhooks signatures)."""
