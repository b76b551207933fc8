"""``agora tenants add|list|show``: the tenant registry (agora.tenants). A city exists once an operator added it:
every route of every service answers 404 ``unknown_tenant`` for any other name."""
from __future__ import annotations

import json

from agora.cli import CliError, open_store, print_json


def register(subparsers) -> None:
    p = subparsers.add_parser("tenants", help="add, list and show tenants (cities)",
                              description="The tenant registry: cities served by this platform and their settings.")
    sub = p.add_subparsers(dest="tenants_command", metavar="<action>", required=True)
    add = sub.add_parser("add", help="register a tenant",
                         description="Register a tenant. Settings: --min-cell-size (smallest published demographic "
                                     "cell, default 5), --languages, --default-language, --display-name, "
                                     "--published-segments, --writes-per-minute-person/-address (abuse limits).")
    add.add_argument("name", help="lower-case name: a letter, then letters, digits or '-' (e.g. gent)")
    _settings_args(add)
    add.add_argument("--if-missing", action="store_true", help="succeed quietly when the tenant exists already")
    add.set_defaults(handler=handle_add)
    conf = sub.add_parser("configure", help="change settings of a tenant")
    conf.add_argument("name")
    _settings_args(conf)
    conf.set_defaults(handler=handle_configure)
    ls = sub.add_parser("list", help="list tenants (one per line; --json for details)")
    ls.add_argument("--json", action="store_true", help="print JSON with every tenant's settings")
    ls.set_defaults(handler=handle_list)
    show = sub.add_parser("show", help="a tenant's settings as JSON")
    show.add_argument("name")
    show.set_defaults(handler=handle_show)


def _settings_args(p) -> None:
    p.add_argument("--display-name")
    p.add_argument("--languages", help="comma-separated language codes, e.g. nl,fr,en")
    p.add_argument("--default-language")
    p.add_argument("--min-cell-size", type=int)
    p.add_argument("--published-segments", help="comma-separated demographic dimensions, e.g. age,gender")
    p.add_argument("--writes-per-minute-person", type=int)
    p.add_argument("--writes-per-minute-address", type=int)


def _settings(args) -> dict:
    out = {}
    for key in ("display_name", "default_language", "min_cell_size", "writes_per_minute_person",
                "writes_per_minute_address"):
        value = getattr(args, key, None)
        if value is not None:
            out[key] = value
    for key in ("languages", "published_segments"):
        value = getattr(args, key, None)
        if value is not None:
            out[key] = [v.strip() for v in value.split(",") if v.strip()]
    return out


def _registry():
    from agora.tenants import TenantRegistry
    store, _db = open_store()
    return TenantRegistry(store)


def _errors(fn):
    from agora.errors import AgoraError

    def wrapped(args) -> int:
        try:
            return fn(args)
        except AgoraError as exc:
            fields = exc.details.get("fields") if exc.details else None
            raise CliError(f"{exc}{': ' + json.dumps(fields) if fields else ''}", 2) from None
    return wrapped


@_errors
def handle_add(args) -> int:
    from agora.errors import Conflict
    reg = _registry()
    try:
        tenant = reg.add(args.name, _settings(args), by="agora tenants add")
    except Conflict:
        if args.if_missing:
            print(f"tenant {args.name} exists already")
            return 0
        raise
    print(f"tenant {tenant.name} added")
    return 0


@_errors
def handle_configure(args) -> int:
    tenant = _registry().configure(args.name, _settings(args), by="agora tenants configure")
    print_json(tenant.as_dict())
    return 0


@_errors
def handle_list(args) -> int:
    tenants = _registry().list()
    if args.json:
        print_json([t.as_dict() for t in tenants])
    else:
        for t in tenants:
            print(t.name)
    return 0


@_errors
def handle_show(args) -> int:
    print_json(_registry().get(args.name).as_dict())
    return 0
