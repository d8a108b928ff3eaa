"""Hide citizens' contact details and names where the viewer does not need them.

`mask_text` is for free text shown to a role that may not see contacts (agency officers, and any page
that must show a citizen's words without their contacts). Public surfaces (the kiosk wall, /public,
anonymous Open311) never receive free text at all: their queries do not select it.

How phone numbers are found: the text is copied character for character (so positions map back) with
full-width and other Unicode digits made ASCII, look-alike letters inside number runs made digits
(O o -> 0, l I | -> 1), Cyrillic and Greek look-alike letters made Latin, and separators
(/ _ . - ~ * : ; ' = # and the like) made spaces.
`phonenumbers.PhoneNumberMatcher` finds the numbers of the ID region in that copy, and a second look
catches what it misses in each run of digit groups: numbers written without their leading 0 or +,
several numbers written one after another ("0812 3456 7890 / 0813 1111 2222"), and numbers spelled
out in words, whole or in part ("nol delapan satu dua 3456 7890"). A number found mostly within a date, a time, a
money amount or an RT/RW number (fewer than six digits outside them) is not a phone.

E-mail addresses are found in their obfuscated forms too ("budi [at] example [dot] com",
"budi(at)example.com", "budi @ example . com", "titik" for dot, "budi%40example.com", "budi&#64;example.com");
social-media handles (@budi_santoso88) are hidden as well; 16-digit NIK numbers are hidden, and
so are the reporter's own name and names that follow an honorific ("Ibu Sari", "Pak Budi").
"""
from __future__ import annotations

import re
import unicodedata

import phonenumbers

PHONE, EMAIL, NAME, NIK, HANDLE = "[telepon]", "[email]", "[nama]", "[NIK]", "[akun]"
CONTACT_ROLES = frozenset({"admin", "operator", "supervisor"})
REGION = "ID"

LOOKALIKES = {"O": "0", "o": "0", "l": "1", "I": "1"}
# Cyrillic and Greek letters that look like Latin ones (Unicode TR39 confusables, the common ones), folded
# before matching so "budi@gmаil.com" (Cyrillic а) or "08l2 З456 789О" is found
CONFUSABLES = dict(zip(
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u0501\u0410\u0412\u0415\u0417\u041a\u041c"
    "\u041d\u041e\u0420\u0421\u0422\u0425\u0406\u0408\u0405\u03bf\u03b1\u03b9\u03ba\u03bd\u03c1\u03c5\u039f"
    "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u03a1\u03a4\u03a5\u03a7",
    "aeopcyxijsdABE3KMHOPCTXIJSoaikvpuOABEZHIKMNPTYX"))

# every mark a number's groups were seen split by (two reviews: also | ! & $ % ^ < > ? " ` { } … ´ ’ “ ・ ⁃, new lines)
SEPARATORS = frozenset(" \t\u00a0\u2007\u202f/_.-\u2010\u2011\u2012\u2013\u2014\u2212~*:;'=#\u00b7\u2022\\"
                       "\n\r\f\v|!&$%^<>?\"`{}\u2026\u00b4\u2018\u2019\u201c\u201d\u30fb\u2043\u034f")
_SEPARATOR_CHARS = "".join(SEPARATORS)
_TOKEN = re.compile("[^" + re.escape(_SEPARATOR_CHARS + "()+") + "]+")  # a group between separators
SET_ASIDE = "\ue000"  # a protected character in the working copy: never a digit, never a separator

_NOT_IN_CHAIN_BEFORE = r"(?<!\d[./\-:])(?<![\d])"
_NOT_IN_CHAIN_AFTER = r"(?![./\-:]?\d)"
PROTECTED = [re.compile(p, re.IGNORECASE) for p in (
    # dates: 23/11/2026, 23-11-26, 2026-11-23 (not when part of a longer chain of digit groups)
    _NOT_IN_CHAIN_BEFORE + r"(?:0?[1-9]|[12]\d|3[01])([./\-])(?:0?[1-9]|1[0-2])\1(?:(?:19|20)\d{2}|\d{2})"
    + _NOT_IN_CHAIN_AFTER,
    _NOT_IN_CHAIN_BEFORE + r"(?:19|20)\d{2}([./\-])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])" + _NOT_IN_CHAIN_AFTER,
    # times: 14.00, 08:30 (a range 08.00-10.00 is two times)
    r"(?<![\d.:])(?:[01]?\d|2[0-3])[.:][0-5]\d(?![.:]?\d)",
    # money: Rp 1.500.000, Rp1.500.000,00, IDR 250000, 1,5 juta, 250 ribu, 300rb
    r"\b(?:rp\.?|idr)\s?\d[\d.,]*(?:,-)?",
    r"(?<![\d.,])\d[\d.,]*\s?(?:ribu|rb|juta|jt|miliar|triliun|rupiah)\b",
    # RT/RW: RT 03/RW 05, RT.003 RW.005, RT/RW 003/005
    r"\bRT\s*/\s*RW\.?\s*\d{1,3}\s*/\s*\d{1,3}\b",
    r"\bR[TW]\.?\s*\d{1,3}(?:\s*/?\s*R[TW]\.?\s*\d{1,3})?\b",
)]
# thousands grouping standing alone (1.500.000, 25.000): an amount, unless the digits look like a phone
# (62.., 8..); chained to more digit groups (081 10 100.000) it is part of a number
THOUSANDS = re.compile(r"(?<![\d.])[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?(?![.\d])")

