"""The Redactor: runs the chosen rules over a folded copy of a message, keeps the first rule's
match where two overlap, and puts placeholders in the text as typed (`[email]`, `@user1`).

Each match is mapped back to the original characters it came from, invisible ones inside it
included, so text around a match (an emoji's joiners, a no-break space) is stored byte for byte
as typed. People become `@user1`, `@user2`… by first appearance in the conversation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import phonenumbers

from bot.conversation.redaction.cards import find_cards
from bot.conversation.redaction.emails import find_emails
from bot.conversation.redaction.folding import fold_text
from bot.conversation.redaction.ibans import find_ibans
from bot.conversation.redaction.mentions import find_markup, find_mentions
from bot.conversation.redaction.phones import PhoneFinder
from bot.conversation.redaction.secret_shapes import find_secrets
from bot.conversation.redaction.spans import MARKUP, Claims, Span
from bot.conversation.redaction.ssns import find_ssns

RULES = ("email", "phone", "card", "secret", "iban", "mention", "ssn")

# When two rules claim overlapping text, the earlier one here wins. Mentions and secrets have a
# rigid shape, so they go first; phone comes last because its matcher is the most lenient.
_PRIORITY = ("mention", "secret", "email", "iban", "ssn", "card", "phone")


@dataclass(frozen=True)
class Redacted:
    text: str
    counts: dict[str, int]


class Redactor:
    """Redact the chosen rules; build one per process and reuse it (its patterns are shared)."""

    def __init__(self, rules: Iterable[str] = RULES, *, phone_region: str | None = "US") -> None:
        if isinstance(rules, str):
            raise TypeError(f"rules must be a collection of rule names, not the string {rules!r}")
        chosen = set(rules)
        unknown = sorted(chosen - set(RULES))
        if unknown:
            raise ValueError(
                f"unknown redaction rule(s): {', '.join(unknown)}; known rules: {', '.join(RULES)}"
            )
        if phone_region is not None:
            phone_region = phone_region.upper()  # `REDACT_PHONE_REGION=gb` means GB
            if phone_region not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"unknown phone region {phone_region!r}; use a code such as 'US'")
        self.rules = tuple(rule for rule in RULES if rule in chosen)
        self.phone_region = phone_region
        finders: dict[str, Callable[[str], Iterator[Span]]] = {
            "mention": find_mentions,
            "secret": find_secrets,
            "email": find_emails,
            "iban": find_ibans,
            "ssn": find_ssns,
            "card": find_cards,
            "phone": PhoneFinder(phone_region).find,
        }
        self._finders = [finders[rule] for rule in _PRIORITY if rule in chosen]

    def redact(self, text: str, people: dict[str, str]) -> Redacted:
        """Replace every match; new people are added to `people`, which the caller keeps."""
        # The rules read a folded copy (fullwidth and other digits as ASCII, invisible characters
        # gone) and their spans are mapped back, so the stored text changes only where a match is.
        folded, origin = fold_text(text)
        kept = Claims()
        # Markup and mentions are found even when mentions are not redacted, so that a Discord
        # id inside `<@…>` or `<#…>` is never mistaken for a card or phone number.
        kept.claim(find_markup(folded, redact_mentions="mention" in self.rules))
        for find in self._finders:
            kept.claim(find(folded))

        pieces: list[str] = []
        counts: Counter[str] = Counter()
        position = 0
        for span in kept.spans():
            if span.rule == MARKUP:
                continue
            start, end = span.start, span.end
            if origin is not None:
                # From the first folded character's original to the last one's, so invisible
                # characters inside a match go with it and those around it stay.
                start, end = max(origin[start], position), origin[end - 1] + 1
                if end <= start:  # both halves of one expanded character (`½`): taken already
                    continue
            pieces.append(text[position:start])
            pieces.append(_placeholder(span, people))
            counts[span.rule] += 1
            position = end
        pieces.append(text[position:])
        return Redacted("".join(pieces), {rule: counts[rule] for rule in RULES if counts[rule]})


def _placeholder(span: Span, people: dict[str, str]) -> str:
    if span.rule != "mention":
        return f"[{span.rule}]"
    if span.person not in people:
        taken = set(people.values())
        number = len(people) + 1
        while f"@user{number}" in taken:  # a mapping the caller edited may have gaps
            number += 1
        people[span.person] = f"@user{number}"
    return people[span.person]
