"""Outbound webhooks: signing and the delivery loop (storage/webhooks.py keeps the queue)."""

from bot.webhooks.sender import Clock, Options, Sender, deliver_every, send_all
from bot.webhooks.signing import sign, verify

__all__ = ["Clock", "Options", "Sender", "deliver_every", "send_all", "sign", "verify"]
