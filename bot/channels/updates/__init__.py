"""Updates to followers, delivered on their own channel (issue 20: "Follow a brand").

`outbox` is the loop that takes due deliveries from the brand's queue and sends them, keeping
the follower's cap and quiet hours and the platforms' rate limits; `senders` are its Telegram
and Slack calls. The widget's deliveries are not pushed: they wait in its inbox.
"""

from bot.channels.updates.outbox import PACES, Clock, Options, Outbox, unfollow_payload
from bot.channels.updates.senders import senders_for

__all__ = ["PACES", "Clock", "Options", "Outbox", "senders_for", "unfollow_payload"]
