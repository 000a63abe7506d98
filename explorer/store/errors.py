"""The latent store's one exception type, StoreError: every problem a user can cause, with a message for them."""
from __future__ import annotations


class StoreError(Exception):
    """Anything wrong with a store request or file, with a message meant for the user."""