_AT = r"(?:\s*(?:@|%40|&#0*64;|&#x0*40;|[\[\(\{<]\s*(?:at|et|@)\s*[\]\)\}>])\s*|\s+(?:at|et)\s+)"
_DOT = (r"(?:\s*(?:\.|[\[\(\{<]\s*(?:dot|titik|\.)\s*[\]\)\}>])\s*|\s+(?:dot|titik)\s+"
        r"|,(?=(?:com|net|org|id|co)\b))")  # "budi@gmail,com": a comma typed for the dot before a domain
EMAIL_ADDRESS = re.compile(rf"(?<![\w.+\-])[\w.+\-]{{1,64}}{_AT}[\w\-]+(?:{_DOT}[\w\-]+)*{_DOT}[a-z]{{2,24}}(?![\w])",
                           re.IGNORECASE)

HONORIFICS = (r"bapak|bpk|pak|ibu|bu|sdr|sdri|saudara|saudari|mas|mbak|mba|kak|bang|adik|dik|tuan|nyonya|ny|"
              r"nona|hj|hjh|haji|hajjah|dr|drg|om|tante|ustadz|ustaz|ustazah|ust|engkong|encang|encing|"
              r"a\.\s?n|atas\s+nama|nama\s+saya|namanya|korban")
TITLES = frozenset({"rt", "rw", "lurah", "camat", "wali", "walikota", "wakil", "kades", "kepala", "polisi",
                    "dokter", "guru", "ustadz", "haji", "satpam", "petugas", "dinas", "ketua", "sekretaris",
                    # capitalised words after "pak"/"bu" that are no name
                    "rp", "idr", "jl", "jln", "jalan", "gg", "gang", "no", "nomor", "kel", "kec", "kelurahan",
                    "kecamatan", "kota", "kab", "pdam", "pln", "tpu", "tps", "pju", "wa", "sms", "email", "telp"})
_NAME_WORD = r"[A-Z][^\W\d_]+(?:['\-][^\W\d_]+)*(?![\w])"
HONORIFIC_NAME = re.compile(rf"(?<!\w)(?:(?i:{HONORIFICS})\.?\s+)+({_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})")
# a social-media handle (@budi_kenanga88): often the citizen's name, always a way to reach them
SOCIAL_HANDLE = re.compile(r"(?<![\w.+\-@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?(?![\w@])")
# NIK (the 16-digit national identity number), written whole or in groups
NIK_RUN = re.compile(r"(?<!\d)(?<!\d )(?:\d{16}|\d{4} \d{4} \d{4} \d{4}|\d{6} \d{6} \d{4})(?![\d])(?! \d)")
# digits spelled out (Indonesian and English), read as digits inside a run of digit groups
DIGIT_WORDS = {w: str(d) for d, words in enumerate((
    ("nol", "kosong", "zero", "oh"), ("satu", "one", "se"), ("dua", "two"), ("tiga", "three"), ("empat", "four"),
    ("lima", "five"), ("enam", "six"), ("tujuh", "seven"), ("delapan", "eight"), ("sembilan", "nine"))) for w in words}
_WORD = "|".join(sorted(DIGIT_WORDS, key=len, reverse=True))
DIGIT_TOKEN = re.compile(rf"\d+|(?<![^\W\d_])(?i:{_WORD})(?![^\W\d_])")
# a run of digit groups and digit words, separated by spaces (the working copy made separators spaces)
DIGIT_RUN = re.compile(rf"(?:{DIGIT_TOKEN.pattern})(?:[ ,()+]*(?:{DIGIT_TOKEN.pattern}))*")


