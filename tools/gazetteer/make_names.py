#!/usr/bin/env python3
"""Writes include/lethe/privacy/name_lists.hpp, the given-name and surname
gazetteers behind PERSON detection.

Sources (both permissive, both named in docs/privacy.md):
  * sigpwned/popular-names-by-country-dataset, CC0 1.0: the most common
    forenames and surnames of ~100 countries, in their own script and
    romanised. Read from a clone (--sigpwned DIR) or downloaded at the pinned
    commit below.
  * mimesis 22.2.0 (PyPI, MIT): mimesis/datasets/<locale>/person.json, given
    names and surnames for 49 locales (Latin, Cyrillic, Greek, Arabic, CJK,
    Hangul, kana).

Filters, because a given name is matched alone on a capitalised word:
  * one word (letters and combining marks, inner '-' or apostrophe), NFC, at
    least 2 letters, first letter upper case (Latin, Greek, Cyrillic,
    Armenian) or from a caseless script (Han, Hangul, kana, Arabic, Hebrew, ...);
  * given names whose lower-case form is an English dictionary word
    (Debian's wamerican: "will", "may", "mark", "roger") go to a list of their
    own (word_given_names, a name only before a listed surname), unless the
    name is in lethe's earlier hand list or among the popular names of an
    English-speaking country in the sigpwned data ("Grace", "Ivy");
  * month and weekday names, and the scanner's stopwords, are never names.
Surnames are only matched after a given name or a title ("Dr. Baker"), so
they keep dictionary words.

Usage: pip install mimesis==22.2.0; apt-get install wamerican;
       python3 tools/gazetteer/make_names.py [--sigpwned DIR] [--out FILE]
"""

import argparse
import csv
import io
import json
import os
import sys
import unicodedata
import urllib.request

SIGPWNED_COMMIT = "eb62e13d4d62dd96cdfae79d293a02066352205f"
SIGPWNED_URL = "https://raw.githubusercontent.com/sigpwned/popular-names-by-country-dataset/{}/{}"
DICTIONARY = "/usr/share/dict/american-english"
ENGLISH_COUNTRIES = {"GB", "US", "CA", "AU", "IE", "NZ"}

