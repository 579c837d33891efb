"""Redaction: what must never train a model (addresses, numbers, keys, people) replaced by
placeholders before a turn is stored, so nothing it removes can reach a dataset or a training
provider.

Only the matched characters change: the rules read a folded copy of the text (folding) and
their matches are mapped back to what was typed. The Redactor (redactor) runs the chosen rules
and settles overlaps between them (spans): mention and chat markup (mentions), secret
(secret_shapes, labelled_secrets), email (emails), iban (ibans), ssn (ssns), card (cards) and
phone (phones). IP addresses are kept: in a team's chat they are mostly internal hosts that ops
answers need.
"""

from __future__ import annotations

from bot.conversation.redaction.redactor import RULES, Redacted, Redactor

__all__ = ["RULES", "Redacted", "Redactor"]
