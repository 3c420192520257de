# Sourced by scripts/test and bench/run: start and stop a throwaway PostgreSQL cluster.
#
#   start_throwaway_postgres [extra postgres -c settings…]
#     installs Debian's postgresql package if missing (needs root), initialises a
#     cluster in a temp directory on a free port, starts it, and sets PG_ADMIN_URL.
#   stop_throwaway_postgres
#     stops it and removes the directory (safe to call twice; use it in a trap).

pg_dir=""

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_throwaway_postgres() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing PostgreSQL (Debian package postgresql)…" >&2
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      echo "PostgreSQL is not installed and I cannot install it (not root / no apt-get)." >&2
      return 1
    fi
  fi
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  pg_dir=$(mktemp -d /tmp/flywheel-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then chown postgres: "$pg_dir"; fi
  local port settings=""
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  for s in "$@"; do settings="$settings -c $s"; done
  as_pg "$PGBIN/initdb" -D "$pg_dir/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w start \
    -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 $settings" >/dev/null
  PG_ADMIN_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export PG_ADMIN_URL PGBIN
}

stop_throwaway_postgres() {
  if [ -n "$pg_dir" ] && [ -d "$pg_dir/data" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
  pg_dir=""
}
