# Shared helpers for scripts/*: repo root, logging, Node dependencies.
# Sourced, not run. Everything a fresh machine needs is installed from here.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUN="$ROOT/node_modules/.bin/bun"

say() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Installs npm packages when node_modules is missing or older than the lock file.
# Bun itself comes from npm (devDependency); its binary works without postinstall.
ensure_node_deps() {
  command -v npm >/dev/null || die "npm is required (install Node.js 20+ and npm)"
  local stamp="$ROOT/node_modules/.package-lock.json"
  if [ ! -x "$BUN" ] || [ ! -f "$stamp" ] || [ "$ROOT/package-lock.json" -nt "$stamp" ]; then
    say "installing npm packages (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  fi
  "$BUN" --version >/dev/null 2>&1 || die "bun from node_modules does not run; remove node_modules and retry"
}

# Deno from npm (devDependency `deno`): its binary ships in the optional
# dependency @deno/linux-x64-glibc, so no postinstall is needed. Exports DENO
# (the real binary, not the npm shim) and checks that it runs. Deno uses
# the npm-installed node_modules through deno.json ("nodeModulesDir": "manual").
ensure_deno() {
  ensure_node_deps
  DENO="$ROOT/node_modules/@deno/linux-x64-glibc/deno"
  [ -x "$DENO" ] || die "deno binary missing at $DENO (only linux-x64 glibc is packaged); run npm ci and retry"
  "$DENO" --version >/dev/null 2>&1 || die "deno from node_modules does not run ($DENO); remove node_modules and retry"
  export DENO
}

# Installs Debian packages that are missing. Needs root (or sudo) and apt.
APT_UPDATED=""
ensure_debian_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  say "installing Debian packages: ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then
    $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# Debian's iproute2 (`ip`, `tc`) for the mesh benchmark's shaped links
# (network namespaces joined by a rate-limited veth pair).
ensure_iproute2() {
  command -v ip >/dev/null && command -v tc >/dev/null && return 0
  ensure_debian_packages iproute2
}

# Debian's chromium for the browser tests (web/*.browser.test.ts drive it with
# playwright-core; no browser is ever downloaded).
ensure_chromium() {
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || ensure_debian_packages chromium
}

# Debian's OpenSSH server for the SSH adapter's tests (crates/fabric-ssh):
# each test starts its own `sshd -D` as the current user on a free loopback
# port with a config in a temporary folder; nothing here uses port 22. On a
# systemd machine the package starts and enables the system `ssh` service;
# when this function installed the package it stops and disables that
# service again, so no system sshd lingers because of the tests.
ensure_sshd() {
  [ -x /usr/sbin/sshd ] && return 0
  ensure_debian_packages openssh-server
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    $sudo systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || say "could not stop the system ssh service (harmless: the tests never use it)"
  fi
}

# Debian's RDP servers and X tools for the RDP tests (fixtures/rdp/): each test
# starts its own FreeRDP shadow server on an Xvfb, or xrdp + xrdp-sesman with
# xorgxrdp inside a private mount/pid namespace, on free loopback ports with
# configs in a temporary folder; xfreerdp is the reference client. Nothing
# here uses port 3389 or 3350. On a systemd machine the xrdp package starts
# and enables the system xrdp and xrdp-sesman services (elsewhere its init
# script may start them); when this function installed the package it stops
# and disables them again, so no system RDP server lingers because of the tests.
RDP_TEST_PACKAGES=(xvfb freerdp2-shadow-x11 freerdp2-x11 xrdp xorgxrdp x11-apps x11-utils xterm xclip xdotool openssl)
ensure_rdp_servers() {
  local tool have=1
  for tool in Xvfb freerdp-shadow-cli xfreerdp xrdp xrdp-sesman xwud xwd xwininfo xclock xterm xclip xdotool openssl setpriv unshare; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || have=""
  done
  [ -f /etc/X11/xrdp/xorg.conf ] || have=""
  [ -n "$have" ] && return 0
  ensure_debian_packages "${RDP_TEST_PACKAGES[@]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    $sudo systemctl disable --now xrdp.service xrdp-sesman.service >/dev/null 2>&1 \
      || say "could not stop the system xrdp services (harmless: the tests never use them)"
  elif [ -x /etc/init.d/xrdp ]; then
    $sudo /etc/init.d/xrdp stop >/dev/null 2>&1 || true
    if command -v update-rc.d >/dev/null; then $sudo update-rc.d xrdp disable >/dev/null 2>&1 || true; fi
  fi
}

# Debian's OpenLDAP server for the LDAP identity source's tests
# (fixtures/slapd.ts): each test starts its own `slapd -d 0` as the current
# user on a free loopback port, with a throw-away configuration and database
# in a temporary folder. `ldap-utils` brings `slappasswd`. The package's own
# configuration step starts a system slapd (systemd, or its init script
# elsewhere); when this function installed the package it stops that service
# and disables it, so no system slapd lingers because of the tests.
ensure_slapd() {
  [ -x /usr/sbin/slapd ] && [ -x /usr/sbin/slappasswd ] && return 0
  # No questions: the tests never use the package's own database.
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "slapd slapd/no_configuration boolean true" | $sudo debconf-set-selections 2>/dev/null || true
  ensure_debian_packages slapd ldap-utils
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    $sudo systemctl disable --now slapd.service >/dev/null 2>&1 || say "could not stop the system slapd service (harmless: the tests never use it)"
  elif [ -x /etc/init.d/slapd ]; then
    $sudo /etc/init.d/slapd stop >/dev/null 2>&1 || true
  fi
}

# Debian's userspace WireGuard and tools plus iperf3 for the VPN data-path
# tests and benchmark (crates/fabric-tun, fixtures/netns.ts). The kernel here
# may lack the WireGuard module, so the office gateway runs `wireguard-go`
# (a TUN-backed WireGuard) configured with `wg`; iperf3 measures throughput
# and `ping` (iputils-ping) checks reachability.
ensure_vpn_tools() {
  ensure_iproute2
  command -v wireguard-go >/dev/null && command -v wg >/dev/null && command -v iperf3 >/dev/null && command -v ping >/dev/null && command -v nft >/dev/null && return 0
  # nftables: the owner's per-connection forward rules and internet egress NAT (agent/vpn/egress-rules.ts).
  ensure_debian_packages wireguard-go wireguard-tools iperf3 iputils-ping nftables
}

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# Builds the Rust napi addons (release) from source and puts each where its
# TypeScript wrapper loads it: crates/<name>/<name>.node. Needs cargo (rustup).
ensure_native() {
  command -v cargo >/dev/null || die "cargo is required to build crates/ (install Rust with rustup)"
  say "building native crates (cargo build --release)"
  (cd "$ROOT" && cargo build --release --quiet -p fabric-quic) || die "cargo build failed"
  install -m 0755 "$ROOT/target/release/libfabric_quic.so" "$ROOT/crates/fabric-quic/fabric-quic.node"
  # The entry's test harness (target/release/entry-harness) for the access client's tests.
  (cd "$ROOT" && cargo build --release --quiet -p fabric-entry --features harness --bin entry-harness) || die "cargo build of entry-harness failed"
}
