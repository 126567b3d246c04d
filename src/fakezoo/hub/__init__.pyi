from .card import model_card as model_card
from .push import PUSH_PATTERNS as PUSH_PATTERNS
from .push import push_to_hub as push_to_hub

__all__ = ["PUSH_PATTERNS", "model_card", "push_to_hub"]
