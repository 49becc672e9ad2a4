#!/usr/bin/env bash
# A private, throw-away PostgreSQL server for the tests: its own data directory and port, no
# effect on any PostgreSQL already on the machine. Installs the server with apt-get if missing.
#
#   .ci/postgres.sh start   # initdb + start, creates database auditd_test; prints the URL
#   .ci/postgres.sh url     # the SQLAlchemy URL for AUDITD_TEST_PG_URL
#   .ci/postgres.sh stop    # stop and delete the data directory
set -euo pipefail

PORT=${AUDITD_PG_PORT:-54329}
DIR=${AUDITD_PG_DIR:-/tmp/auditd-pg-$PORT}
URL="postgresql+psycopg://auditd@127.0.0.1:$PORT/auditd_test"

find_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && { pg_config --bindir; return 0; }
    return 1
}

install_server() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "PostgreSQL server binaries not found; install the 'postgresql' package" >&2
        exit 1
    fi
    echo "installing PostgreSQL server (apt-get)…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
}

# PostgreSQL refuses to run as root: run it as the 'postgres' system user then.
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    BIN=$(find_bindir) || { install_server; BIN=$(find_bindir); }
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    if [ -f "$DIR/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
        echo "$URL"; return 0
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    as_owner "$BIN/initdb" -D "$DIR" -U auditd --auth=trust -E UTF8 --no-locale >"$DIR.initdb.log" 2>&1 \
        || { cat "$DIR.initdb.log" >&2; exit 1; }
    # A test server: durability off for speed; listening on loopback only.
    as_owner "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 start \
        -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
            -c full_page_writes=off -c max_connections=200 -c shared_buffers=256MB" >/dev/null
    as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U auditd auditd_test
    echo "$URL"
}

stop() {
    BIN=$(find_bindir) || exit 0
    if [ -d "$DIR" ]; then
        as_owner "$BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$DIR" "$DIR.initdb.log"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) echo "$URL" ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
