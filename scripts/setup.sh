#!/usr/bin/env bash
# Installs the Debian packages lmul needs to build, test and benchmark.
# Idempotent: packages already present are not reinstalled; apt runs only when
# something is missing.
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config python3 python3-pip python3-venv python3-dev
      unzip ca-certificates ccache git
      libgtest-dev libgmock-dev libbenchmark-dev libhwy-dev libopenblas-dev libcli11-dev
      nlohmann-json3-dev libfmt-dev iverilog yosys verilator nextpnr-ice40
      libcpp-httplib-dev slurm-wlm munge
      clang libclang-rt-dev)  # clang + its runtimes: libFuzzer and sanitizers for scripts/fuzz.sh
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log="$(mktemp /tmp/lmul-setup-apt.XXXXXX)"
  apt_install() {
    $SUDO apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >>"$log" 2>&1
  }
  # One retry: a package's maintainer script can fail transiently (seen once on a fresh
  # Debian 12 root: "dpkg returned an error code (1)", then the same install succeeded).
  if ! apt_install; then
    echo "setup: apt-get install failed; its last lines (full log: $log):" >&2
    grep -v '^\(Get\|Selecting\|Preparing\|Unpacking\):\?' "$log" | tail -n 15 >&2
    echo "setup: retrying once after dpkg --configure -a" >&2
    DEBIAN_FRONTEND=noninteractive $SUDO dpkg --configure -a >>"$log" 2>&1 || true
    apt_install || {
      echo "setup: apt-get install failed twice; see $log (hint: run it by hand: apt-get install ${missing[*]})" >&2
      exit 1
    }
  fi
  rm -f "$log"
fi
