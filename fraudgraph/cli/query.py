"""``fraudgraph query``: relationship queries for investigators (one JSON object each,
capped)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fraudgraph.cli.shared import JsonOption, StoreOption, emit, fail_cleanly, open_graph, out

__all__ = ["query_app"]

query_app = typer.Typer(
    help="Relationship queries for investigators (one JSON object each, capped).",
    no_args_is_help=True,
)

EntityTypeArgument = Annotated[
    str,
    typer.Argument(help="Entity type: Account, Device, IP, Phone, Email, Card, Address, Merchant."),
]
LinkTypesOption = Annotated[
    list[str] | None,
    typer.Option("--link-type", help="Only these link types (repeatable), e.g. USES_DEVICE."),
]


def _print_result(result: Any, as_json: bool) -> None:
    from queries import to_json_ready

    payload = to_json_ready(result)
    if as_json:
        emit(payload if isinstance(payload, dict) else {"result": payload})
    else:
        out.print_json(data=payload, default=str)


def _entity_name(text: str) -> tuple[str, str]:
    from graph_service.errors import InvalidInput

    node_type, sep, key = text.partition(":")
    if not sep or not key:
        raise InvalidInput(f"expected TYPE:KEY (e.g. Account:A000123), got {text!r}")
    return node_type, key


@query_app.command("neighbours")
@fail_cleanly
def query_neighbours(
    node_type: EntityTypeArgument,
    key: Annotated[str, typer.Argument(help="The entity's key.")],
    store: StoreOption = None,
    link_type: LinkTypesOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    after: Annotated[str | None, typer.Option("--after", help="Cursor of the last row.")] = None,
    as_json: JsonOption = False,
) -> None:
    """An entity's neighbours by link type, with the aggregated links; paged."""
    from queries import neighbourhood

    with open_graph(store, read_only=True) as graph:
        page = neighbourhood(graph, node_type, key, link_types=link_type, limit=limit, after=after)
    _print_result(page, as_json)


@query_app.command("shared")
@fail_cleanly
def query_shared(
    account: Annotated[str, typer.Argument(help="Account key.")],
    store: StoreOption = None,
    link_type: LinkTypesOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: JsonOption = False,
) -> None:
    """Accounts sharing a device, IP, phone, email, card or address with an account."""
    from queries import shared_identifiers

    with open_graph(store, read_only=True) as graph:
        result = shared_identifiers(graph, account, link_types=link_type, limit=limit)
    _print_result(result, as_json)


@query_app.command("path")
@fail_cleanly
def query_path(
    source: Annotated[str, typer.Argument(help="TYPE:KEY of one end.")],
    target: Annotated[str, typer.Argument(help="TYPE:KEY of the other end.")],
    store: StoreOption = None,
    max_hops: Annotated[int, typer.Option("--max-hops", min=1)] = 4,
    link_type: LinkTypesOption = None,
    as_json: JsonOption = False,
) -> None:
    """A shortest path between two entities (the same one on every backend)."""
    from queries import shortest_path

    with open_graph(store, read_only=True) as graph:
        path = shortest_path(
            graph,
            _entity_name(source),
            _entity_name(target),
            max_hops=max_hops,
            link_types=link_type,
        )
    _print_result({"path": path, "found": path is not None}, as_json)


@query_app.command("ring")
@fail_cleanly
def query_ring(
    ring_id: Annotated[str, typer.Argument(help="Ring id from `fraudgraph rings`.")],
    store: StoreOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 10_000,
    as_json: JsonOption = False,
) -> None:
    """A flagged ring's members, the identifiers they share and the links among them."""
    from queries import ring_member_ids, ring_subgraph

    with open_graph(store, read_only=True) as graph:
        result = ring_subgraph(graph, ring_member_ids(graph, ring_id), limit=limit)
    _print_result(result, as_json)


@query_app.command("flow")
@fail_cleanly
def query_flow(
    account: Annotated[str, typer.Argument(help="Account key.")],
    store: StoreOption = None,
    depth: Annotated[int, typer.Option("--depth", min=1)] = 2,
    direction: Annotated[str, typer.Option("--direction", help="in, out or both.")] = "both",
    limit: Annotated[int, typer.Option("--limit", min=1)] = 1000,
    time_respecting: Annotated[
        bool,
        typer.Option(
            "--time-respecting",
            help="Follow only paths where money moves on at or after it arrived (judged on "
            "the single transfers); each link then gives its arrival (out) or departure "
            "(in) bound and the amount moved within it.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Money flow (TRANSFERS_TO) around an account, hop by hop."""
    from graph_service.errors import InvalidInput
    from queries import money_flow

    if direction not in ("in", "out", "both"):
        raise InvalidInput(f"direction must be in, out or both, got {direction!r}")
    with open_graph(store, read_only=True) as graph:
        result = money_flow(
            graph,
            account,
            depth=depth,
            direction=direction,  # type: ignore[arg-type]
            limit=limit,
            time_respecting=time_respecting,
        )
    _print_result(result, as_json)


@query_app.command("ring-flow")
@fail_cleanly
def query_ring_flow(
    ring_id: Annotated[str, typer.Argument(help="Ring id from `fraudgraph rings`.")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """A flagged ring's money: in from outside, out, internal, retained (in - out), and
    hops (transfers in its longest chain of internal transfers, each strictly later and
    from the member the previous one paid)."""
    from queries import ring_flow, ring_member_ids, to_json_ready

    with open_graph(store, read_only=True) as graph:
        result = ring_flow(graph, ring_member_ids(graph, ring_id))
    _print_result({"ring_id": ring_id, **to_json_ready(result)}, as_json)


@query_app.command("transfer-patterns")
@fail_cleanly
def query_transfer_patterns(
    accounts: Annotated[
        list[str] | None, typer.Argument(help="Account keys (none with --all).")
    ] = None,
    store: StoreOption = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every account with a transfer (needs --out).")
    ] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the table to this Parquet file.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Point in time with its zone, e.g. 2026-03-01T00:00:00Z (default: "
            "the latest transfer).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Transfer-pattern features of accounts: payers and payees in bursts and windows, money
    passed on (share, cut, delay), alike and round amounts, time-respecting cycles,
    scatter-gather, gather-scatter, bipartite blocks and stacks. Reads the whole book."""
    import math
    from datetime import datetime

    import pyarrow.parquet as pq

    from graph_service.errors import InvalidInput
    from scoring.transfer_patterns.accounts import store_transfer_patterns

    if every == bool(accounts):
        raise InvalidInput("name accounts, or give --all (with --out), not both")
    if every and out_file is None:
        raise InvalidInput("--all writes every account's features: give --out FILE.parquet")
    when = None
    if as_of is not None:
        try:
            when = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        except ValueError as err:
            raise InvalidInput(f"--as-of is not an ISO 8601 time: {as_of!r}") from err
    with open_graph(store, read_only=True) as graph:
        table = store_transfer_patterns(graph, None if every else accounts, as_of=when)
    if out_file is not None:
        pq.write_table(table, out_file)
        _print_result({"accounts": table.num_rows, "out": str(out_file)}, as_json)
        return
    rows = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in table.to_pylist()
    ]
    _print_result({"as_of": as_of, "accounts": rows}, as_json)
