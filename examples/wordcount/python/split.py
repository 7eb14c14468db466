"""Word count's split bolt in Python: sentences in, lowercase words out.

Same contract as the Go wordcount.SplitSentence (../README.md): the
sentence (field "sentence") is lowercased rune by rune as Go's
strings.ToLower does, then every maximal run of letters or digits (Go's
unicode.IsLetter || unicode.IsDigit) is emitted on field "word", anchored
to the sentence, and the sentence is acked after its last word. A value
that is not a string (a tick, say) has no words and is just acked.

Run by a node (``run: [python3, split.py]``) or attached by hand with the
GALE_* variables set (see README.md here).
"""

from __future__ import annotations

import re
import unicodedata

import gale

# ASCII sentences, the common case, take one lower() and one findall: for
# ASCII text Python's lower() and Go's strings.ToLower agree, and the
# letters and digits are exactly [a-z0-9] once lowered.
_ASCII_WORDS = re.compile(r"[a-z0-9]+").findall


class _GoLower(dict):
    """str.translate table that lowercases one code point at a time, as Go's
    unicode.ToLower does (the simple case mapping). Python's str.lower()
    differs in two ways that matter here: it lowers U+0130 (İ) to two code
    points ("i" + U+0307) where Go gives "i", and it turns a word-final Σ
    into ς where Go always gives σ. Lowering each code point on its own
    avoids both; entries are computed on first use and cached."""

    def __missing__(self, cp: int) -> str:
        low = chr(cp).lower()
        if len(low) != 1:
            low = low[0]  # U+0130 -> "i", Go's simple mapping
        self[cp] = low
        return low


_LOWER = _GoLower()

# Go 1.26's unicode tables are Unicode 15.0.0; Python 3.11's unicodedata is
# 14.0.0. These are the letters and digits Unicode 15.0 added (computed by
# comparing the two tables over every code point), so that a word splits
# exactly where the Go bolt splits it. Python 3.12 ships 15.0.0 and needs
# no correction; 3.13's 15.1.0 adds CJK Extension I, which Go does not yet
# count as letters.
_LETTERS_ADDED = {
    "14.0.0": (
        (0x1123F, 0x11240), (0x11F02, 0x11F02), (0x11F04, 0x11F10), (0x11F12, 0x11F33),
        (0x11F50, 0x11F59), (0x1342F, 0x1342F), (0x13441, 0x13446), (0x1B132, 0x1B132),
        (0x1B155, 0x1B155), (0x1DF25, 0x1DF2A), (0x1E030, 0x1E06D), (0x1E4D0, 0x1E4EB),
        (0x1E4F0, 0x1E4F9), (0x2B739, 0x2B739), (0x31350, 0x323AF),
    ),
}
_LETTERS_REMOVED = {
    "15.1.0": ((0x2EBF0, 0x2EE5D),),
}
_ADDED = _LETTERS_ADDED.get(unicodedata.unidata_version, ())
_REMOVED = _LETTERS_REMOVED.get(unicodedata.unidata_version, ())


def _is_word_char(c: str) -> bool:
    """Go's unicode.IsLetter(r) || unicode.IsDigit(r): general category L*
    or Nd, i.e. str.isalpha() or str.isdecimal(), adjusted to Go's Unicode
    version."""
    if c.isalpha() or c.isdecimal():
        if _REMOVED:
            cp = ord(c)
            return not any(lo <= cp <= hi for lo, hi in _REMOVED)
        return True
    if _ADDED and c > "\U00011000":
        cp = ord(c)
        return any(lo <= cp <= hi for lo, hi in _ADDED)
    return False


def words(sentence: str) -> list[str]:
    """The lowercase words of a sentence, in order, as the Go split bolt
    cuts them."""
    if sentence.isascii():
        return _ASCII_WORDS(sentence.lower())
    low = sentence.translate(_LOWER)
    out = []
    start = -1
    for i, c in enumerate(low):
        if _is_word_char(c):
            if start < 0:
                start = i
        elif start >= 0:
            out.append(low[start:i])
            start = -1
    if start >= 0:
        out.append(low[start:])
    return out


class SplitSentence(gale.Bolt):
    """Splits field 0 ("sentence") into words, each emitted anchored to the
    sentence, then acks the sentence. Its acks travel after each input
    batch's emits (gale.Bolt.defer_acks, the default): two frames per
    input batch instead of two per sentence."""

    def execute(self, tup: gale.Tuple) -> None:
        s = tup.values[0] if tup.values else None
        if type(s) is str:
            emit = self.emit
            for w in (_ASCII_WORDS(s.lower()) if s.isascii() else words(s)):
                emit([w], tup)
        self.ack(tup)


if __name__ == "__main__":
    gale.run(SplitSentence())
