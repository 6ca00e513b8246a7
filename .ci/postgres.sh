#!/usr/bin/env bash
# Runs the governance tests against a real PostgreSQL: installs Debian's
# server if needed, starts a throwaway cluster on 127.0.0.1, runs
# `cargo test -p busbar-governance` with its `#[ignore]`d PostgreSQL tests
# included (two "replicas" sharing one budget and one rate limit among
# them), then the governance end-to-end tests, also with the ignored ones (two
# busbar processes on the one database), and stops the cluster whatever
# happened.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${BUSBAR_PG_PORT:-54329}"
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    echo "installing PostgreSQL from Debian's packages"
    apt-get install -y -q postgresql >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }
fi
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pgdir=$(mktemp -d /tmp/busbar-pg.XXXXXX)

# initdb refuses to run as root: run the server as the `postgres` user then.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -c "$*"
    else
        sh -c "$*"
    fi
}
[ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdir"

stop() { as_pg "$pgbin/pg_ctl -D $pgdir/data -m fast -w stop" >/dev/null 2>&1 || true; rm -rf "$pgdir"; }
trap stop EXIT

as_pg "$pgbin/initdb -D $pgdir/data -U postgres --auth=trust -E UTF8" >/dev/null
as_pg "$pgbin/pg_ctl -D $pgdir/data -l $pgdir/server.log -w start -o '-c listen_addresses=127.0.0.1 -p $port -k $pgdir -c max_connections=300'" >/dev/null
as_pg "$pgbin/psql -h 127.0.0.1 -p $port -U postgres -q -c 'CREATE DATABASE busbar_test'"

export BUSBAR_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/busbar_test"
cargo test -p busbar-governance -- --include-ignored
cargo test --test e2e governance -- --include-ignored
