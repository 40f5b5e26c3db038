"""Identifiers kept as keys: opaque keys (account, device, card, merchant), emails and IPs.

Two events name the same entity only if their identifiers normalise to the same string,
so every identifier column passes through here before it becomes a graph node key.
See ``ingestion.normalise`` for the rules every normaliser shares.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.normalise._shared import (
    ASCII_LOWER,
    CACHE_MAX_ENTRIES,
    WHITESPACE,
    WHITESPACE_SET,
    WS_CLASS_RE2,
    BoundedCache,
    InvalidReason,
    InvalidValue,
    all_false,
    as_strings,
    is_in,
    is_present,
    normalise_distinct,
    null_if_empty,
    replace_where,
    trim,
)

#: Canonical dotted-quad IPv4 (no leading zeros): already in ``ipaddress``'s form.
_CANONICAL_IPV4_RE2: Final = (
    r"^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$"
)


@dataclass(frozen=True, slots=True)
class EmailRules:
    """Provider-specific email canonicalisation. All domains are lower-case.

    Parameters
    ----------
    domain_aliases : Mapping[str, str]
        Domains replaced by their canonical domain before the other rules apply.
    dotless_domains : frozenset[str]
        Domains whose mailboxes ignore dots in the local part.
    subaddress_domains : frozenset[str]
        Domains that deliver ``user+tag`` to ``user``; the ``+tag`` is dropped.
    """

    domain_aliases: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({"googlemail.com": "gmail.com"})
    )
    dotless_domains: frozenset[str] = frozenset({"gmail.com"})
    # Yahoo sub-addresses with '-', which is also legal inside ordinary local parts.
    subaddress_domains: frozenset[str] = frozenset(
        {"gmail.com", "outlook.com", "hotmail.com", "live.com", "icloud.com"}
    )


DEFAULT_EMAIL_RULES: Final = EmailRules()


# --------------------------------------------------------------------------- scalar


def normalise_key(raw: str | None) -> str | None:
    """Trim an opaque identifier (account, device, card or merchant id).

    Parameters
    ----------
    raw : str or None
        The identifier as received.

    Returns
    -------
    str or None
        ``raw`` without leading or trailing ``WHITESPACE``; ``None`` if nothing is left.

    Examples
    --------
    >>> normalise_key("  acc-001\\u00a0")
    'acc-001'
    >>> normalise_key(" \\t ") is None
    True
    """
    if raw is None:
        return None
    return raw.strip(WHITESPACE) or None


def normalise_email(raw: str | None, *, rules: EmailRules = DEFAULT_EMAIL_RULES) -> str | None:
    """Canonicalise an email address so that one mailbox has one spelling.

    Trims, lower-cases (ASCII), replaces domain aliases (``googlemail.com`` ->
    ``gmail.com``), drops a ``+tag`` for providers with sub-addressing and removes dots
    from the local part for providers that ignore them.

    Parameters
    ----------
    raw : str or None
        The address as received.
    rules : EmailRules, optional
        Provider rules; ``DEFAULT_EMAIL_RULES`` covers Gmail, Outlook/Hotmail/Live
        and iCloud.

    Returns
    -------
    str or None
        ``local@domain`` in canonical form; ``None`` for ``None`` or blank input.

    Raises
    ------
    InvalidValue
        With reason ``invalid_email`` when there is not exactly one ``@``, the local
        part is empty (also after dropping dots and tag), the domain is not two or more
        non-empty dot-separated labels, or whitespace appears inside.

    Examples
    --------
    >>> normalise_email(" J.Smith+promo@GoogleMail.com ")
    'jsmith@gmail.com'
    >>> normalise_email("J.Smith+promo@example.co.uk")
    'j.smith+promo@example.co.uk'
    >>> try:
    ...     normalise_email("no-at-sign.example.com")
    ... except InvalidValue as error:
    ...     print(error)
    invalid_email: expected exactly one '@'
    """
    if raw is None:
        return None
    trimmed = raw.strip(WHITESPACE)
    if not trimmed:
        return None
    lowered = trimmed.translate(ASCII_LOWER)
    if lowered.count("@") != 1:
        raise InvalidValue(InvalidReason.EMAIL, "expected exactly one '@'")
    if not WHITESPACE_SET.isdisjoint(lowered):
        raise InvalidValue(InvalidReason.EMAIL, "whitespace inside the address")
    local, _, domain = lowered.partition("@")
    if not local:
        raise InvalidValue(InvalidReason.EMAIL, "empty local part")
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise InvalidValue(InvalidReason.EMAIL, "domain is not dot-separated labels")
    domain = rules.domain_aliases.get(domain, domain)
    if domain in rules.subaddress_domains:
        local = local.partition("+")[0]
    if domain in rules.dotless_domains:
        local = local.replace(".", "")
    if not local:
        raise InvalidValue(InvalidReason.EMAIL, "local part empty once canonicalised")
    return f"{local}@{domain}"


def normalise_ip(raw: str | None) -> str | None:
    """Canonicalise an IPv4 or IPv6 address.

    Parameters
    ----------
    raw : str or None
        The address as received.

    Returns
    -------
    str or None
        ``str(ipaddress.ip_address(raw))``: dotted decimal for IPv4, compressed
        lower-case for IPv6, and the embedded IPv4 address for IPv4-mapped IPv6
        (``::ffff:a.b.c.d``); ``None`` for ``None`` or blank input.

    Raises
    ------
    InvalidValue
        With reason ``invalid_ip`` when ``ipaddress`` rejects the value, including IPv4
        octets with leading zeros (ambiguous: octal to some parsers).

    Examples
    --------
    >>> normalise_ip(" 2001:DB8:0:0::1 ")
    '2001:db8::1'
    >>> normalise_ip("::ffff:192.0.2.7")
    '192.0.2.7'
    >>> try:
    ...     normalise_ip("192.168.001.1")
    ... except InvalidValue as error:
    ...     print(error.reason)
    invalid_ip
    """
    if raw is None:
        return None
    trimmed = raw.strip(WHITESPACE)
    if not trimmed:
        return None
    return _ip_canonical(trimmed)


# ----------------------------------------------------------------------- vectorised


def normalise_keys(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_key``.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (``string``, ``large_string``, a dictionary of either, or all-null).

    Returns
    -------
    normalised : pyarrow.Array
        Same string type as ``values``; null where the input is null or blank.
    invalid : pyarrow.BooleanArray
        All false: any non-blank key is valid.

    Raises
    ------
    TypeError
        If ``values`` does not hold strings.

    Examples
    --------
    >>> import pyarrow as pa
    >>> normalised, invalid = normalise_keys(pa.array([" a1 ", "\\u3000", None]))
    >>> normalised.to_pylist(), invalid.to_pylist()
    (['a1', None, None], [False, False, False])

    Notes
    -----
    O(total bytes), two Arrow kernels.
    """
    strings = as_strings(values)
    trimmed = trim(strings)
    return null_if_empty(trimmed), all_false(len(strings))


