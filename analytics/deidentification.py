"""Which headers and values are direct identifiers (HIPAA Safe Harbor).

One job: decide whether a column header, an age, a ``patient_id`` value or a
FHIR Patient field identifies a person.  The validator, the column mapping and
the FHIR reader all ask this module, so one rule holds whatever the route in.

Headers are compared after normalisation (:func:`header_words`): CamelCase is
split, case, punctuation and spacing are ignored, spelled-out letters are
joined (``D.O.B.`` -> ``dob``) and ``#``, ``No``, ``Num`` read as ``number``.
So ``D.O.B.``, ``Date of Birth``, ``DateOfBirth`` and ``date_of_birth`` are one
key.  Free-text columns (notes, comments, remarks) are refused like
identifiers: they routinely carry names and telephone numbers.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from .definitions import AGE_TOP_CODE, OLDEST_EXACT_AGE

__all__ = [
    "DEIDENTIFIED_ONLY",
    "header_words",
    "header_key",
    "identifier_column_reason",
    "is_age_column",
    "identifying_ages",
    "patient_id_reasons",
    "patient_resource_identifiers",
]

#: The sentence every identifier refusal carries.
DEIDENTIFIED_ONLY = "this tool only accepts de-identified data"

# Words that mean "number" in a header: "MRN #", "Acct No", "MedRecNo", "Chart Num".
_NUMBER_WORDS = {"no", "num", "nbr", "nr", "number", "numbers"}
# Abbreviations read as the words they stand for, so "D.O.B." and "Date of Birth" are one key.
_ABBREVIATIONS = {
    "dob": ("date", "of", "birth"), "yob": ("year", "of", "birth"), "mrn": ("medical", "record", "number"),
    "ssn": ("social", "security", "number"), "pt": ("patient",), "acct": ("account",), "tel": ("telephone",),
}
# A header word "name" is a person's name unless an earlier word names what it belongs to
# and that is not a person: "clinician_name", "site_name", "redcap_event_name" are fine.
_NAMED_THINGS = {
    "site", "clinic", "clinician", "provider", "prescriber", "physician", "doctor", "nurse", "staff",
    "therapist", "psychiatrist", "practitioner", "protocol", "drug", "medication", "med", "instrument",
    "questionnaire", "form", "survey", "program", "programme", "study", "project", "location", "facility",
    "practice", "organisation", "organization", "org", "department", "dept", "unit", "ward", "file", "sheet",
    "item", "event", "arm", "treatment", "diagnosis", "payer", "insurer", "device", "product", "brand",
    "field", "variable", "column", "dataset", "source", "system", "test", "scale", "measure",
}
_PERSON_WORDS = {
    "patient", "pt", "client", "person", "member", "subject", "participant", "guardian", "parent",
    "mother", "father", "spouse", "partner", "contact", "kin", "emergency", "user", "resident", "caregiver",
    "legal", "preferred", "first", "last", "middle", "given", "family", "maiden", "full", "nick",
}
_NAME_WORDS = {"name", "names"}

# (pattern over the normalised words joined by "_", what it looks like).  A pattern must
# match whole words: it is wrapped in (^|_)...($|_).
_IDENTIFIER_COLUMNS = [
    (r"(sur|fore|first|last|full|given|family|middle|maiden|nick|f|l|m|pt|patient|client|user)names?"
     r"|initials|(patient|pt|client)_initial|signature", "a person's name"),
    (r"dob|yob|bday|born|[a-z]*birth[a-z]*", "a date of birth"),
    (r"ssn|ss_number|social_security|socsec|social_insurance|ssn_last_4|nhs_(number|id)|national_(id|number)"
     r"|national_insurance|ni_number|passport|tax_id|tin|itin",
     "a social security or national number"),
    (r"mrn|mrns|medrec|med_rec|medical_records?|chart|hospital_(number|id)|hosp_(number|id)|unit_number"
     r"|encounter_(id|number|key)|enc_(id|number)|csn|fin|fin_number|case_number",
     "a medical record or encounter number"),
    (r"phones?|telephones?|tel|mobile|mob|cell|cellphone|fax|pager|telecom|contact_number",
     "a telephone or fax number"),
    (r"e_?mails?|mail", "an e-mail address"),
    (r"url|urls|website|web_address|ip|ip_address|ipaddress|mac_address", "a web address or IP address"),
    (r"address(es)?|addr|street|city|town|county|zip|zipcode|zip_code|postcode|post_code|postal(_code)?"
     r"|residence|latitude|longitude|lat|lon|lng|gps|coordinates|geolocation|census_(tract|block)",
     "an address or geographic unit smaller than a state"),
    (r"health_plan|insurance|insured|member_(id|number)|subscriber(_(id|number))?|policy(_(id|number))?"
     r"|beneficiary|medicaid_(id|number)|medicare_(id|number)|group_number|account|accounts|acct|accountnumber",
     "a health plan, insurance or account number"),
    (r"licen[cs]e|driver|drivers", "a licence number"),
    (r"vehicle|vin|plate", "a vehicle identifier"),
    (r"device_(id|serial)|serial|serial_number|imei|udi", "a device identifier or serial number"),
    (r"photos?|photograph|image|picture|face|fingerprint|biometric|voiceprint|retina|iris_scan",
     "a photograph or biometric identifier"),
    (r"notes?|comments?|remarks?|free_?text|narrative|memo|annotations?|specify|other_specify",
     "free text (notes, comments), which routinely carries names and telephone numbers"),
]
_IDENTIFIER_RES = [(re.compile(rf"(^|_)({pat})($|_)"), what) for pat, what in _IDENTIFIER_COLUMNS]
# Run-together lower-case headers ("phonenumber", "medrecno", "emailaddress"), matched on the
# words joined without separators when the word rules found nothing.
_COMPACT_COLUMNS = [
    (r"(first|last|full|given|family|middle|maiden|patient|client)name|surname", "a person's name"),
    (r"birth|^dob|dob$", "a date of birth"),
    (r"socialsecurity|^ssn|ssn$", "a social security or national number"),
    (r"medrec|medicalrecord|^mrn|mrn$|chartn(o|um)", "a medical record or encounter number"),
    (r"phone|faxn(o|um)|mobilen(o|um)|celln(o|um)", "a telephone or fax number"),
    (r"email", "an e-mail address"),
    (r"address|zipcode|postcode|postalcode", "an address or geographic unit smaller than a state"),
    (r"insurance|memberid|membern(o|um)|policyn(o|um)|subscriberid|accountn(o|um)|acctn(o|um)",
     "a health plan, insurance or account number"),
    (r"freetext|notes$|comments$|remarks$", _IDENTIFIER_COLUMNS[-1][1]),
]
_COMPACT_RES = [(re.compile(pat), what) for pat, what in _COMPACT_COLUMNS]
# Not a date of birth: sex recorded at birth is an ordinary attribute like ``sex`` (read as "sex";
# the rest of the header is still checked).
_NOT_IDENTIFIERS = re.compile(r"(^|_)((sex|gender)_(at_)?birth|birth_?(sex|gender))(?=$|_)")

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_AGE_WORD = re.compile(r"^ages?(band|bands|group|groups|range|cat|category|years|yrs|bracket)?$")


def header_words(header) -> list[str]:
    """A header as its normalised words: the key every header rule is matched on.

    >>> header_words("D.O.B.") == header_words("dob")
    True
    >>> "_".join(header_words("DateOfBirth")) == "_".join(header_words(" date of  BIRTH "))
    True
    >>> header_words("MRN #")
    ['medical', 'record', 'number']
    """
    text = unicodedata.normalize("NFKC", str(header)).strip()
    text = re.sub(r"['’]s\b", "", text)          # "Patient's Name" -> "Patient Name"
    text = text.replace("#", " number ")
    text = _CAMEL.sub(" ", text)                   # "MedRecNo" -> "Med Rec No", "SSN4" -> "SSN 4"
    words = [w for w in re.split(r"[^0-9a-z]+", text.lower()) if w]
    joined: list[str] = []
    letters: list[str] = []
    for w in words + [""]:                         # spelled-out letters: "d", "o", "b" -> "dob"
        if len(w) == 1 and w.isalpha():
            letters.append(w)
            continue
        if letters:
            joined.append("".join(letters))
            letters = []
        if w:
            joined.append(w)
    out: list[str] = []
    for w in joined:
        for word in _ABBREVIATIONS.get(w, ("number" if w in _NUMBER_WORDS else w,)):
            if not (word == "number" and out and out[-1] == "number"):  # "MRN #": one "number"
                out.append(word)
    return out


def header_key(header) -> str:
    """The normalised header as one key: ``D.O.B.``, ``Date of Birth``, ``DateOfBirth`` -> ``date_of_birth``.

    >>> header_key("Pt ID")
    'patient_id'
    """
    return "_".join(header_words(header))


def identifier_column_reason(header) -> str | None:
    """Why a header names a direct identifier or free text, or ``None``.

    >>> identifier_column_reason("D.O.B.")
    'a date of birth'
    >>> identifier_column_reason("clinician_name") is None
    True
    """
    key = _NOT_IDENTIFIERS.sub("_sex_", "_".join(header_words(header))).strip("_").replace("__", "_")
    words = key.split("_")
    for rx, what in _IDENTIFIER_RES:
        if rx.search(key):
            return what
    compact = "".join(words)
    for rx, what in _COMPACT_RES:
        if rx.search(compact):
            return what
    for i, w in enumerate(words):
        if w in _NAME_WORDS:
            before = set(words[:i])
            if not (before & _NAMED_THINGS) or (before & _PERSON_WORDS):
                return "a person's name"
    return None


def is_age_column(header) -> bool:
    """Whether a header holds an age or an age band (``Age (years)``, ``AgeBand``, ``age_at_start``)."""
    return any(_AGE_WORD.match(w) for w in header_words(header))


# Lower bound of what an age cell states, read per distinct value:
#   92, 92 years -> 92; 90-94, 90 to 94 -> 90; 95+, 90 and over, 90 or older -> 95, 90;
#   >89, over 89 -> 89.5 (strictly above 89); >=90 -> 90.  Anything else states no lower bound.
_AGE_NUMBER = r"(\d+(?:\.\d+)?)"
_AGE_FORMS = [
    (rf"^{_AGE_NUMBER}\s*(?:y|yr|yrs|years?)?(?:\s*old)?$", 0.0),
    (rf"^{_AGE_NUMBER}\s*(?:y|yr|yrs|years?)?\s*(?:-|–|—|to)\s*\d", 0.0),
    (rf"^{_AGE_NUMBER}\s*(?:y|yr|yrs|years?)?\s*(?:\+|plus|(?:and|or|&)\s*(?:over|older|above|up|more))", 0.0),
    (rf"^(?:>=|=>|≥|at\s+least)\s*{_AGE_NUMBER}", 0.0),
    (rf"^(?:>|over|above|older\s+than|more\s+than)\s*{_AGE_NUMBER}", 0.5),
]


def identifying_ages(col: pd.Series) -> np.ndarray:
    """Rows whose age (or age band) states an age over 89 other than the top code ``90+``.

    Numbers above 89 (89.5 included), bands starting above 89 (``90-94``,
    ``95+``, ``>89``, ``90 and over``) are identifying; ``89``, ``85-89``,
    ``85+`` and ``90+`` itself are not.  Each distinct value is read once.
    """
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        vals = col.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            return vals > OLDEST_EXACT_AGE
    if isinstance(col.dtype, pd.CategoricalDtype):  # Parquet text: the categories are the distinct values
        codes, uniques = col.cat.codes.to_numpy(), col.cat.categories
    else:
        codes, uniques = pd.factorize(col)
    text = pd.Series(np.asarray(uniques, dtype=object), dtype="str").str.strip().str.lower()
    lower = pd.Series(np.nan, index=text.index)
    for pattern, above in _AGE_FORMS:
        found = pd.to_numeric(text.str.extract(pattern, expand=False), errors="coerce") + above
        lower = lower.fillna(found)
    with np.errstate(invalid="ignore"):
        identifying = (lower.to_numpy() > OLDEST_EXACT_AGE) & (text.to_numpy() != AGE_TOP_CODE)
    return np.append(identifying, False)[codes]


# patient_id values that are contact details or official numbers, checked on distinct values.
_LETTER_WORD = r"[^\W\d_]+(?:['’.-][^\W\d_]+)*\.?"
_PATIENT_ID_VALUES = [
    (r"^\d{3}[-.\s]\d{2}[-.\s]\d{4}$", "looks like a social security number (###-##-####)"),
    (r"[^@\s]+@[^@\s]+\.[^@\s]+|^mailto:", "looks like an e-mail address"),
    (r"^[a-z][a-z0-9+.-]*://|^www\.|\.(?:com|org|net|gov|edu|io)(?:/|$)", "looks like a web address (URL)"),
    (r"^(?:\+?1[\s.-]?)?\(\d{3}\)[\s.-]?\d{3}[\s.-]?\d{4}$"      # (555) 123-4567, +1 (555) 123 4567
     r"|^(?:\+?1[\s.-]?)?\d{3}[\s.-]\d{3}[\s.-]\d{4}$"           # 555-123-4567, 555.123.4567, 555 123 4567
     r"|^(?:\+?1)?[2-9]\d{2}[2-9]\d{6}$"                         # 2125550123, +12125550123 (NANP shape)
     r"|^\+(?:[\s().-]*\d){8,15}[\s().-]*$"                      # +44 20 7946 0958 (international)
     r"|^0\d{2,4}[\s.-]\d{3,4}[\s.-]?\d{3,4}$"                   # 020 7946 0958 (trunk prefix)
     r"|^\d{3}[\s.-]\d{4}$",                                     # 555-1234 (local)
     "looks like a telephone number"),
    (rf"^\s*{_LETTER_WORD}(?:\s*,\s*|\s+){_LETTER_WORD}(?:(?:\s*,\s*|\s+)\S+)*$",
     "looks like a person's name (words of letters separated by a space or comma)"),
]
_PATIENT_ID_RES = [(re.compile(p, re.IGNORECASE), what) for p, what in _PATIENT_ID_VALUES]
# Values made only of letters, digits, "_" and "-" cannot be an e-mail address, URL, name or
# formatted number; of those only the dashed SSN and telephone shapes and plain NANP numbers
# can match.  Checked first (two scans), so a file of P0001-style pseudonyms costs little.
_PLAIN = r"[A-Za-z0-9_-]*"
_PLAIN_BUT_SUSPECT = (r"[0-9]{3}-[0-9]{2}-[0-9]{4}|(1-)?[0-9]{3}-[0-9]{3}-[0-9]{4}|[0-9]{3}-[0-9]{4}"
                      r"|1?[2-9][0-9]{2}[2-9][0-9]{6}")


def patient_id_reasons(values) -> pd.Series:
    """For each value, why it is not a pseudonym ("" when it is one), vectorised.

    Refused: e-mail addresses, URLs, SSNs (``123-45-6789``), telephone numbers
    written with separators or parentheses, ``+`` international numbers, and
    plain 10-digit numbers of North American shape (area code and exchange not
    starting with 0 or 1, optionally after ``1`` or ``+1``); and person-like
    names (two words of letters separated by a space or comma).  Other plain
    numbers (``1042``, ``000000042``, ``5551234567``) and codes such as
    ``P0001``, ``KX-1042`` or ``a81f3c`` are pseudonyms.
    """
    values = values if isinstance(values, (pd.Index, pd.Series)) else pd.Index(np.asarray(values, dtype=object))
    text = pd.Series(values.astype("str"), copy=False).reset_index(drop=True).str.strip()
    reasons = pd.Series("", index=text.index, dtype="str")
    plain = text.str.fullmatch(_PLAIN).to_numpy(dtype=bool, na_value=False)
    suspect = ~plain | text.str.fullmatch(_PLAIN_BUT_SUSPECT).to_numpy(dtype=bool, na_value=False)
    if not suspect.any():
        return reasons
    sub = text[suspect]
    found = pd.Series("", index=sub.index, dtype="str")
    for rx, what in _PATIENT_ID_RES:
        hit = sub.str.contains(rx, regex=True).to_numpy(dtype=bool, na_value=False) & (found == "").to_numpy()
        found[hit] = what
    reasons[suspect] = found.to_numpy()
    return reasons


#: FHIR Patient elements that identify the person even though their names are not column-like.
_FHIR_PATIENT_IDENTIFIERS = ("identifier", "contact")


def patient_resource_identifiers(resource: dict) -> list[str]:
    """The elements of a FHIR Patient resource that carry direct identifiers, in resource order.

    ``name``, ``birthDate``, ``telecom``, ``address``, ``photo`` (by the header
    rules), ``identifier`` (MRNs, SSNs) and ``contact`` (relatives' names and
    telephones); empty elements are ignored.
    """
    if not isinstance(resource, dict):
        return []
    return [key for key, value in resource.items()
            if value not in (None, "", [], {}) and isinstance(key, str) and key not in ("resourceType", "id")
            and not key.startswith("multipleBirth")  # twin or not: not a date of birth
            and (key in _FHIR_PATIENT_IDENTIFIERS or identifier_column_reason(key))]