def mask_text(text: str | None, names: tuple[str, ...] = ()) -> str:
    """The text with every phone number, e-mail address, NIK, the given names and honorific names replaced."""
    text = text or ""
    if not text:
        return ""
    folded = _fold(text)
    spans: list[tuple[int, int, str]] = []
    spans += [(m.start(), m.end(), EMAIL) for m in EMAIL_ADDRESS.finditer(folded)]
    spans += [(m.start(), m.end(), HANDLE) for m in SOCIAL_HANDLE.finditer(folded)
              if not any(s <= m.start() < e for s, e, _ in spans)]
    working = _working_copy(folded, spans)
    loose = _working_copy(folded, spans, lone_lookalikes=True)  # "0812 3456 789 O": the lone O is a digit too
    guarded = _guarded(folded)

    def beyond_guarded(start: int, end: int) -> bool:
        """A number that is mostly a date, time, amount or RT/RW ("Rp 1.365.200.000 3 hari") is not a
        phone; one with six digits or more outside them ("081 10.00 0000") is."""
        spelled = sum(1 for m in DIGIT_TOKEN.finditer(working, start, end) if not m.group().isdigit())
        return sum(working[i].isdigit() and not guarded[i] for i in range(start, end)) + spelled >= 6

    spans += [(m.start(), m.end(), NIK) for m in NIK_RUN.finditer(working) if beyond_guarded(m.start(), m.end())]
    spans += [(start, end, PHONE) for start, end in _phones(working, guarded) + _phones(loose, guarded)
              if beyond_guarded(start, end)]
    spans += _names(folded, names)
    return _replace(text, spans)


def _fold(text: str) -> str:
    """Full-width and compatibility forms, and Cyrillic/Greek look-alikes, as plain characters, one for
    one (positions are kept)."""
    out = []
    for ch in text:
        nf = unicodedata.normalize("NFKC", ch)
        ch = nf if len(nf) == 1 else ch
        ch = CONFUSABLES.get(ch, ch)
        if ch.isdigit() and not ch.isascii():
            try:
                ch = str(unicodedata.digit(ch))
            except (TypeError, ValueError):
                pass
        out.append(ch)
    return "".join(out)


def _guarded(folded: str) -> list[bool]:
    """Which characters belong to a date, a time, a money amount or an RT/RW number. A number found only
    within those (and the spaces between them) is not a phone; one that reaches beyond them is."""
    guarded = [False] * len(folded)
    for pattern in PROTECTED:
        for m in pattern.finditer(folded):
            guarded[m.start():m.end()] = [True] * (m.end() - m.start())
    for m in THOUSANDS.finditer(folded):
        digits = re.sub(r"\D", "", m.group())
        before = folded[:m.start()].rstrip(_SEPARATOR_CHARS + "()+")
        after = folded[m.end():].lstrip(_SEPARATOR_CHARS + "()")
        # chained to digits, look-alikes between included ("622l10.000.000", "+6221 O100.000")
        looks = "".join(LOOKALIKES)
        before = before.rstrip(looks).rstrip(_SEPARATOR_CHARS + "()+") if before[-1:] in LOOKALIKES else before
        after = after.lstrip(looks).lstrip(_SEPARATOR_CHARS + "()") if after[:1] in LOOKALIKES else after
        chained = before[-1:].isdigit() or after[:1].isdigit()
        if not chained and (not digits.startswith(("62", "8")) or len(digits) < 9):
            guarded[m.start():m.end()] = [True] * (m.end() - m.start())
    return guarded


def _working_copy(folded: str, taken: list[tuple[int, int, str]], *, lone_lookalikes: bool = False) -> str:
    """`folded` with what is already found set aside, look-alikes inside number runs made digits and
    separators made spaces (same length: a match's position is the original's)."""
    chars = list(folded)
    for start, end, _ in taken:
        chars[start:end] = SET_ASIDE * (end - start)
    # in a run of digits, look-alikes and separators with at least 6 real digits, a look-alike is a digit when
    # its token (between separators) is digits and look-alikes only, with a real digit: O8l2, 789O (not "lampu");
    # `lone_lookalikes`: a token of look-alikes only ("O") as well
    run_chars = "".join(c if (c.isdigit() or c in LOOKALIKES or c in SEPARATORS or c in "+()") else "\0"
                        for c in chars)
    for run in re.finditer(r"[^\0]+", run_chars):
        if sum(c.isdigit() for c in run.group()) < 6:
            continue
        for token in re.finditer(_TOKEN, run.group()):
            start, end = run.start() + token.start(), run.start() + token.end()
            bounded = (start == 0 or not chars[start - 1].isalpha()) and (end == len(chars) or not chars[end].isalpha())
            if bounded and (lone_lookalikes or any(c.isdigit() for c in token.group())):
                for i in range(start, end):
                    chars[i] = LOOKALIKES.get(chars[i], chars[i])
    return "".join(" " if c in SEPARATORS else c for c in chars)


