#!/bin/sh
# Instructions of one small run in TREE (cachegrind, exact): bench/instr_small.sh TREE SCENARIO ARCH
# Prints "SCENARIO ARCH <instructions per run>": (count of 3 runs - count of 1) / 2.
set -e
tree=$(cd "$1" && pwd)
py=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
count() {
    PYTHONPATH="$tree" valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$py" "$(dirname "$0")/instr_small.py" "$2" "$3" "$1" 2>&1 >/dev/null | sed -n 's/.*I *refs: *//p' | tr -d ,
}
one=$(count 1 "$2" "$3")
three=$(count 3 "$2" "$3")
echo "$2 $3 $(( (three - one) / 2 ))"
