"""IP addresses of the hard profile: what each IP code is, and how it is written.

Homes sit in their country's residential ISP blocks (some on IPv6) and are renumbered
every few months; carrier NAT, office, campus, hotspot, hotel and VPN addresses come
from their operators' blocks; ring proxies from the registry. Addresses are written in
canonical form (dotted quad, compressed lower-case IPv6).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa

from graph_service.typing import I64
from ingestion.synthetic.hard.events import (
    IP_BANK,
    IP_CAMPUS,
    IP_HOME,
    IP_HOTEL,
    IP_NAT,
    IP_OFFICE,
    IP_RING,
    IP_VPN,
    IP_WIFI,
    index_of,
    kind_of,
)
from ingestion.synthetic.hard.tables import (
    BANK_NETWORK,
    CAMPUS_NETWORKS,
    COUNTRIES,
    COUNTRY_INDEX,
    HOTEL_NETWORKS,
    OFFICE_NETWORKS,
    PUBLIC_WIFI_NETWORKS,
    US,
    VPN_EXIT_COUNTRIES,
    VPN_NETWORKS,
    Network,
)
from ingestion.synthetic.hard.world import HH_IPV6, World
from ingestion.synthetic.hashing import hashed_below, hashed_unit
from ingestion.synthetic.text import Text, Vocab, const_text, dotted_quads, hex_text, string_array

__all__ = ["ip_attributes", "ip_text"]

_VPN_EXIT_COUNTRY: Final = np.asarray([COUNTRY_INDEX[c] for c in VPN_EXIT_COUNTRIES], np.int64)
#: Blocks of the kinds whose index maps straight onto a block: (kind, networks, stride).
_BLOCKS: Final[tuple[tuple[int, tuple[Network, ...], int], ...]] = (
    (IP_OFFICE, OFFICE_NETWORKS, 4),
    (IP_CAMPUS, CAMPUS_NETWORKS, 8),
    (IP_WIFI, PUBLIC_WIFI_NETWORKS, 2),
    (IP_HOTEL, HOTEL_NETWORKS, 2),
)


def _home(world: World, index: I64) -> tuple[I64, I64, I64]:
    """(ISP number within the country, offset in the ISP's block, country) of home IPs."""
    household = index >> 4
    country = world.hh_country[household].astype(np.int64)
    local = world.hh_local[household].astype(np.int64) * 16 + (index & 15)
    isp = np.zeros(index.size, np.int64)
    offset = np.zeros(index.size, np.int64)
    for c in np.unique(country):
        rows = np.flatnonzero(country == c)
        networks = COUNTRIES[int(c)].isps
        span = networks[0].span
        scrambled = world.scramble(f"home_ip/{int(c)}", len(networks) * span)(local[rows])
        isp[rows], offset[rows] = scrambled // span, scrambled % span
    return isp, offset, country


def ip_attributes(world: World, codes: I64) -> tuple[I64, I64, I64]:
    """What the IP intelligence feed says about each IP code.

    Parameters
    ----------
    world : World
    codes : ndarray of int64

    Returns
    -------
    asn, country, is_proxy : ndarray of int64
        ASN, country index (into ``tables.COUNTRIES``) and is_proxy: 1 true, 0 false,
        -1 unknown (left blank in the feed).
    """
    kind = kind_of(codes)
    index = index_of(codes)
    n = codes.size
    asn = np.zeros(n, np.int64)
    country = np.full(n, US, np.int64)
    proxy = np.zeros(n, np.int64)
    rows = np.flatnonzero(kind == IP_HOME)
    isp, _, home_country = _home(world, index[rows])
    asn_table = {
        c: np.asarray([x.asn for x in COUNTRIES[c].isps], np.int64) for c in np.unique(home_country)
    }
    for c, table in asn_table.items():
        sub = home_country == c
        asn[rows[sub]] = table[isp[sub]]
    country[rows] = home_country
    rows = np.flatnonzero(kind == IP_NAT)
    carrier = index[rows] // 4_096
    asn[rows] = np.asarray([net.asn for _, net in world.carriers], np.int64)[carrier]
    country[rows] = np.asarray([c for c, _ in world.carriers], np.int64)[carrier]
    for block_kind, networks, stride in _BLOCKS:
        rows = np.flatnonzero(kind == block_kind)
        asn[rows] = np.asarray([x.asn for x in networks], np.int64)[
            (index[rows] // stride) % len(networks)
        ]
    rows = np.flatnonzero(kind == IP_VPN)
    asn[rows] = np.asarray([x.asn for x in VPN_NETWORKS], np.int64)[index[rows] // 65_536]
    country[rows] = _VPN_EXIT_COUNTRY[
        hashed_below(index[rows], world.salts["ip_traits"], _VPN_EXIT_COUNTRY.size)
    ]
    weights = np.cumsum(world.config.vpn_proxy_flag_weights)
    flag = np.searchsorted(
        weights / weights[-1], hashed_unit(index[rows], world.salts["ip_flags"]), side="right"
    )
    proxy[rows] = np.asarray([1, -1, 0], np.int64)[np.minimum(flag, 2)]
    rows = np.flatnonzero(kind == IP_BANK)
    asn[rows] = BANK_NETWORK.asn
    rows = np.flatnonzero(kind == IP_RING)
    if rows.size:
        reg = world.registry
        j = index[rows]
        asn[rows] = np.asarray(reg.ip_asn, np.int64)[j]
        country[rows] = np.asarray(reg.ip_country, np.int64)[j]
        proxy[rows] = np.asarray(reg.ip_proxy, np.int64)[j]
    return asn, country, proxy


def _ipv4(world: World, codes: I64) -> I64:
    """IPv4 value of each code, or -1 for IPv6 addresses."""
    kind = kind_of(codes)
    index = index_of(codes)
    value = np.full(codes.size, -1, np.int64)
    rows = np.flatnonzero(kind == IP_HOME)
    v4 = (world.hh_flags[index[rows] >> 4] & HH_IPV6) == 0
    isp, offset, country = _home(world, index[rows])
    for c in np.unique(country):
        sub = np.flatnonzero((country == c) & v4)
        bases = np.asarray([x.base for x in COUNTRIES[int(c)].isps], np.int64)
        value[rows[sub]] = bases[isp[sub]] + offset[sub]
    rows = np.flatnonzero((kind == IP_NAT) & (index % 4 != 1))
    bases = np.asarray([net.base for _, net in world.carriers], np.int64)
    value[rows] = bases[index[rows] // 4_096] + 257 + (index[rows] % 4_096) * 3
    for block_kind, networks, stride in _BLOCKS:
        rows = np.flatnonzero(kind == block_kind)
        which = (index[rows] // stride) % len(networks)
        slot = (index[rows] // stride) // len(networks) * stride + index[rows] % stride
        value[rows] = np.asarray([x.base for x in networks], np.int64)[which] + 256 + slot
    rows = np.flatnonzero(kind == IP_VPN)
    provider = index[rows] // 65_536
    value[rows] = (
        np.asarray([x.base for x in VPN_NETWORKS], np.int64)[provider]
        + 256
        + (index[rows] % 65_536) * 2
    )
    rows = np.flatnonzero(kind == IP_BANK)
    value[rows] = BANK_NETWORK.base + 256 + index[rows]
    rows = np.flatnonzero(kind == IP_RING)
    if rows.size:
        value[rows] = np.asarray(world.registry.ip_value, np.int64)[index[rows]]
    return value


def _ipv6(world: World, codes: I64) -> list[Text]:
    """Fragments of the IPv6 addresses of home and NAT codes (canonical form)."""
    kind = kind_of(codes)
    index = index_of(codes)
    k = codes.size
    prefixes: list[str] = []
    prefix = np.zeros(k, np.int64)
    high = np.zeros(k, np.int64)
    low = np.zeros(k, np.int64)
    home = np.flatnonzero(kind == IP_HOME)
    isp, offset, country = _home(world, index[home])
    for c in range(len(COUNTRIES)):
        for i, net in enumerate(COUNTRIES[c].isps):
            sub = np.flatnonzero((country == c) & (isp == i))
            prefix[home[sub]] = len(prefixes)
            prefixes.append(net.ipv6_prefix)
    high[home] = offset >> 12
    low[home] = 0x1000 | (offset & 0xFFF)
    nat = np.flatnonzero(kind == IP_NAT)
    carrier = index[nat] // 4_096
    prefix[nat] = len(prefixes) + carrier
    prefixes.extend(net.ipv6_prefix for _, net in world.carriers)
    high[nat] = 0x1000 | (index[nat] % 4_096)
    low[nat] = 0x64
    return [
        Vocab(prefixes).take(prefix),
        hex_text(high, 4),
        const_text(":", k),
        hex_text(low, 4),
        const_text("::1", k),
    ]


def ip_text(world: World, rows: int, at: I64, codes: I64) -> pa.Array:
    """IP strings of ``rows`` rows: ``codes`` at rows ``at``, null elsewhere.

    Parameters
    ----------
    world : World
    rows : int
    at : ndarray of int64
    codes : ndarray of int64

    Returns
    -------
    pyarrow.StringArray
        Dotted quads and compressed IPv6 (the forms ``ipaddress`` prints).

    Notes
    -----
    IPs repeat a lot (NAT, VPN, homes), so each distinct one is rendered once:
    O(n log n) for the distinct search plus O(distinct) text.
    """
    distinct, inverse = np.unique(codes, return_inverse=True)
    value = _ipv4(world, distinct)
    v4 = np.flatnonzero(value >= 0)
    v6 = np.flatnonzero(value < 0)
    four = value[v4]
    text = dotted_quads(four)
    if v6.size:
        six = _ipv6(world, distinct[v6])
        text = pa.concat_arrays([text, string_array(v6.size, [(np.arange(v6.size), six)])])
    rank = np.empty(distinct.size, np.int64)
    rank[np.concatenate([v4, v6])] = np.arange(distinct.size)
    full = np.zeros(rows, np.int64)
    full[at] = rank[inverse]
    valid = np.zeros(rows, np.bool_)
    valid[at] = True
    return text.take(pa.array(full, mask=~valid))
