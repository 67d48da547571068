"""How triggers become books: one book or one per trigger, what a counter-trigger does, and
when an entry happens (README, "Strategy policies")."""

from __future__ import annotations

from dataclasses import dataclass

from strategies.errors import PolicyError

BOOK_KINDS = ("single", "per_event")
COUNTER_ACTIONS = ("close", "ignore", "reverse")


@dataclass(frozen=True)
class BookRules:
    """``kind``: "single" (one book, extended by repeats) or "per_event" (a sub-book per
    trigger, each with its own exit clock; sub-books add up, capped by max_gross on their
    opening gross). ``counter``: what a net-negative session does: "close" the book(s),
    "ignore" it, or "reverse" (close, then open the opposite book: long the suppliers, short the
    spenders). ``delay``: sessions between an event's entry session and the fill (0 = the
    baseline's next open)."""

    kind: str = "single"
    counter: str = "close"
    delay: int = 0

    def __post_init__(self) -> None:
        if self.kind not in BOOK_KINDS:
            raise PolicyError(
                f"strategy.books.kind must be one of {', '.join(BOOK_KINDS)}, got {self.kind!r}"
            )
        if self.counter not in COUNTER_ACTIONS:
            raise PolicyError(
                f"strategy.books.counter must be one of {', '.join(COUNTER_ACTIONS)}, got "
                f"{self.counter!r}"
            )
        if int(self.delay) != self.delay or self.delay < 0:
            raise PolicyError(f"strategy.entry.delay must be a whole number >= 0, got {self.delay}")
