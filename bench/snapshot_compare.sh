#!/bin/sh
# Compare the committed tree at HEAD (a snapshot, so work can go on meanwhile)
# against recorded histories:  bench/snapshot_compare.sh BASELINE_DIR [LOG]
set -e
root=$(git rev-parse --show-toplevel)
rev=$(git rev-parse --short HEAD)
snap=$(mktemp -d /tmp/chatsim-snap-$rev.XXXX)
git -C "$root" archive HEAD | tar -x -C "$snap"
cd "$snap"
PYTHONPATH="$snap" "$root/.venv/bin/python" bench/histories.py compare "$1"
