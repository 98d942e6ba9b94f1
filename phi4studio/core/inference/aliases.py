"""Names that state the same thing: a country and its codes, a currency and its code, a US state
and its abbreviation. Grounding (grounding.py) counts a value as stated when the conversation
says it under another of these names: "USA" for "the United States", "EUR" for "euros", "CA"
for "California".

Each group is a set of lowercase phrases; `alias_groups(phrase)` returns the groups a value's
phrase (or one of its words) belongs to.
"""

from __future__ import annotations

import re
from functools import lru_cache

_COUNTRIES = [
    "united states|usa|us|u.s.|u.s.a.|america|united states of america",
    "united kingdom|uk|u.k.|britain|great britain|gb|england",
    "united arab emirates|uae", "south korea|korea|kr", "germany|de|deutschland",
    "france|fr", "spain|es|españa", "italy|it", "japan|jp", "china|cn|prc", "india|in",
    "canada|ca", "australia|au", "brazil|br", "mexico|mx", "russia|ru", "netherlands|nl|holland",
    "switzerland|ch", "new zealand|nz", "south africa|za",
]
_CURRENCIES = [
    "usd|us dollar|us dollars|dollar|dollars|$", "eur|euro|euros|€",
    "gbp|pound|pounds|£|sterling", "jpy|yen|¥", "inr|rupee|rupees", "cny|yuan|renminbi|rmb",
    "cad|canadian dollar|canadian dollars",
    "aud|australian dollar|australian dollars", "chf|swiss franc|swiss francs", "krw|won",
    "mxn|peso|pesos", "brl|real|reais", "rub|ruble|rubles", "btc|bitcoin", "eth|ether|ethereum",
]
_STATES = (
    "al alabama,ak alaska,az arizona,ar arkansas,ca california,co colorado,ct connecticut,"
    "de delaware,fl florida,ga georgia,hi hawaii,id idaho,il illinois,in indiana,ia iowa,"
    "ks kansas,ky kentucky,la louisiana,me maine,md maryland,ma massachusetts,mi michigan,"
    "mn minnesota,ms mississippi,mo missouri,mt montana,ne nebraska,nv nevada,nh new hampshire,"
    "nj new jersey,nm new mexico,ny new york,nc north carolina,nd north dakota,oh ohio,"
    "ok oklahoma,or oregon,pa pennsylvania,ri rhode island,sc south carolina,sd south dakota,"
    "tn tennessee,tx texas,ut utah,vt vermont,va virginia,wa washington,wv west virginia,"
    "wi wisconsin,wy wyoming,dc district of columbia|washington dc|washington d.c."
)
_CITIES = ["new york city|nyc|new york", "los angeles|la", "san francisco|sf",
           "washington dc|washington d.c.|dc"]


def _groups() -> list[frozenset[str]]:
    out = [frozenset(g.split("|")) for g in (*_COUNTRIES, *_CURRENCIES, *_CITIES)]
    for item in _STATES.split(","):
        code, name = item.split(" ", 1)
        out.append(frozenset([code, *name.split("|")]))
    return out


@lru_cache(maxsize=1)
def _index() -> dict[str, list[frozenset[str]]]:
    index: dict[str, list[frozenset[str]]] = {}
    for group in _groups():
        for phrase in group:
            index.setdefault(phrase, []).append(group)
    return index


def alias_groups(phrase: str) -> list[frozenset[str]]:
    """The groups `phrase` (lowercase, as written) belongs to."""
    return _index().get(phrase.strip().lower(), [])


def stated_as_alias(value: str, text: str) -> bool:
    """Whether `text` says `value` under another name of one of its groups: the whole value
    ("United States" -> "USA") or one of its words or runs of two or three words ("Austin, TX"
    -> "Texas"). A short code counts only written in capitals ("IN", not the word "in")."""
    low = value.strip().lower()
    words = re.findall(r"[a-z0-9.$€£¥]+", low)
    phrases = {low, *words, *(" ".join(words[i:i + 2]) for i in range(len(words) - 1)),
               *(" ".join(words[i:i + 3]) for i in range(len(words) - 2))}
    for phrase in phrases:
        for group in alias_groups(phrase):
            if any(_says(text, other) for other in group if other != phrase):
                return True
    return False


_WORDS_NOT_CODES = frozenset(("won", "yen", "eth"))


def _says(text: str, phrase: str) -> bool:
    if phrase in ("$", "€", "£", "¥"):
        return phrase in text
    if re.fullmatch(r"[a-z]{2,3}", phrase) and phrase not in _WORDS_NOT_CODES:
        return re.search(r"(?<![A-Za-z0-9])" + phrase.upper() + r"(?![A-Za-z0-9])",
                         text) is not None
    return re.search(r"(?<![a-z0-9])" + re.escape(phrase) + r"(?![a-z0-9])",
                     text.lower()) is not None
