"""Country names and codes to ISO 3166-1 alpha-2.

Accepted, in any ASCII letter case and with surrounding whitespace:

* the alpha-2 code (``GB``, ``us``) and the alpha-3 code (``GBR``, ``usa``) of every
  country in ISO 3166-1 (249 entries) plus Kosovo (``XK``/``XKX``, user-assigned but in
  common use, and a region of ``phonenumbers``);
* the common English short name (``Germany``, ``United States``), and the aliases listed
  in ``COUNTRIES`` (``United States of America``, ``USA``, ``U.S.``, ``UK``, ``Great
  Britain``, ``England``, ``Scotland``, ``Wales``, ``Northern Ireland``, ``Holland``,
  ``South Korea``, ``Russia``, ``Ivory Coast``, ``Czech Republic``, ``Burma``, ...);
* punctuation-insensitive forms of those: dots are dropped (``U.S.A.`` is ``USA``),
  ``& `` reads as ``and``, commas, hyphens, underscores, slashes, brackets and
  apostrophes read as spaces, a leading ``The`` is ignored (``The Netherlands``), and
  ``St``/``St.`` stands for ``Saint`` (``St. Lucia``). Names with non-ASCII letters are
  also accepted spelled without accents (``Cote d'Ivoire``, ``Curacao``, ``Turkiye``).

Anything else is invalid (reason ``bad_value``). The table is in the code rather than a
dependency: it is small, changes a few times a decade, and the test suite checks it
against ``phonenumbers``' regions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.normalise._shared import (
    ASCII_UPPER,
    WHITESPACE,
    WS_CLASS_RE2,
    InvalidReason,
    InvalidValue,
    as_strings,
    is_present,
    lookup,
)


@dataclass(frozen=True, slots=True)
class Country:
    """One country: its ISO codes, its common English short name and other names."""

    alpha2: str
    alpha3: str
    name: str
    aliases: tuple[str, ...] = ()


def _c(alpha2: str, alpha3: str, name: str, *aliases: str) -> Country:
    return Country(alpha2, alpha3, name, aliases)


#: Every ISO 3166-1 country (and Kosovo), alpha-2 order.
COUNTRIES: Final[tuple[Country, ...]] = (
    _c("AD", "AND", "Andorra"),
    _c("AE", "ARE", "United Arab Emirates", "UAE", "Emirates"),
    _c("AF", "AFG", "Afghanistan"),
    _c("AG", "ATG", "Antigua and Barbuda", "Antigua"),
    _c("AI", "AIA", "Anguilla"),
    _c("AL", "ALB", "Albania"),
    _c("AM", "ARM", "Armenia"),
    _c("AO", "AGO", "Angola"),
    _c("AQ", "ATA", "Antarctica"),
    _c("AR", "ARG", "Argentina"),
    _c("AS", "ASM", "American Samoa"),
    _c("AT", "AUT", "Austria"),
    _c("AU", "AUS", "Australia"),
    _c("AW", "ABW", "Aruba"),
    _c("AX", "ALA", "Åland Islands", "Aland"),
    _c("AZ", "AZE", "Azerbaijan"),
    _c("BA", "BIH", "Bosnia and Herzegovina", "Bosnia"),
    _c("BB", "BRB", "Barbados"),
    _c("BD", "BGD", "Bangladesh"),
    _c("BE", "BEL", "Belgium"),
    _c("BF", "BFA", "Burkina Faso"),
    _c("BG", "BGR", "Bulgaria"),
    _c("BH", "BHR", "Bahrain"),
    _c("BI", "BDI", "Burundi"),
    _c("BJ", "BEN", "Benin"),
    _c("BL", "BLM", "Saint Barthélemy", "St Barts"),
    _c("BM", "BMU", "Bermuda"),
    _c("BN", "BRN", "Brunei", "Brunei Darussalam"),
    _c("BO", "BOL", "Bolivia", "Bolivia, Plurinational State of"),
    _c("BQ", "BES", "Caribbean Netherlands", "Bonaire, Sint Eustatius and Saba", "Bonaire"),
    _c("BR", "BRA", "Brazil", "Brasil"),
    _c("BS", "BHS", "Bahamas"),
    _c("BT", "BTN", "Bhutan"),
    _c("BV", "BVT", "Bouvet Island"),
    _c("BW", "BWA", "Botswana"),
    _c("BY", "BLR", "Belarus"),
    _c("BZ", "BLZ", "Belize"),
    _c("CA", "CAN", "Canada"),
    _c("CC", "CCK", "Cocos (Keeling) Islands", "Cocos Islands"),
    _c(
        "CD",
        "COD",
        "Democratic Republic of the Congo",
        "Congo, The Democratic Republic of the",
        "Democratic Republic of Congo",
        "DR Congo",
        "DRC",
        "Congo-Kinshasa",
    ),
    _c("CF", "CAF", "Central African Republic"),
    _c("CG", "COG", "Congo", "Republic of the Congo", "Republic of Congo", "Congo-Brazzaville"),
    _c("CH", "CHE", "Switzerland"),
    _c("CI", "CIV", "Côte d'Ivoire", "Ivory Coast"),
    _c("CK", "COK", "Cook Islands"),
    _c("CL", "CHL", "Chile"),
    _c("CM", "CMR", "Cameroon"),
    _c("CN", "CHN", "China", "People's Republic of China", "PRC"),
    _c("CO", "COL", "Colombia"),
    _c("CR", "CRI", "Costa Rica"),
    _c("CU", "CUB", "Cuba"),
    _c("CV", "CPV", "Cabo Verde", "Cape Verde"),
    _c("CW", "CUW", "Curaçao"),
    _c("CX", "CXR", "Christmas Island"),
    _c("CY", "CYP", "Cyprus"),
    _c("CZ", "CZE", "Czechia", "Czech Republic"),
    _c("DE", "DEU", "Germany", "Deutschland"),
    _c("DJ", "DJI", "Djibouti"),
    _c("DK", "DNK", "Denmark"),
    _c("DM", "DMA", "Dominica"),
    _c("DO", "DOM", "Dominican Republic"),
    _c("DZ", "DZA", "Algeria"),
    _c("EC", "ECU", "Ecuador"),
    _c("EE", "EST", "Estonia"),
    _c("EG", "EGY", "Egypt"),
    _c("EH", "ESH", "Western Sahara"),
    _c("ER", "ERI", "Eritrea"),
    _c("ES", "ESP", "Spain", "España"),
    _c("ET", "ETH", "Ethiopia"),
    _c("FI", "FIN", "Finland"),
    _c("FJ", "FJI", "Fiji"),
    _c("FK", "FLK", "Falkland Islands", "Falkland Islands (Malvinas)", "Falklands"),
    _c(
        "FM",
        "FSM",
        "Micronesia",
        "Micronesia, Federated States of",
        "Federated States of Micronesia",
    ),
    _c("FO", "FRO", "Faroe Islands", "Faroes"),
    _c("FR", "FRA", "France"),
    _c("GA", "GAB", "Gabon"),
    _c(
        "GB",
        "GBR",
        "United Kingdom",
        "UK",
        "U.K.",
        "Great Britain",
        "Britain",
        "United Kingdom of Great Britain and Northern Ireland",
        "England",
        "Scotland",
        "Wales",
        "Northern Ireland",
    ),
    _c("GD", "GRD", "Grenada"),
    _c("GE", "GEO", "Georgia"),
    _c("GF", "GUF", "French Guiana"),
    _c("GG", "GGY", "Guernsey"),
    _c("GH", "GHA", "Ghana"),
    _c("GI", "GIB", "Gibraltar"),
    _c("GL", "GRL", "Greenland"),
    _c("GM", "GMB", "Gambia"),
    _c("GN", "GIN", "Guinea"),
    _c("GP", "GLP", "Guadeloupe"),
    _c("GQ", "GNQ", "Equatorial Guinea"),
    _c("GR", "GRC", "Greece", "Hellas"),
    _c("GS", "SGS", "South Georgia and the South Sandwich Islands", "South Georgia"),
    _c("GT", "GTM", "Guatemala"),
    _c("GU", "GUM", "Guam"),
    _c("GW", "GNB", "Guinea-Bissau"),
    _c("GY", "GUY", "Guyana"),
    _c("HK", "HKG", "Hong Kong", "Hong Kong SAR"),
    _c("HM", "HMD", "Heard Island and McDonald Islands"),
    _c("HN", "HND", "Honduras"),
    _c("HR", "HRV", "Croatia", "Hrvatska"),
    _c("HT", "HTI", "Haiti"),
    _c("HU", "HUN", "Hungary"),
    _c("ID", "IDN", "Indonesia"),
    _c("IE", "IRL", "Ireland", "Republic of Ireland", "Eire"),
    _c("IL", "ISR", "Israel"),
    _c("IM", "IMN", "Isle of Man"),
    _c("IN", "IND", "India"),
    _c("IO", "IOT", "British Indian Ocean Territory"),
    _c("IQ", "IRQ", "Iraq"),
    _c("IR", "IRN", "Iran", "Iran, Islamic Republic of", "Islamic Republic of Iran"),
    _c("IS", "ISL", "Iceland"),
    _c("IT", "ITA", "Italy", "Italia"),
    _c("JE", "JEY", "Jersey"),
    _c("JM", "JAM", "Jamaica"),
    _c("JO", "JOR", "Jordan"),
    _c("JP", "JPN", "Japan"),
    _c("KE", "KEN", "Kenya"),
    _c("KG", "KGZ", "Kyrgyzstan", "Kyrgyz Republic"),
    _c("KH", "KHM", "Cambodia"),
    _c("KI", "KIR", "Kiribati"),
    _c("KM", "COM", "Comoros"),
    _c("KN", "KNA", "Saint Kitts and Nevis", "Saint Christopher and Nevis"),
    _c(
        "KP",
        "PRK",
        "North Korea",
        "Korea, Democratic People's Republic of",
        "Democratic People's Republic of Korea",
        "DPRK",
    ),
    _c("KR", "KOR", "South Korea", "Korea, Republic of", "Republic of Korea", "Korea"),
    _c("KW", "KWT", "Kuwait"),
    _c("KY", "CYM", "Cayman Islands"),
    _c("KZ", "KAZ", "Kazakhstan"),
    _c("LA", "LAO", "Laos", "Lao People's Democratic Republic", "Lao PDR"),
    _c("LB", "LBN", "Lebanon"),
    _c("LC", "LCA", "Saint Lucia"),
    _c("LI", "LIE", "Liechtenstein"),
    _c("LK", "LKA", "Sri Lanka"),
    _c("LR", "LBR", "Liberia"),
    _c("LS", "LSO", "Lesotho"),
    _c("LT", "LTU", "Lithuania"),
    _c("LU", "LUX", "Luxembourg"),
    _c("LV", "LVA", "Latvia"),
    _c("LY", "LBY", "Libya"),
    _c("MA", "MAR", "Morocco"),
    _c("MC", "MCO", "Monaco"),
    _c("MD", "MDA", "Moldova", "Moldova, Republic of", "Republic of Moldova"),
    _c("ME", "MNE", "Montenegro"),
    _c("MF", "MAF", "Saint Martin", "Saint Martin (French part)"),
    _c("MG", "MDG", "Madagascar"),
    _c("MH", "MHL", "Marshall Islands"),
    _c("MK", "MKD", "North Macedonia", "Macedonia"),
    _c("ML", "MLI", "Mali"),
    _c("MM", "MMR", "Myanmar", "Burma"),
    _c("MN", "MNG", "Mongolia"),
    _c("MO", "MAC", "Macao", "Macau"),
    _c("MP", "MNP", "Northern Mariana Islands"),
    _c("MQ", "MTQ", "Martinique"),
    _c("MR", "MRT", "Mauritania"),
    _c("MS", "MSR", "Montserrat"),
    _c("MT", "MLT", "Malta"),
    _c("MU", "MUS", "Mauritius"),
    _c("MV", "MDV", "Maldives"),
    _c("MW", "MWI", "Malawi"),
    _c("MX", "MEX", "Mexico", "México"),
    _c("MY", "MYS", "Malaysia"),
    _c("MZ", "MOZ", "Mozambique"),
    _c("NA", "NAM", "Namibia"),
    _c("NC", "NCL", "New Caledonia"),
    _c("NE", "NER", "Niger"),
    _c("NF", "NFK", "Norfolk Island"),
    _c("NG", "NGA", "Nigeria"),
    _c("NI", "NIC", "Nicaragua"),
    _c("NL", "NLD", "Netherlands", "Holland", "Nederland"),
    _c("NO", "NOR", "Norway"),
    _c("NP", "NPL", "Nepal"),
    _c("NR", "NRU", "Nauru"),
    _c("NU", "NIU", "Niue"),
    _c("NZ", "NZL", "New Zealand", "Aotearoa"),
    _c("OM", "OMN", "Oman"),
    _c("PA", "PAN", "Panama"),
    _c("PE", "PER", "Peru"),
    _c("PF", "PYF", "French Polynesia"),
    _c("PG", "PNG", "Papua New Guinea"),
    _c("PH", "PHL", "Philippines"),
    _c("PK", "PAK", "Pakistan"),
    _c("PL", "POL", "Poland", "Polska"),
    _c("PM", "SPM", "Saint Pierre and Miquelon"),
    _c("PN", "PCN", "Pitcairn", "Pitcairn Islands"),
    _c("PR", "PRI", "Puerto Rico"),
    _c(
        "PS",
        "PSE",
        "Palestine",
        "Palestine, State of",
        "State of Palestine",
        "Palestinian Territories",
    ),
    _c("PT", "PRT", "Portugal"),
    _c("PW", "PLW", "Palau"),
    _c("PY", "PRY", "Paraguay"),
    _c("QA", "QAT", "Qatar"),
    _c("RE", "REU", "Réunion"),
    _c("RO", "ROU", "Romania"),
    _c("RS", "SRB", "Serbia"),
    _c("RU", "RUS", "Russia", "Russian Federation"),
    _c("RW", "RWA", "Rwanda"),
    _c("SA", "SAU", "Saudi Arabia", "KSA"),
    _c("SB", "SLB", "Solomon Islands"),
    _c("SC", "SYC", "Seychelles"),
    _c("SD", "SDN", "Sudan"),
    _c("SE", "SWE", "Sweden", "Sverige"),
    _c("SG", "SGP", "Singapore"),
    _c("SH", "SHN", "Saint Helena", "Saint Helena, Ascension and Tristan da Cunha"),
    _c("SI", "SVN", "Slovenia"),
    _c("SJ", "SJM", "Svalbard and Jan Mayen", "Svalbard"),
    _c("SK", "SVK", "Slovakia", "Slovak Republic"),
    _c("SL", "SLE", "Sierra Leone"),
    _c("SM", "SMR", "San Marino"),
    _c("SN", "SEN", "Senegal"),
    _c("SO", "SOM", "Somalia"),
    _c("SR", "SUR", "Suriname", "Surinam"),
    _c("SS", "SSD", "South Sudan"),
    _c("ST", "STP", "São Tomé and Príncipe"),
    _c("SV", "SLV", "El Salvador"),
    _c("SX", "SXM", "Sint Maarten", "Sint Maarten (Dutch part)"),
    _c("SY", "SYR", "Syria", "Syrian Arab Republic"),
    _c("SZ", "SWZ", "Eswatini", "Swaziland"),
    _c("TC", "TCA", "Turks and Caicos Islands", "Turks and Caicos"),
    _c("TD", "TCD", "Chad"),
    _c("TF", "ATF", "French Southern Territories", "French Southern and Antarctic Lands"),
    _c("TG", "TGO", "Togo"),
    _c("TH", "THA", "Thailand"),
    _c("TJ", "TJK", "Tajikistan"),
    _c("TK", "TKL", "Tokelau"),
    _c("TL", "TLS", "Timor-Leste", "East Timor"),
    _c("TM", "TKM", "Turkmenistan"),
    _c("TN", "TUN", "Tunisia"),
    _c("TO", "TON", "Tonga"),
    _c("TR", "TUR", "Türkiye", "Turkey"),
    _c("TT", "TTO", "Trinidad and Tobago", "Trinidad"),
    _c("TV", "TUV", "Tuvalu"),
    _c("TW", "TWN", "Taiwan", "Taiwan, Province of China"),
    _c("TZ", "TZA", "Tanzania", "Tanzania, United Republic of", "United Republic of Tanzania"),
    _c("UA", "UKR", "Ukraine"),
    _c("UG", "UGA", "Uganda"),
    _c("UM", "UMI", "United States Minor Outlying Islands"),
    _c(
        "US",
        "USA",
        "United States",
        "United States of America",
        "U.S.",
        "U.S.A.",
        "America",
        "US of A",
    ),
    _c("UY", "URY", "Uruguay"),
    _c("UZ", "UZB", "Uzbekistan"),
    _c("VA", "VAT", "Vatican City", "Holy See", "Holy See (Vatican City State)", "Vatican"),
    _c("VC", "VCT", "Saint Vincent and the Grenadines", "Saint Vincent"),
    _c("VE", "VEN", "Venezuela", "Venezuela, Bolivarian Republic of"),
    _c("VG", "VGB", "British Virgin Islands", "Virgin Islands, British"),
    _c(
        "VI",
        "VIR",
        "United States Virgin Islands",
        "Virgin Islands, U.S.",
        "US Virgin Islands",
        "U.S. Virgin Islands",
    ),
    _c("VN", "VNM", "Vietnam", "Viet Nam"),
    _c("VU", "VUT", "Vanuatu"),
    _c("WF", "WLF", "Wallis and Futuna"),
    _c("WS", "WSM", "Samoa"),
    _c("XK", "XKX", "Kosovo"),
    _c("YE", "YEM", "Yemen"),
    _c("YT", "MYT", "Mayotte"),
    _c("ZA", "ZAF", "South Africa"),
    _c("ZM", "ZMB", "Zambia"),
    _c("ZW", "ZWE", "Zimbabwe"),
)

#: Characters read as a space in a country name (besides ``WHITESPACE``).
_SEPARATORS: Final = ",-_/()'\u2019"
_FOLD_TO_SPACE: Final = {ord(ch): " " for ch in WHITESPACE + _SEPARATORS} | {
    ord("."): None,
    ord("&"): " AND ",
}
_SEPARATORS_RE2: Final = "[" + WS_CLASS_RE2 + re.escape(_SEPARATORS) + "]"


def fold_country(raw: str) -> str:
    """The lookup key of a country spelling: upper case (ASCII), punctuation folded.

    Parameters
    ----------
    raw : str
        A country code or name as received.

    Returns
    -------
    str
        Upper-case words separated by single spaces: dots dropped, ``&`` read as ``AND``,
        whitespace and other separators as a space, a leading ``THE`` removed.

    Examples
    --------
    >>> fold_country(" The U.S.A. "), fold_country("Bosnia & Herzegovina")
    ('USA', 'BOSNIA AND HERZEGOVINA')

    Notes
    -----
    O(length of the value).
    """
    folded = " ".join(
        w for w in raw.translate(ASCII_UPPER).translate(_FOLD_TO_SPACE).split(" ") if w
    )
    return folded[4:] if folded.startswith("THE ") else folded


def _spellings(country: Country) -> set[str]:
    names = (country.name, *country.aliases)
    found = {country.alpha2, country.alpha3}
    for name in names:
        for variant in (name, name.upper(), name.lower(), _without_accents(name)):
            found.add(fold_country(variant))
    for key in list(found):
        if key.startswith("SAINT "):
            found.add("ST " + key[len("SAINT ") :])
    return found


def _without_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _build_index() -> Mapping[str, str]:
    index: dict[str, str] = {}
    for country in COUNTRIES:
        for key in _spellings(country):
            other = index.setdefault(key, country.alpha2)
            if other != country.alpha2:
                msg = f"{key!r} names both {other} and {country.alpha2}"
                raise AssertionError(msg)
    return MappingProxyType(index)


#: Folded spelling -> alpha-2 code.
COUNTRY_INDEX: Final = _build_index()


def normalise_country(raw: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code of a country code or name.

    Parameters
    ----------
    raw : str or None
        A code or name as received (see the module docstring for what is accepted).

    Returns
    -------
    str or None
        The upper-case alpha-2 code; ``None`` for ``None`` or blank input.

    Raises
    ------
    InvalidValue
        With reason ``bad_value`` when the value names no known country.

    Examples
    --------
    >>> normalise_country("gb"), normalise_country("DEU"), normalise_country("U.S.")
    ('GB', 'DE', 'US')
    >>> normalise_country("United States of America"), normalise_country("St. Lucia")
    ('US', 'LC')
    >>> try:
    ...     normalise_country("Atlantis")
    ... except InvalidValue as error:
    ...     print(error.reason)
    bad_value

    Notes
    -----
    O(length of the value) plus one dictionary lookup.
    """
    if raw is None:
        return None
    key = fold_country(raw)
    if not key:
        return None
    code = COUNTRY_INDEX.get(key)
    if code is None:
        raise InvalidValue(InvalidReason.BAD_VALUE, "not a known country code or name")
    return code


