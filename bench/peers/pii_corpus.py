#!/usr/bin/env python3
"""Writes a labelled PII corpus for bench/peers/presidio_compare.py.

The values come from Faker (PyPI, MIT) in five locales (en_US, en_GB, de_DE,
fr_FR, pl_PL), not from lethe's own generator, so the corpus is not shaped
by lethe's rules. Each line is one chat message:
  {"id": 17, "locale": "de_DE", "text": "...", "spans": [{"start": 8, "end": 21, "type": "PERSON"}, ...]}
with offsets in code points (Python str indices). Types: PERSON, LOCATION,
ADDRESS, EMAIL, PHONE, CREDIT_CARD, IBAN, IP, URL, US_SSN, DATE. A fifth of
the messages hold no PII at all (numbers, versions, prices), for precision.

Usage: pip install faker==40.63.0; python3 bench/peers/pii_corpus.py --n 2000 --seed 1 --out corpus.jsonl
"""

import argparse
import json
import os
import random

from faker import Faker

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "pl_PL"]


class message:
    def __init__(self):
        self.text, self.spans = "", []

    def put(self, s, kind=None):
        if kind:
            self.spans.append({"start": len(self.text), "end": len(self.text) + len(s), "type": kind})
        self.text += s
        return self


def one_line(s):
    return " ".join(s.split())


def street_address(f):
    return one_line(f.street_address())


def full_address(f, loc):
    street = street_address(f)
    if loc == "en_US":
        return f"{street}, {f.city()}, {f.state_abbr()} {f.zipcode()}"
    if loc == "en_GB":
        return f"{street}, {f.city()} {f.postcode()}"
    return f"{street}, {f.postcode()} {f.city()}"


def person(f):
    return f"{f.first_name()} {f.last_name()}"


def no_pii(r):
    return r.choice([
        f"I updated to version {r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)} yesterday.",
        f"It costs ${r.randint(1, 999)}.{r.randint(10, 99)} for {r.randint(2, 9)} items.",
        f"Order #{r.randint(100000, 999999)} ships in {r.randint(2, 14)} days.",
        f"The meeting is at {r.randint(1, 12)}:{r.randint(10, 59)} in room {r.randint(100, 999)}.",
        f"We shipped {r.randint(2, 40)} Apple Watch bands in Spring {r.randint(1990, 2024)}.",
        "Thanks a lot, that was really helpful for my project.",
        f"Chapter {r.randint(2, 30)} covers pages {r.randint(10, 99)}-{r.randint(100, 200)}.",
        f"The score was {r.randint(0, 5)}-{r.randint(0, 5)} after {r.randint(60, 120)} minutes.",
        "Will you send the report? May I ask a question? Mark the box, please.",
    ])


def make(f, loc, r):
    m = message()
    k = r.randrange(11)
    if k == 0:
        m.put("Hi, I'm ").put(person(f), "PERSON").put(" and my email is ").put(f.email(), "EMAIL").put(".")
    elif k == 1:
        m.put("Please call ").put(person(f), "PERSON").put(" at ").put(f.phone_number(), "PHONE").put(" tomorrow.")
    elif k == 2:
        m.put("Ship it to ").put(full_address(f, loc), "ADDRESS").put(", thanks!")
    elif k == 3:
        m.put("My address is ").put(street_address(f), "ADDRESS").put(" and I live in ").put(f.city(), "LOCATION").put(".")
    elif k == 4:
        m.put("Card ").put(f.credit_card_number(), "CREDIT_CARD").put(" and IBAN ").put(f.iban(), "IBAN").put(" are mine.")
    elif k == 5:
        ssn = Faker("en_US")
        ssn.seed_instance(r.randrange(1 << 30))
        m.put("My SSN is ").put(ssn.ssn(), "US_SSN").put(", born ").put(f.date(), "DATE").put(".")
    elif k == 6:
        m.put("The server ").put(f.ipv4_public(), "IP").put(" serves ").put(f.url(), "URL").put(" for us.")
    elif k == 7:
        m.put("Dear ").put(person(f), "PERSON").put(", your parcel left ").put(f.city(), "LOCATION").put(" on ")
        m.put(f.date(), "DATE").put(".")
    elif k == 8:
        m.put(person(f), "PERSON").put(" wrote from ").put(f.free_email(), "EMAIL").put(" about the invoice.")
    else:
        m.put(no_pii(r))
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    r = random.Random(a.seed)
    fakers = {}
    for loc in LOCALES:
        fakers[loc] = Faker(loc)
        fakers[loc].seed_instance(a.seed)
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        for i in range(a.n):
            loc = LOCALES[i % len(LOCALES)]
            m = make(fakers[loc], loc, r)
            out.write(json.dumps({"id": i, "locale": loc, "text": m.text, "spans": m.spans}, ensure_ascii=False) + "\n")
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