# lethe's hand-written lists before this script, kept whatever the filters say
# and written apart (common_given_names, common_surnames): the synthetic world
# draws its people from them, so the demo's numbers do not move with the lists.
KEEP_FIRST = """James John Robert Alice Peter Julia Anne Martha Bob Michael William David Richard Joseph Thomas
Charles Christopher Daniel Matthew Anthony Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy
Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin
Samuel Gregory Alexander Patrick Raymond Jack Dennis Jerry Tyler Aaron Mary Patricia Jennifer Linda Elizabeth
Barbara Susan Jessica Sarah Karen Nancy Lisa Betty Margaret Sandra Ashley Kimberly Emily Donna Michelle Dorothy
Carol Amanda Melissa Deborah Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Shirley Angela Helen Anna Brenda
Pamela Nicole Emma Samantha Katherine Christine Debra Rachel Catherine Carolyn Janet Maria Heather Olivia Sophia
Isabella Charlotte Amelia Mia Harper Evelyn Abigail Ella Liam Noah Oliver Elijah Lucas Mason Logan Ethan Aiden
Sebastian Mohammed Ahmed Fatima Aisha Omar Yusuf Priya Rahul Arjun Ananya Wei Mei Hiroshi Yuki Sakura Haruto Jin
Minho Seo-yeon Ji-woo Pierre Camille Louis Chloé Hans Jürgen Greta Lukas Sofia Giulia Alessandro Matteo Francesca
Carlos José Lucía Javier Ana Diego Valentina Olga Dmitri Ivan Natalia Sergei Agnieszka Piotr Katarzyna Lars Ingrid""".split()
KEEP_LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson
Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell
Mitchell Carter Roberts Patel Kumar Singh Sharma Khan Ali Chen Wang Zhang Liu Yang Tanaka Suzuki Sato Kim Park Choi
Müller Schmidt Schneider Fischer Weber Dubois Laurent Moreau Rossi Russo Bianchi Fernández González Silva Santos
Ivanov Petrov Kowalski Nowak Andersson Johansson Hansen Jensen Murphy O'Brien Kelly Sullivan Murray Quinn
Fitzgerald Gallagher Novak Horvat Papadopoulos""".split()
MUST = ("Jane", "Doe", "François", "Zoë", "Müller", "Dupont", "Smith")

# The scanner's stopwords (scanner_impl.hpp is_stopword), calendar words and
# street abbreviations;
# tests/privacy/test_gazetteer.cpp checks that none is a given name.
NEVER = set("""The A An This That These Those My Our Your His Her Their Its It I We You They He She There Here What
When Where Why How Who Which If But And Or So Yes No Not Please Thanks Thank Hello Hi Dear Sure Of In On At To For
With From By As Is Are Was Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April
May June July August September October November December Mr Mrs Ms Dr Prof Street Avenue Road Inc Ltd Company
University OK Ok Okay Also Then Now Let Can Could Would Should Do Does Summer Autumn Winter Spring Will Must Might
Shall St Ave Rd Blvd Ln Dr""".split())

CASELESS_SCRIPTS = ("CJK", "HANGUL", "HIRAGANA", "KATAKANA", "ARABIC", "HEBREW", "DEVANAGARI", "BENGALI", "THAI",
                    "GEORGIAN", "TAMIL", "TELUGU", "GUJARATI", "GURMUKHI", "KANNADA", "MALAYALAM", "ETHIOPIC")
CASED_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC", "ARMENIAN")


def clean(name):
    """The name in NFC if it passes the shape filters, else None."""
    n = unicodedata.normalize("NFC", name.strip()).replace("\u2019", "'")
    if not n or any(c.isspace() for c in n) or len(n.encode()) > 64:
        return None
    letters = [c for c in n if c not in "-'"]
    if len(letters) < 2 or not all(unicodedata.category(c)[0] in "LM" for c in letters):
        return None
    if n[-1] in "-'" or "--" in n or "''" in n:
        return None
    script = unicodedata.name(n[0], "").split(" ")[0]
    cat = unicodedata.category(n[0])
    if script in CASED_SCRIPTS:
        # Capitalised: the first letter upper case, the next one lower case
        # ("IJllebarg" and "DeShawn" are fine, "ALI" is an acronym).
        if cat != "Lu" or (len(n) > 1 and unicodedata.category(n[1]) == "Lu" and n[:2] != "IJ"):
            return None
    elif script not in CASELESS_SCRIPTS or cat != "Lo":
        return None
    return n


def read_sigpwned(folder, file):
    if folder:
        with open(os.path.join(folder, file), encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))
    with urllib.request.urlopen(SIGPWNED_URL.format(SIGPWNED_COMMIT, file), timeout=60) as r:
        return list(csv.DictReader(io.StringIO(r.read().decode("utf-8-sig"))))


def flatten(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from flatten(v)
    elif isinstance(x, list):
        for v in x:
            yield from flatten(v)
    elif isinstance(x, str):
        yield x


def read_mimesis():
    import mimesis  # noqa: F401 (pip install mimesis==22.2.0)
    root = os.path.join(os.path.dirname(mimesis.__file__), "datasets")
    first, last = [], []
    for locale in sorted(os.listdir(root)):
        path = os.path.join(root, locale, "person.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            first += list(flatten(d.get("names", {})))
            last += list(flatten(d.get("surnames", {})))
    return mimesis.__version__, first, last


def emit_list(out, cname, names):
    """A constexpr array of string chunks, one name per line, each chunk under
    4 KB (-Woverlength-strings) and each source line under 120 columns."""
    out.write(f"inline constexpr std::string_view {cname}[] = {{\n")
    chunk, size = [], 0
    for n in names:
        if size + len(n.encode()) + 1 > 3000:
            write_chunk(out, chunk)
            chunk, size = [], 0
        chunk.append(n)
        size += len(n.encode()) + 1
    if chunk:
        write_chunk(out, chunk)
    out.write("};\n")


def emit_words(out, cname, names):
    out.write(f"inline constexpr std::string_view {cname}[] = {{\n")
    line = "   "
    for n in names:
        piece = f' "{n}",'
        if len(line) + len(piece) > 118:
            out.write(line + "\n")
            line = "   "
        line += piece
    out.write(line + "\n};\n")


def write_chunk(out, names):
    line = '    "'
    for n in names:
        piece = n.replace("\\", "\\\\").replace('"', '\\"') + "\\n"
        if len(line) + len(piece) > 110:
            out.write(line + '"\n')
            line = '    "'
        line += piece
    out.write(line + '"sv,\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sigpwned", help="folder with common-forenames-by-country.csv and common-surnames-by-country.csv")
    ap.add_argument("--dictionary", default=DICTIONARY)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../include/lethe/privacy/name_lists.hpp"))
    a = ap.parse_args()

    with open(a.dictionary, encoding="utf-8") as f:
        words = {w.strip() for w in f if w[:1].islower()}
    fore = read_sigpwned(a.sigpwned, "common-forenames-by-country.csv")
    sur = read_sigpwned(a.sigpwned, "common-surnames-by-country.csv")
    mimesis_version, m_first, m_last = read_mimesis()

    popular_english = {clean(r["Localized Name"]) for r in fore if r["Country"] in ENGLISH_COUNTRIES}
    keep = set(KEEP_FIRST) | set(MUST) | popular_english
    dropped, dropped_seen = [], set()

    def add(dst, seen, name, given):
        n = clean(name)
        if n is None or n in seen or n in NEVER:
            return
        if given and n not in keep and n.lower() in words:
            if n not in dropped_seen:
                dropped_seen.add(n)
                dropped.append(n)
            return
        seen.add(n)
        dst.append(n)

    def collect(keep_list, rows, extra, given):
        out, seen = [], set(keep_list)
        for n in MUST:
            add(out, seen, n, given)
        for r in rows:
            add(out, seen, r["Localized Name"], given)
            add(out, seen, r["Romanized Name"], given)
        for n in extra:
            add(out, seen, n, given)
        return out, seen

    first, first_seen = collect(KEEP_FIRST, fore, m_first, True)
    last, last_seen = collect(KEEP_LAST, sur, m_last, False)
    for must in MUST:
        assert must in first_seen and must in last_seen, must

    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write("// lethe/privacy/name_lists.hpp - GENERATED by tools/gazetteer/make_names.py; do not edit.\n")
        out.write("// Given names and surnames for the PERSON gazetteers, one per line, in UTF-8 (NFC).\n")
        out.write(f"// Sources: sigpwned/popular-names-by-country-dataset @ {SIGPWNED_COMMIT[:12]} (CC0 1.0);\n")
        out.write(f"// mimesis {mimesis_version} datasets/*/person.json (MIT, (c) Isaak Uchakaev and contributors).\n")
        out.write(f"// {len(KEEP_FIRST) + len(first)} given names, {len(KEEP_LAST) + len(last)} surnames; "
                  f"{len(dropped)} given names that are English words apart.\n")
        out.write("#pragma once\n\n#include <string_view>\n\nnamespace lethe::privacy::name_lists {\n\n"
                  "using namespace std::string_view_literals;  // \"...\"sv: sizes without a constexpr strlen\n\n")
        out.write("// lethe's first hand lists: common names of English-language text (the synthetic world's people).\n")
        emit_words(out, "common_given_names", KEEP_FIRST)
        emit_words(out, "common_surnames", KEEP_LAST)
        out.write("\n// The rest, one per line in each chunk.\n")
        emit_list(out, "given_names", first)
        out.write("\n")
        emit_list(out, "surnames", last)
        out.write("\n// Given names that are English words (\"Mark\", \"Roger\", \"Crystal\"): a name only\n"
                  "// before a listed surname (\"Mark Goodman\").\n")
        emit_list(out, "word_given_names", dropped)
        out.write("\n}  // namespace lethe::privacy::name_lists\n")
    os.replace(tmp, a.out)
    print(f"{a.out}: {len(KEEP_FIRST) + len(first)} given names, {len(KEEP_LAST) + len(last)} surnames, {len(dropped)} dropped "
          f"(e.g. {', '.join(sorted(dropped)[:12])})", file=sys.stderr)


if __name__ == "__main__":
    main()
