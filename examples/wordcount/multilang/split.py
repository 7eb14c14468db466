"""A word count split bolt written for Apache Storm's multilang protocol.

It uses Storm's own storm.py, unmodified (`make deps` puts it next to this
file), exactly as it would run under Storm's ShellBolt: Gale runs it with
`protocol: storm-multilang`. A word is a maximal run of letters or decimal
digits of the lowercased sentence, the same rule as the Go split bolt
(unicode.IsLetter, unicode.IsDigit, strings.ToLower).
"""
import storm


def lower(ch):
    # Go lowercases rune by rune with the simple case mapping; Python's
    # str.lower() uses the full one, which differs for U+0130 and, in
    # context, for a final capital sigma.
    return "i" if ch == "\u0130" else ch.lower()


def words(sentence):
    out, cur = [], []
    for ch in sentence:
        ch = lower(ch)
        if ch.isalpha() or ch.isdecimal():
            cur.append(ch)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


class SplitSentenceBolt(storm.BasicBolt):
    def process(self, tup):
        for w in words(tup.values[0]):
            storm.emit([w])


SplitSentenceBolt().run()
