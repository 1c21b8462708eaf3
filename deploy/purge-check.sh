#!/usr/bin/env bash
# The fresh-machine check: proves that both README commands work on a Debian 12
# machine that has only the machine image's packages plus what the project's own
# scripts install.
#
#   deploy/purge-check.sh IMAGE-PACKAGES [--yes]
#
# IMAGE-PACKAGES is the image's package list (lines `apt<TAB>NAME<TAB>VERSION`; other
# lines are ignored). Steps:
#   1. Keep = the image's Debian packages + deploy/install-deps.sh's list + everything
#      those depend on (Depends/Pre-Depends, recursively; Recommends do not keep a
#      package, because install-deps.sh installs with --no-install-recommends).
#   2. Purge every other installed package (apt-get autoremove --purge after marking
#      the keep set manual and the rest automatic). Without --yes it only lists them.
#   3. From a fresh clone of this repository's HEAD: `deploy/demo.sh --check` (the
#      README's first command, checked and stopped), then `bash .ci/run` (the second).
# It prints what it purged and whether each command passed; exit 0 only if both did.
# Destructive on purpose: run it on a machine you are willing to strip.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIST="${1:-}"
YES="${2:-}"
if [ -z "$LIST" ] || [ ! -f "$LIST" ]; then
  echo "usage: deploy/purge-check.sh IMAGE-PACKAGES [--yes]  (the image's package list)" >&2
  exit 2
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
LOG="${PURGE_CHECK_LOG:-/tmp/camplane-purge-check}"
mkdir -p "$LOG"

# install-deps.sh's own list: the words of its PKGS=( ... ) array, comments dropped.
deps=$(sed -n '/^PKGS=(/,/^)/p' "$ROOT/deploy/install-deps.sh" | sed -e 's/#.*//' -e 's/PKGS=(//' -e 's/)//' | tr -s ' \t' '\n' | sed '/^$/d')
image=$(awk -F'\t' '$1 == "apt" { sub(/:.*/, "", $2); print $2 }' "$LIST")
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort -u)
# Image packages are marked manual only if installed; an image package that is
# missing here is reported (this machine is not the image) but not installed.
keep_roots=$(printf '%s\n%s\n' "$image" "$deps" | sort -u)
missing=$(comm -23 <(printf '%s\n' "$image" | sort -u) <(printf '%s\n' "$installed"))
manual=$(comm -12 <(printf '%s\n' "$keep_roots") <(printf '%s\n' "$installed"))
auto=$(comm -13 <(printf '%s\n' "$keep_roots") <(printf '%s\n' "$installed"))

apt_opts=(-o APT::AutoRemove::RecommendsImportant=false -o APT::AutoRemove::SuggestsImportant=false)
printf '%s\n' "$auto" | sed '/^$/d' > "$LOG/auto.txt"
printf '%s\n' "$manual" | sed '/^$/d' > "$LOG/manual.txt"
echo "purge-check: $(wc -l < "$LOG/manual.txt") packages kept as roots (image + install-deps.sh),"
echo "             $(wc -l < "$LOG/auto.txt") others installed; image packages absent here: $(printf '%s\n' "$missing" | sed '/^$/d' | wc -l)"

# The marks go to a copy of apt's state first, so a dry run changes nothing here.
cp /var/lib/apt/extended_states "$LOG/extended_states" 2>/dev/null || : > "$LOG/extended_states"
states=(-o "Dir::State::extended_states=$LOG/extended_states")
apt-mark "${states[@]}" manual $(cat "$LOG/manual.txt") >/dev/null
if [ -s "$LOG/auto.txt" ]; then apt-mark "${states[@]}" auto $(cat "$LOG/auto.txt") >/dev/null; fi
# What autoremove would take: installed, automatic, and needed by no kept package.
apt-get -s "${states[@]}" "${apt_opts[@]}" autoremove --purge 2>/dev/null | awk '/^Purg / { print $2 }' | sort > "$LOG/purge.txt"
echo "purge-check: to purge ($(wc -l < "$LOG/purge.txt")): $(tr '\n' ' ' < "$LOG/purge.txt")"
if [ "$YES" != "--yes" ]; then
  echo "purge-check: dry run (pass --yes to purge and run both README commands)"
  exit 0
fi
if [ -s "$LOG/purge.txt" ]; then
  $SUDO cp "$LOG/extended_states" /var/lib/apt/extended_states
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -y -qq "${apt_opts[@]}" autoremove --purge > "$LOG/purge.log" 2>&1
fi

# Both README commands from a fresh clone of HEAD.
clone=$(mktemp -d /tmp/camplane-fresh.XXXXXX)
git clone -q "$ROOT" "$clone/camplane"
# The data and specs live beside the repository, as in a developer's checkout.
[ -e "$ROOT/../shared" ] && ln -s "$(cd "$ROOT/../shared" && pwd)" "$clone/shared"
cd "$clone/camplane"
status=0
if CAMPLANE_DEMO_DIR="$clone/demo-data" deploy/demo.sh --check > "$LOG/demo.log" 2>&1; then
  echo "purge-check: deploy/demo.sh: passed"
else
  echo "purge-check: deploy/demo.sh: FAILED (log: $LOG/demo.log)"; tail -n 20 "$LOG/demo.log"; status=1
fi
if bash .ci/run > "$LOG/ci.log" 2>&1; then
  echo "purge-check: bash .ci/run: passed ($(tail -n 1 "$LOG/ci.log"))"
else
  echo "purge-check: bash .ci/run: FAILED (log: $LOG/ci.log)"; tail -n 30 "$LOG/ci.log"; status=1
fi
echo "purge-check: installed by the project's scripts during the run:"
comm -13 <(printf '%s\n' "$installed" | comm -23 - "$LOG/purge.txt") \
  <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort -u) | tr '\n' ' '; echo
exit "$status"