def normalise_countries(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_country``.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (``string``, ``large_string``, a dictionary of either, or all-null).

    Returns
    -------
    normalised : pyarrow.StringArray
        Alpha-2 codes; null where the input is null, blank or invalid.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_country`` would raise ``InvalidValue``.

    Raises
    ------
    TypeError
        If ``values`` does not hold strings.

    Examples
    --------
    >>> import pyarrow as pa
    >>> codes, invalid = normalise_countries(pa.array(["usa", "Great Britain", "Mars", None]))
    >>> codes.to_pylist(), invalid.to_pylist()
    (['US', 'GB', None, None], [False, False, True, False])

    Notes
    -----
    O(total bytes): five Arrow string kernels and one hash lookup per value.
    """
    strings = as_strings(values).cast(pa.string())
    folded = pc.ascii_upper(strings)
    folded = pc.replace_substring(folded, ".", "")
    folded = pc.replace_substring(folded, "&", " AND ")
    folded = pc.replace_substring_regex(folded, _SEPARATORS_RE2, " ")
    folded = pc.utf8_trim(pc.replace_substring_regex(folded, " {2,}", " "), characters=" ")
    folded = pc.replace_substring_regex(folded, "^THE ", "")
    codes = lookup(folded, dict(COUNTRY_INDEX), pa.string())
    return codes, pc.and_(is_present(folded), pc.is_null(codes))
