# Shared by scripts/*: install what is missing, start dockerd, build shoal. Source it; don't run it.
# Everything is idempotent: a second run finds things done and says so briefly.

SHOAL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHOAL_BUILD="${SHOAL_BUILD:-$SHOAL_ROOT/build}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian 12 packages shoal builds, tests and runs with.
SHOAL_PACKAGES=(g++ cmake make pkg-config git ca-certificates openssl curl iproute2 iptables
  libgit2-dev libyaml-cpp-dev libsqlite3-dev libspdlog-dev libgtest-dev libgmock-dev libssl-dev
  libcurl4-openssl-dev nlohmann-json3-dev libboost-dev docker.io busybox-static sqlite3 etcd-server binutils)

ensure_packages() {
  local missing=()
  for p in "${SHOAL_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}); run as root or install them"
    say "installing ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
      || die "apt-get install failed"
  fi
}

docker_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# Starts dockerd when no daemon answers (CI and fresh machines have none running).
ensure_dockerd() {
  docker_up && return 0
  command -v dockerd >/dev/null || die "dockerd not found (package docker.io)"
  say "starting dockerd (log: /var/log/shoal-dockerd.log)"
  nohup dockerd >/var/log/shoal-dockerd.log 2>&1 &
  for _ in $(seq 1 150); do docker_up && return 0; sleep 0.2; done
  tail -20 /var/log/shoal-dockerd.log >&2
  die "dockerd did not answer within 30 s"
}

# Configures (once) and builds shoal; extra args go to cmake --build (e.g. --target shoal).
build_shoal() {
  if [ ! -f "$SHOAL_BUILD/CMakeCache.txt" ]; then
    say "configuring $SHOAL_BUILD"
    cmake -S "$SHOAL_ROOT" -B "$SHOAL_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || die "cmake failed"
  fi
  say "building shoal (first build takes several minutes on 2 cores)"
  cmake --build "$SHOAL_BUILD" -j"$(nproc)" "$@" || die "build failed"
}

# The local base image app Dockerfiles start FROM: busybox-static in an empty image.
ensure_base_image() {
  docker image inspect shoal/busybox:local >/dev/null 2>&1 && return 0
  "$SHOAL_ROOT/scripts/base-image"
}