def _phones(working: str, guarded: list[bool]) -> list[tuple[int, int]]:
    found = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(
        working, REGION, leniency=phonenumbers.Leniency.VALID, max_tries=200)]
    # what the matcher misses: numbers without their 0 or + (812 3456 7890, 62 812 3456 7890), numbers
    # run together ("0812 3456 7890 / 0813 1111 2222" is one run of digit groups once "/" is a space),
    # and numbers spelled out in words ("nol delapan satu dua ...", mixed with digits)
    for run in DIGIT_RUN.finditer(working):
        tokens = []
        for m in DIGIT_TOKEN.finditer(run.group()):
            at, digits = run.start() + m.start(), _digits_of(m.group())
            if len(digits) > 15:  # numbers written without any gap: "081234567890081311112222"
                tokens += [(at + k, at + k + 1, digit, 0) for k, digit in enumerate(digits)]
            else:
                tokens.append((at, at + len(m.group()), digits, 0 if m.group().isdigit() else 1))
        for start, end in _numbers_in(tokens, guarded):
            start -= working[max(0, start - 2):start].endswith(("+", "+ ")) and (2 if working[start - 1] == " " else 1)
            if not any(s <= start < e or s < end <= e or (start <= s and e <= end) for s, e in found):
                found.append((start, end))
    return found


def _digits_of(token: str) -> str:
    return token if token.isdigit() else DIGIT_WORDS[token.lower()]


def _numbers_in(tokens: list[tuple[int, int, str, int]], guarded: list[bool]) -> list[tuple[int, int]]:
    """Phone numbers among consecutive digit groups: from each group on, the longest run of groups whose
    digits make a valid number of the region (with its 0 or +62 put back when it was left off). A number
    never starts inside a date, time, amount or RT/RW number, nor ends halfway into one."""
    found, i = [], 0
    while i < len(tokens):
        digits, best = "", None
        if guarded[tokens[i][0]]:
            i += 1
            continue
        words, touched = 0, False
        for j in range(i, len(tokens)):
            digits += tokens[j][2]
            words += tokens[j][3]
            if len(digits) > 15:
                break
            # digit words count when they are none, or at least half, of the number's groups
            # ("nol delapan satu dua 3456 7890"; not "delapan 15112 15112")
            end = tokens[j][1]
            touched = touched or guarded[tokens[j][0]]
            cuts = guarded[end - 1] and end < len(guarded) and guarded[end]  # ends halfway into a date
            # a number written without its 0 or + is weaker evidence: never with a date's or time's digits
            bare = digits[0] != "0"
            if (9 <= len(digits) and not cuts and not (bare and touched)
                    and (words == 0 or 2 * words >= j - i + 1) and _phone_digits(digits)):
                best = j
        if best is None:
            i += 1
            continue
        found.append((tokens[i][0], tokens[best][1]))
        i = best + 1
    return found


def _phone_digits(digits: str) -> bool:
    if digits[0] == "8":
        return _valid("0" + digits)
    if digits.startswith("62"):
        return _valid("+" + digits)
    return digits[0] == "0" and _valid(digits)


def _valid(number: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, REGION))
    except phonenumbers.NumberParseException:
        return False


def _names(folded: str, names: tuple[str, ...]) -> list[tuple[int, int, str]]:
    spans = []
    for m in HONORIFIC_NAME.finditer(folded):  # "Pak Lurah Budi": the title stays, the name goes
        for word in re.finditer(r"\S+", m.group(1)):
            if word.group().lower().rstrip(".") not in TITLES:
                spans.append((m.start(1) + word.start(), m.end(1), NAME))
                break
    for name in names:
        for word in re.split(r"[\s().,]+", name or ""):
            if len(word) >= 3 and word.lower() != "demo":
                spans += [(m.start(), m.end(), NAME) for m in
                          re.finditer(rf"(?<!\w){re.escape(word)}(?!\w)", folded, flags=re.IGNORECASE)]
    return spans


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Replace the spans (overlapping ones become one, labelled by the first found)."""
    out, pos = [], 0
    for start, end, label in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < pos:
            if end > pos and out:
                pos = end
            continue
        out.append(text[pos:start])
        out.append(label)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    return value[:5] + "*" * max(0, len(value) - 7) + value[-2:]


def mask_email(value: str | None) -> str:
    if not value or "@" not in value:
        return ""
    local, domain = value.split("@", 1)
    return f"{local[:1]}***@{domain}"


def contact(kind: str, value: str, role: str | None) -> str:
    """A citizen identity as the role may see it."""
    if role in CONTACT_ROLES:
        return value
    if kind == "phone":
        return mask_phone(value)
    if kind == "email":
        return mask_email(value)
    return value[:2] + "***"


def may_see_contacts(role: str | None) -> bool:
    return role in CONTACT_ROLES
