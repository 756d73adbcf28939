"""Character alphabets for generated text: many scripts, few code point intervals.

Hypothesis draws a character from an interval set and checks it against every
interval; the Unicode categories "L" and "N" alone are some 700 intervals, and
measured on this suite that check and the set's hashing were a large share of
generating a valid payload. These alphabets keep the variety that matters to a
server (ASCII, Latin-1, Greek, Cyrillic, Hebrew, Arabic, Devanagari, Thai,
Georgian, kana, Hangul, CJK in the basic and a supplementary plane, fullwidth
and non-ASCII digits) in a few dozen intervals. Every character is filtered by
its Unicode category, so an alphabet never holds what its name excludes.

Boundary: pure data (strings built once, at import).
"""

from __future__ import annotations

import functools
import unicodedata

# Blocks (first, last code point) whose characters are letters or digits almost throughout.
_LETTER_DIGIT_RANGES = (
    (0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A),  # ASCII
    (0xC0, 0xFF),  # Latin-1 letters (the two operators are filtered out)
    (0x100, 0x17F),  # Latin Extended-A
    (0x391, 0x3A9), (0x3B1, 0x3C9),  # Greek
    (0x410, 0x44F),  # Cyrillic
    (0x5D0, 0x5EA),  # Hebrew
    (0x621, 0x63A), (0x660, 0x669),  # Arabic letters, Arabic-Indic digits
    (0x905, 0x939), (0x966, 0x96F),  # Devanagari letters and digits
    (0xE01, 0xE30),  # Thai
    (0x10D0, 0x10FA),  # Georgian
    (0x2160, 0x2182),  # Roman numerals (category Nl)
    (0x3041, 0x3096), (0x30A1, 0x30FA),  # Hiragana, Katakana
    (0x4E00, 0x9FA5),  # CJK unified ideographs
    (0xAC00, 0xD7A3),  # Hangul syllables
    (0xFF10, 0xFF19), (0xFF21, 0xFF3A),  # fullwidth digits and letters
    (0x20000, 0x2A6D6),  # CJK extension B (four UTF-8 bytes)
)
# Punctuation and symbols: ASCII, Latin-1, general punctuation, currency, arrows, CJK, emoji.
_PUNCT_SYMBOL_RANGES = (
    (0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E),
    (0xA1, 0xBF),
    (0x2010, 0x2027), (0x2030, 0x205E),
    (0x20A0, 0x20C0),
    (0x2190, 0x21FF),
    (0x3001, 0x3003), (0x3008, 0x3011),
    (0xFF01, 0xFF0F),
    (0x1F600, 0x1F64F),
)


@functools.cache
def _chars(ranges: tuple[tuple[int, int], ...], majors: str) -> str:
    # Cached: classifying some 76,000 code points is most of this module's cost, and several alphabets share a scan.
    return "".join(ch for first, last in ranges for ch in map(chr, range(first, last + 1)) if unicodedata.category(ch)[0] in majors)


def _without(alphabet: str, exclude: str) -> str:
    return alphabet.translate(dict.fromkeys(map(ord, exclude))) if exclude else alphabet


def letters_digits(exclude: str = "") -> str:
    """Letters and digits of many scripts (Unicode categories L and N), minus ``exclude``."""
    return _without(_chars(_LETTER_DIGIT_RANGES, "LN"), exclude)


def free_text(exclude: str = "") -> str:
    """Letters, digits, punctuation and symbols (L, N, P, S) of many scripts, minus ``exclude``."""
    return _without(_chars((*_LETTER_DIGIT_RANGES, *_PUNCT_SYMBOL_RANGES), "LNPS"), exclude)


def regex_text() -> str:
    """What a drawn regex match may hold besides what its pattern demands: free text, marks and a few spaces."""
    return free_text() + _chars(((0x300, 0x36F),), "M") + " \u00a0\u3000"


def intervals(alphabet: str) -> int:
    """How many runs of consecutive code points ``alphabet`` (sorted) holds: what Hypothesis checks per character."""
    cps = sorted(set(map(ord, alphabet)))
    return sum(1 for i, cp in enumerate(cps) if i == 0 or cp != cps[i - 1] + 1)
