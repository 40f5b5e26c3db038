"""Synthetic fraud scenarios: a bank's customer base with planted fraud rings.

``generate_scenario`` writes one folder:

* ``events/part-00000.parquet``, ``part-00001.parquet`` ... -- signup, login, payment and
  transfer events with exactly the columns of :data:`ingestion.schema.EVENT_SCHEMA`,
  time-ordered within and across parts;
* ``labels.csv`` -- what an investigations team knows: ``fraud`` labels for a share of
  the ring members and ``legit`` labels for a small share of everyone else;
* ``truth.csv`` -- ``ring_id,typology,account_id`` for every planted ring member, for
  evaluation only.

The background population is hard in the ways real data is. Households of one to six
accounts share an address and a home IP; carrier-NAT mobile IPs are shared by thousands
of accounts; office and public Wi-Fi IPs, commercial VPN exits (``is_proxy`` true) and a
Zipf-popular merchant list are shared by many; a few families share a tablet, a few
developers own an emulator, a few users root their phones. Those are the benign heavy
sharers. Rings are tied together by *rare* shared identifiers and by money flow, and their
members also have ordinary activity of their own. Typologies are listed in
:class:`Typology`.

The same identifier is spelled differently from event to event, so the normalisers in
:mod:`ingestion.normalise` have work to do: phones as ``+44 7400 123456``,
``07400 123456``, ``+447400123456`` ... (always numbers ``phonenumbers`` accepts as valid
when parsed with ``default_region``); emails with case changes and, for Gmail, dots,
``+tags`` and the ``googlemail.com`` alias; addresses with case, extra whitespace and
``Street``/``St`` style abbreviations. Account, device, card and merchant ids are opaque
(``A000123456``, ``D...``, ``C...``, ``M...``) and never vary.

Everything is a pure function of the configuration: the same ``ScenarioConfig`` gives
byte-identical files. Generation is vectorised with numpy and proceeds in time buckets
of about ``rows_per_part`` events, so memory stays bounded: about 100 bytes per account
plus about 1 GB for the buckets in flight (2.2 GB peak at 10M accounts / 100M events).

Modules
-------
``config``
    :class:`Typology`, :data:`RING_SIZES`, :class:`ScenarioConfig`, :class:`ScenarioSummary`.
``tables``
    Locale data: names, streets, towns, mail domains, IP networks, phone layouts.
``events``
    Integer-coded event batches and identifier codes.
``population``
    The background customer base and its identifier spaces.
``planning``
    Drawing the population and planning the rings.
``typologies``
    The events of each planted ring.
``background``
    Signups and everyday activity, in time buckets.
``render``
    Integer codes spelled out as the event schema's text.
``writers``
    Parquet parts, ``truth.csv`` and ``labels.csv``.
``generate``
    :func:`generate_scenario`, which runs the above.
"""

from ingestion.synthetic.default.config import RING_SIZES, ScenarioConfig, ScenarioSummary, Typology
from ingestion.synthetic.default.generate import ProgressCallback, generate_scenario

__all__ = [
    "RING_SIZES",
    "ProgressCallback",
    "ScenarioConfig",
    "ScenarioSummary",
    "Typology",
    "generate_scenario",
]
