#!/usr/bin/env bash
# Runs the steps of `make test` in order, stopping at the first that fails, and prints each one's time at the end
# (also written to target/make-test-steps.txt), so that a slower step shows.
#
#   infra/tools/test-steps.sh [--beside STEP]... STEP...
#
# A step given with --beside starts at once in the background (its output in target/make-test-STEP.log, printed
# when it ends) and must have succeeded before the first step after the build: `tools` installs the pinned Python
# tools (about two minutes of mostly downloading and unpacking) while cargo compiles, which needs none of them.
set -uo pipefail
cd "$(dirname "$0")/../.."
make="${MAKE:-make} --no-print-directory"
times=target/make-test-steps.txt
mkdir -p target
: >"$times"

beside=()
while [[ "${1:-}" == "--beside" ]]; do beside+=("$2"); shift 2; done
# Steps that need what a --beside step makes: everything from the first step that runs tests.
needs_beside=(unit-test lint-template e2e)

started=$SECONDS
pids=()
for step in "${beside[@]}"; do
  (t0=$SECONDS; $make "$step" >"target/make-test-$step.log" 2>&1; rc=$?
   echo "$rc $((SECONDS - t0))" >"target/make-test-$step.rc") &
  pids+=($!)
done

record() { printf '%-15s %5d s%s\n' "$1" "$2" "${3:-}" | tee -a "$times" >/dev/null; }

wait_beside() {
  local i step rc secs
  for i in "${!beside[@]}"; do
    step=${beside[$i]}
    wait "${pids[$i]}"
    read -r rc secs <"target/make-test-$step.rc"
    echo "== $step (ran beside the build)"; cat "target/make-test-$step.log"
    if [[ "$rc" != 0 ]]; then record "$step" "$secs" "  FAILED (beside the build)"; return 1; fi
    record "$step" "$secs" "  (beside the build)"
  done
  beside=()
}

status=0
for step in "$@"; do
  if [[ ${#beside[@]} -gt 0 && " ${needs_beside[*]} " == *" $step "* ]]; then
    wait_beside || { status=1; break; }
  fi
  t0=$SECONDS
  if ! $make "$step"; then status=1; record "$step" $((SECONDS - t0)) "  FAILED"; break; fi
  record "$step" $((SECONDS - t0))
done
[[ ${#beside[@]} -gt 0 ]] && { wait_beside || status=1; }
record total $((SECONDS - started))
echo; echo "== make test: time per step"; cat "$times"
exit $status
