"""Feedback in two steps: what the learner reads for a mistake.

A mistake's text is one sentence, or two parts joined by ``with_fix``: the symptom, with
a question that points at the idea, and the exact fix. The learner reads the symptom
first; the exact fix when the same mistake comes back, when they call the check with
``explain=True``, or at once when the environment variable RESNET_LAB_EXPLAIN is "1"
(grading sets it: a graded attempt is final).
"""

import os

FIX = "\x1f"  # separates a mistake's symptom from its exact fix, see with_fix


def with_fix(symptom, fix):
    """A mistake told in two steps: first ``symptom``, what is wrong and a question that
    points at the idea; the exact change, ``fix``, only when the same mistake comes back
    or when the learner asks for it (``explain=True``). Texts built this way can be
    prefixed ("stage 3: ...") and joined (``all_of``) like plain ones."""
    return f"{symptom}{FIX}{fix}"


def all_of(mistakes):
    """One text for every mistake in ``mistakes`` (None entries are skipped): the learner
    sees all the mistakes a check can tell apart, not only the first. None if none."""
    mistakes = [m for m in mistakes if m]
    if len(mistakes) <= 1:
        return mistakes[0] if mistakes else None
    parts = [m.partition(FIX) for m in mistakes]
    symptom = f"{len(mistakes)} mistakes: " + " ".join(
        f"({i}) {text}" for i, (text, _, _) in enumerate(parts, start=1))
    fixes = " ".join(f"({i}) {fix}" for i, (_, _, fix) in enumerate(parts, start=1) if fix)
    return with_fix(symptom, fixes) if fixes else symptom


EXPLAIN_ENV = "RESNET_LAB_EXPLAIN"  # "1": every mistake comes with its exact fix at once
_told = set()  # (check, symptom) of the two-step mistakes already told once


def feedback(check, text, explain=False):
    """What the learner reads for the mistake ``text`` found by ``check``."""
    symptom, _, fix = text.partition(FIX)
    if not fix:
        return symptom
    key = (check, symptom)
    if explain or key in _told or os.environ.get(EXPLAIN_ENV, "0") not in ("", "0"):
        return f"{symptom} Exact fix: {fix}"
    _told.add(key)
    return (f"{symptom} (If the same mistake comes back, the check shows the exact fix; "
            f"explain=True shows it now.)")
