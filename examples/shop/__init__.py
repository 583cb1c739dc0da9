"""shop: a small web shop backed by PostgreSQL.

An example application for sqla-lint. It mixes idiomatic SQLAlchemy 2.0 code with
a handful of real lifecycle bugs (sessions, connections, engines and pools that are
never given back). See ``examples/README.md`` for the list of intended findings.

    sqla-lint check examples/shop

The package does not import its submodules on purpose: importing ``shop`` must not
create engines.
"""
