"""Normalisers: one canonical form per identifier, code, flag, time and event type.

Two events name the same entity only if their identifiers normalise to the same string,
and a feed is only as usable as the spellings it is allowed to use, so every input column
passes through here before it is loaded. Each module documents the forms it accepts:

* ``identifiers``: opaque keys (account, device, card, merchant), emails, IPs;
* ``phone``: phone numbers as E.164, national numbers read in the row's country or the
  default region;
* ``address``: postal addresses standardised as USPS Publication 28 does (tables in
  ``usps``);
* ``countries``: ISO 3166-1 alpha-2 from codes and names;
* ``codes``: autonomous system numbers, yes/no flags, currencies, event types, labels;
* ``timestamps``: ISO 8601 and friends, epochs of four magnitudes, native timestamps.

Each normaliser comes twice: a scalar function (``normalise_email``) that is the
reference, and a vectorised one over a pyarrow array (``normalise_emails``) that ingestion
runs on whole batches. Both give exactly the same result for every input; the test suite
checks this on arbitrary text.

Shared rules
------------
* Leading and trailing whitespace is trimmed. Whitespace is Python's ``str.isspace`` set
  plus U+200B ZERO WIDTH SPACE and U+FEFF ZERO WIDTH NO-BREAK SPACE (a stray byte-order
  mark), spelled out in ``WHITESPACE`` so pyarrow and Python agree on it.
* ``None`` and blank (whitespace-only) input give ``None``; that is "absent", not invalid.
* Case folding is ASCII-only (``A-Z`` <-> ``a-z``). Python and Arrow's utf8proc follow
  different Unicode versions and Python applies full (one-to-many) case mappings, so a
  Unicode-wide fold could not be identical on both paths; non-ASCII letters are kept as
  given.
* A value that cannot be normalised raises ``InvalidValue`` (scalar) or is flagged in the
  ``invalid`` mask (vectorised), with the quarantine reason as ``InvalidValue.reason``.
  The error message never contains the value: identifiers are personal data.
* Work on whole arrays is a fixed number of Arrow kernels (or numpy operations); where a
  library must see each value (phone numbers, unusual IPs), it sees each distinct value
  once, behind a bounded least-recently-used cache.
"""

from __future__ import annotations

from ingestion.normalise._shared import (
    CACHE_MAX_ENTRIES,
    WHITESPACE,
    InvalidReason,
    InvalidValue,
)
from ingestion.normalise.address import (
    ADDRESS_WORDS,
    normalise_address,
    normalise_addresses,
)
from ingestion.normalise.codes import (
    normalise_asn,
    normalise_asns,
    normalise_bool,
    normalise_bools,
    normalise_currencies,
    normalise_currency,
    normalise_event_type,
    normalise_event_types,
    normalise_label,
    normalise_labels,
)
from ingestion.normalise.countries import normalise_countries, normalise_country
from ingestion.normalise.identifiers import (
    DEFAULT_EMAIL_RULES,
    EmailRules,
    normalise_email,
    normalise_emails,
    normalise_ip,
    normalise_ips,
    normalise_key,
    normalise_keys,
)
from ingestion.normalise.phone import normalise_phone, normalise_phones
from ingestion.normalise.timestamps import normalise_timestamp, normalise_timestamps

__all__ = [
    "ADDRESS_WORDS",
    "CACHE_MAX_ENTRIES",
    "DEFAULT_EMAIL_RULES",
    "WHITESPACE",
    "EmailRules",
    "InvalidReason",
    "InvalidValue",
    "clear_caches",
    "normalise_address",
    "normalise_addresses",
    "normalise_asn",
    "normalise_asns",
    "normalise_bool",
    "normalise_bools",
    "normalise_countries",
    "normalise_country",
    "normalise_currencies",
    "normalise_currency",
    "normalise_email",
    "normalise_emails",
    "normalise_event_type",
    "normalise_event_types",
    "normalise_ip",
    "normalise_ips",
    "normalise_key",
    "normalise_keys",
    "normalise_label",
    "normalise_labels",
    "normalise_phone",
    "normalise_phones",
    "normalise_timestamp",
    "normalise_timestamps",
]


def clear_caches() -> None:
    """Empty the phone and IP caches (for tests and benchmarks)."""
    from ingestion.normalise import identifiers, phone

    identifiers._IP_CACHE.clear()
    phone._PHONE_CACHE.clear()
