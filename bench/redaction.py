"""How long redaction takes before a message is stored, per message shape (milliseconds).

Every chat message and imported example passes through it; tests/bot/conversation/
test_redaction.py holds only that the cost grows linearly with length.
"""

from __future__ import annotations

import time

from bot.conversation.redaction import Redactor

TYPICAL = (
    "Hey <@U0123ABCD>, the deploy of v3.11.7 went out at 14:30 (job 550e8400-e29b-41d4-a716-"
    "446655440000). If the 2026-12-01 run fails again, ping me on +44 20 7946 0958 or mail "
    "ops@example.com; the staging token is in the vault, not here. Order #48213 ships Friday "
    "for $1,299.99. See JIRA-1234 and commit 9fceb02 for details, thanks!"
)
PROSE = "The deploy went out this afternoon and the dashboards look calm; nothing to do today. "


def _long(unit: str, size: int = 20_000) -> str:
    return (unit * (size // len(unit) + 1))[:size]


SHAPES = {
    "typical (330 chars, a phone, an email, ids)": TYPICAL,
    "20,000 chars dense with phones and emails": _long(TYPICAL + "\n"),
    "20,000 chars of prose": _long(PROSE),
    "20,000 chars of fullwidth digits in Japanese": _long(
        "今日のデプロイは１４時３０分に終わりました。注文番号は＃４８２１３です。"
    ),
    "20,000 chars of emoji sequences": _long("👨\u200d👩\u200d👧 ❤️ "),
}


def run(runs: int = 20) -> dict:
    redactor = Redactor(phone_region="US")
    results = {}
    for name, text in SHAPES.items():
        redactor.redact(text, {})  # the first call compiles and caches; a server has done it
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            redactor.redact(text, {})
            times.append(time.perf_counter() - start)
        times.sort()
        median_ms, worst_ms = times[len(times) // 2] * 1000, times[-1] * 1000
        print(f"   {name:48} median {median_ms:7.2f} ms   worst {worst_ms:7.2f} ms", flush=True)
        results[name] = {"median_ms": round(median_ms, 3), "worst_ms": round(worst_ms, 3)}
    return {"runs": runs, "shapes": results}
