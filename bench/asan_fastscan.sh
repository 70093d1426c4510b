#!/usr/bin/env bash
# The native history scanner (invariants/_fastscan.c) under AddressSanitizer
# and UndefinedBehaviorSanitizer: builds the extension with the sanitizers
# into a temporary directory (the worktree's own build is left alone), makes
# it the one `invariants.fast` imports, and runs tests/test_fastscan.py with
# a long fuzz budget. Any out-of-bounds read or write, use after free or
# undefined behaviour aborts the run with the sanitizer's report; a history
# the native path answers differently from the reference fails a test.
#
#   bench/asan_fastscan.sh                 # 5000 fuzz examples per fuzz test
#   FUZZ_EXAMPLES=20000 bench/asan_fastscan.sh -k fuzz
#
# Extra arguments go to pytest. Needs gcc (libasan, libubsan) and the venv
# (make .venv/.installed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CC=${CC:-gcc}
tmp=$(mktemp -d)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT

suffix=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
include=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
so="$tmp/_fastscan$suffix"
"$CC" -shared -fPIC -g -O1 -fno-omit-frame-pointer \
    -fsanitize=address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -I"$include" invariants/_fastscan.c -o "$so"

# A pytest plugin that loads the sanitized build as invariants._fastscan
# before anything imports the package, and refuses to run without it.
cat > "$tmp/asan_fastscan_plugin.py" <<EOF
import importlib.util, sys

spec = importlib.util.spec_from_file_location("invariants._fastscan", "$so")
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
sys.modules["invariants._fastscan"] = mod

from invariants import fast  # noqa: E402

assert fast._fastscan is mod, "the sanitized scanner was not the one imported"
EOF

export LD_PRELOAD="$("$CC" -print-file-name=libasan.so) $("$CC" -print-file-name=libubsan.so)"
# Python's own allocations are not instrumented and live until exit: leaks
# are checked separately (tests/test_fastscan.py, RSS over 10,000 scans).
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# every Python object from malloc, so a read past the end of even a small bytes object hits a redzone
export PYTHONMALLOC=malloc
export PYTHONPATH="$tmp${PYTHONPATH:+:$PYTHONPATH}"
export CHATSIM_REQUIRE_NATIVE=1
export CHATSIM_FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-5000}
# -s: a sanitizer report goes to stderr as the process dies; pytest must not be holding it
"$PY" -m pytest -p no:xdist -p no:cacheprovider -p asan_fastscan_plugin -q -s tests/test_fastscan.py "$@"
echo "asan_fastscan: sanitized scanner passed (${CHATSIM_FUZZ_EXAMPLES} fuzz examples per fuzz test)"
