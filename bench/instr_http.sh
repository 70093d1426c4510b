#!/bin/sh
# Instructions per HTTP exchange in TREE (cachegrind, exact): bench/instr_http.sh TREE [N]
set -e
tree=$(cd "$1" && pwd)
n=${2:-500}
py=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
count() {
    PYTHONPATH="$tree" valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$py" "$(dirname "$0")/instr_http.py" "$1" 2>&1 >/dev/null | sed -n 's/.*I *refs: *//p' | tr -d ,
}
one=$(count "$n")
three=$(count $((3 * n)))
echo "http exchange $(( (three - one) / (8 * n) ))"
