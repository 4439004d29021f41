"""What an email address and a new password must look like, for every way of signing up and signing in.

One address, one account: addresses are compared in one canonical form, so that text which looks the same (or is
typed differently: fullwidth letters, a decomposed accent, another case) cannot become a second account. The rule
(docs/api.md, "Email addresses"):

1. Unicode NFKC, case folding, NFKC again (`fold_email`): a fullwidth letter is its ASCII letter, a decomposed
   accent is the composed one, the Kelvin sign (U+212A) is `k`, `ß` is `ss`.
2. Refused when registering an address (sign-up, invitation): invisible or non-printing characters (Unicode
   categories C and Z: zero-width characters, the soft hyphen, direction overrides, byte-order marks, control,
   private-use and unassigned code points, any space), and a local part or domain label whose letters mix scripts
   (Latin with Cyrillic, say), except the combinations Unicode TR 39 finds usual (Latin with Han and kana, Han with
   Bopomofo, Han with Hangul). Script data comes from the `confusable_homoglyphs` package.
3. Looking an account up (log-in, password reset, single sign-on) accepts what was once registered: the folded form,
   and the lower-case form addresses were stored in before this rule, so older accounts keep working.
"""

import re
import unicodedata

from confusable_homoglyphs import categories

from prism.errors import Code, ValidationError
from prism.services.validation import clean_text

__all__ = ["PASSWORD_MAX", "PASSWORD_MIN", "check_password", "fold_email", "lookup_forms", "normalise_email"]

PASSWORD_MIN = 10
PASSWORD_MAX = 256
EMAIL_MAX = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NEUTRAL_SCRIPTS = frozenset({"COMMON", "INHERITED"})
# Unicode TR 39, "highly restrictive": the only mixtures of scripts allowed within one identifier.
_USUAL_MIXTURES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def fold_email(email: str) -> str:
    """The canonical form addresses are stored and compared in: NFKC, case-folded, NFKC (idempotent)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email.strip()).casefold())


def _invalid(reason: str) -> ValidationError:
    return ValidationError(f"email is not a valid address: {reason}", field="email")


def _scripts(text: str) -> set[str]:
    return {str(categories.alias(c)) for c in text if unicodedata.category(c).startswith("L")} - _NEUTRAL_SCRIPTS


def _refuse_look_alikes(address: str) -> None:
    for character in address:
        if unicodedata.category(character)[0] in "CZ":
            raise _invalid(f"it contains an invisible or non-printing character (U+{ord(character):04X}).")
    local, _, domain = address.rpartition("@")
    for part in (local, *domain.split(".")):
        scripts = _scripts(part)
        if len(scripts) > 1 and not any(scripts <= usual for usual in _USUAL_MIXTURES):
            raise _invalid(f"{part!r} mixes letters of different scripts ({', '.join(sorted(scripts))}).")


def normalise_email(email: str) -> str:
    """A new address in its canonical form; look-alikes (invisible characters, mixed scripts) are refused."""
    cleaned = fold_email(clean_text(email, "email", max_length=EMAIL_MAX))
    if len(cleaned) > EMAIL_MAX:
        raise ValidationError(
            f"email is {len(cleaned)} characters long; the limit is {EMAIL_MAX}.", field="email", code=Code.TOO_LONG
        )
    if not _EMAIL.match(cleaned):
        raise ValidationError("email is not a valid address.", field="email")
    _refuse_look_alikes(cleaned)
    return cleaned


def lookup_forms(email: str) -> list[str]:
    """The forms an existing account's address may be stored in, the canonical one first; [] for no address.

    Addresses were stored in lower case (`str.lower`) before the canonical form; the two differ only for some
    non-ASCII addresses, and then both are looked up, whichever exists, so the work depends on the text alone.
    """
    try:
        cleaned = clean_text(email, "email", max_length=EMAIL_MAX)
    except ValidationError:
        return []
    forms = [fold_email(cleaned)]
    if cleaned.lower() not in forms:
        forms.append(cleaned.lower())
    return [form for form in forms if _EMAIL.match(form)]


def check_password(password: str, field: str = "password") -> None:
    """Refuse a new password outside the allowed length."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValidationError(
            f"{field} must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long.", field=field, code=Code.OUT_OF_RANGE
        )
