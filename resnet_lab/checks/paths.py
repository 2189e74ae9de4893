"""Lesson 9's exercise: count a ResNet's paths by length (Veit et al.'s unraveled view).

``path_counts(n)[k]`` is how many of the 2^n paths through n residual blocks pass
exactly k of them. The check compares the learner's counts with an enumeration of every
path (each block passed or skipped) for small n, and with their total for ResNet-56's
27 blocks; the sentences name the idea that was missed before any formula.
"""

import itertools
import numbers

from resnet_lab.checks.runner import Failure, Mistake, call_learner, learner_check, translate

SMALL = (0, 1, 2, 3, 4, 5, 8, 12)  # enumerated path by path
LARGE = 27  # ResNet-56's blocks: 134,217,728 paths, counted by their total only


def enumerate_paths(n):
    """Counts by length from every path itself: a path passes or skips each block."""
    counts = [0] * (n + 1)
    for passes in itertools.product((False, True), repeat=n):
        counts[sum(passes)] += 1
    return counts


def _as_counts(result, n):
    """The learner's result as a list of ints, or the Mistake that says why it is not."""
    try:
        values = list(result)
    except TypeError:
        raise Mistake(f"path_counts(n) returns one count per path length, a list of n + 1 "
                      f"numbers; path_counts({n}) returned {type(result).__name__}.") from None
    counts = []
    for value in values:
        if not isinstance(value, numbers.Real) or float(value) != int(value):
            raise Mistake(f"a count of paths is a whole number, but path_counts({n}) "
                          f"contains {value!r}.")
        counts.append(int(value))
    return counts


def _blocks(n):
    return f"{n} block" if n == 1 else f"{n} blocks"


@learner_check
def check_path_counts(path_counts):
    """Lesson 9: ``path_counts(n)[k]`` = how many of the 2^n paths pass exactly k blocks."""
    name = "path_counts"
    for n in (*SMALL, LARGE):
        try:
            result = call_learner(path_counts, name, n)
        except Failure as failure:
            raise Mistake(translate(failure, f"path_counts({n})")) from None
        counts = _as_counts(result, n)
        if len(counts) != n + 1:
            raise Mistake(f"a path through {_blocks(n)} passes anything from none to all of "
                          f"them: path_counts({n}) has one count for each k from 0 to {n}, "
                          f"{n + 1} in all, but yours has {len(counts)}.")
        if sum(counts) != 2**n:
            raise Mistake(f"at each block a path either passes it or skips it, so "
                          f"{_blocks(n)} make 2^{n} = {2**n:,} paths, but your counts for "
                          f"n = {n} add up to {sum(counts):,}.")
        if n in SMALL:
            right = enumerate_paths(n)
            if counts != right:
                k = next(k for k in range(n + 1) if counts[k] != right[k])
                raise Mistake(f"for n = {n}, {right[k]:,} paths pass exactly {k} of the "
                              f"blocks, but yours says {counts[k]:,}: in how many ways can a "
                              f"path choose which {k} of the {n} blocks it passes?")
    print(f"{name}: all checks passed (every path enumerated for n up to {max(SMALL)}, "
          f"and the 2^{LARGE} paths of ResNet-56's {LARGE} blocks).")
