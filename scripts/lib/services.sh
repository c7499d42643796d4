# Throw-away PostgreSQL and Redis servers on free loopback ports, in a temp
# dir, for scripts/test and scripts/bench. Sourced. Call start_services, then
# stop_services (scripts set an EXIT trap). Exports TEST_DATABASE_URL and
# TEST_REDIS_URL.

SERVICES_DIR=""
PG_BIN=""

find_pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { PG_BIN="$d"; return 0; }
  done
  return 1
}

# initdb refuses to run as root; Debian's package creates the postgres user.
as_pg_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_services() {
  find_pg_bin || { ensure_debian_packages postgresql; find_pg_bin || die "PostgreSQL binaries not found after install"; }
  command -v redis-server >/dev/null || ensure_debian_packages redis-server
  SERVICES_DIR="$(mktemp -d /tmp/rap-services.XXXXXX)"
  chmod 755 "$SERVICES_DIR"
  mkdir -p "$SERVICES_DIR/pg" "$SERVICES_DIR/redis"
  [ "$(id -u)" -eq 0 ] && chown postgres "$SERVICES_DIR/pg"

  local pg_port redis_port
  pg_port="$(free_port)"
  as_pg_user "$PG_BIN/initdb" -D "$SERVICES_DIR/pg/data" -U rap --auth=trust -E UTF8 --no-sync >"$SERVICES_DIR/initdb.log" 2>&1 \
    || { cat "$SERVICES_DIR/initdb.log" >&2; die "initdb failed"; }
  # Tests turn durability off (the server is thrown away); benchmarks set PG_DURABLE=1 to
  # measure with commits that really reach the disk. max_connections covers several pools.
  local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [ "${PG_DURABLE:-0}" = "1" ] && durability=""
  as_pg_user "$PG_BIN/pg_ctl" -D "$SERVICES_DIR/pg/data" -l "$SERVICES_DIR/pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $SERVICES_DIR/pg $durability -c max_connections=300 -c shared_buffers=256MB" \
    start >/dev/null || { cat "$SERVICES_DIR/pg/server.log" >&2; die "PostgreSQL did not start"; }
  export TEST_DATABASE_URL="postgres://rap@127.0.0.1:$pg_port/postgres"

  redis_port="$(free_port)"
  redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --daemonize yes \
    --dir "$SERVICES_DIR/redis" --pidfile "$SERVICES_DIR/redis/redis.pid" --logfile "$SERVICES_DIR/redis/redis.log" \
    || die "redis-server did not start"
  local i
  for i in $(seq 1 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 || die "redis-server did not answer"
  export TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
  say "PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port (in $SERVICES_DIR)"
}

stop_services() {
  [ -n "$SERVICES_DIR" ] || return 0
  if [ -f "$SERVICES_DIR/pg/data/postmaster.pid" ]; then
    as_pg_user "$PG_BIN/pg_ctl" -D "$SERVICES_DIR/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -f "$SERVICES_DIR/redis/redis.pid" ]; then
    local redis_pid
    redis_pid="$(cat "$SERVICES_DIR/redis/redis.pid")"
    kill "$redis_pid" 2>/dev/null || true
    # Redis writes its dump on the way out: removing the folder under it fails ("Directory not empty").
    for _ in $(seq 50); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$SERVICES_DIR"
  SERVICES_DIR=""
}