def normalise_emails(
    values: pa.Array | pa.ChunkedArray, *, rules: EmailRules = DEFAULT_EMAIL_RULES
) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_email``.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (``string``, ``large_string``, a dictionary of either, or all-null).
    rules : EmailRules, optional
        Provider rules, as for ``normalise_email``.

    Returns
    -------
    normalised : pyarrow.Array
        Same string type as ``values``; null where the input is null, blank or invalid.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_email`` would raise ``InvalidValue``.

    Raises
    ------
    TypeError
        If ``values`` does not hold strings.

    Examples
    --------
    >>> import pyarrow as pa
    >>> normalised, invalid = normalise_emails(pa.array(["A.B+x@gmail.com", "nope", " "]))
    >>> normalised.to_pylist(), invalid.to_pylist()
    (['ab@gmail.com', None, None], [False, True, False])

    Notes
    -----
    O(total bytes): a fixed number of Arrow kernels, no Python per value. The ``+tag`` and
    dot rewrites run only on the rows at providers with those rules that need them.
    """
    strings = as_strings(values)
    string_type = strings.type
    trimmed = trim(strings)
    parts = pc.extract_regex(pc.ascii_lower(trimmed), _EMAIL_RE2)
    # A struct's children ignore the parent's validity, so carry "matched" explicitly.
    matched = pc.fill_null(pc.is_valid(parts), False)
    local = pc.struct_field(parts, "local")
    domain = pc.struct_field(parts, "domain")
    for alias, canonical in rules.domain_aliases.items():
        domain = pc.if_else(pc.equal(domain, alias), pa.scalar(canonical, string_type), domain)
    local = replace_where(
        local,
        pc.and_(is_in(domain, rules.subaddress_domains), pc.match_substring(local, "+")),
        lambda rows: pc.replace_substring_regex(rows, r"(?s)\+.*$", ""),
    )
    local = replace_where(
        local,
        pc.and_(is_in(domain, rules.dotless_domains), pc.match_substring(local, ".")),
        lambda rows: pc.replace_substring(rows, ".", ""),
    )
    valid = pc.and_(matched, pc.fill_null(pc.not_equal(local, ""), False))
    joined = pc.binary_join_element_wise(local, domain, pa.scalar("@", string_type))
    normalised = pc.if_else(valid, joined, pa.scalar(None, string_type))
    return normalised, pc.and_(is_present(trimmed), pc.invert(valid))


def normalise_ips(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_ip``; canonical IPv4 takes a regex fast path.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (``string``, ``large_string``, a dictionary of either, or all-null).

    Returns
    -------
    normalised : pyarrow.Array
        Same string type as ``values``; null where the input is null, blank or invalid.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_ip`` would raise ``InvalidValue``.

    Raises
    ------
    TypeError
        If ``values`` does not hold strings.

    Examples
    --------
    >>> import pyarrow as pa
    >>> normalised, invalid = normalise_ips(pa.array(["10.0.0.1", "::FFFF:10.0.0.1", "010.0.0.1"]))
    >>> normalised.to_pylist(), invalid.to_pylist()
    (['10.0.0.1', '10.0.0.1', None], [False, False, True])

    Notes
    -----
    O(n) Arrow work; distinct values that are not canonical dotted-quad IPv4 go through
    ``ipaddress`` once each, unless already in a process-wide cache of at most
    ``CACHE_MAX_ENTRIES`` entries.
    """

    def resolve(distinct: pa.Array) -> pa.Array:
        slow = pc.invert(pc.match_substring_regex(distinct, _CANONICAL_IPV4_RE2))
        slow_values = pc.filter(distinct, slow).to_pylist()
        if not slow_values:
            return distinct
        resolved = _IP_CACHE.resolve(slow_values, _ip_or_none)
        return pc.replace_with_mask(distinct, slow, pa.array(resolved, distinct.type))

    return normalise_distinct(trim(as_strings(values)), resolve)


# -------------------------------------------------------------------------- private

_EMAIL_WORD: Final = f"[^@.{WS_CLASS_RE2}]+"
_EMAIL_RE2: Final = (
    f"^(?P<local>[^@{WS_CLASS_RE2}]+)@(?P<domain>{_EMAIL_WORD}(?:\\.{_EMAIL_WORD})+)$"
)


def _ip_canonical(trimmed: str) -> str:
    try:
        address = ipaddress.ip_address(trimmed)
    except ValueError:
        raise InvalidValue(InvalidReason.IP, "not an IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _ip_or_none(trimmed: str) -> str | None:
    try:
        return _ip_canonical(trimmed)
    except InvalidValue:
        return None


_IP_CACHE: Final = BoundedCache(CACHE_MAX_ENTRIES)
