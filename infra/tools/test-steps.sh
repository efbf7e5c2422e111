#!/usr/bin/env bash
# Runs the steps of `make test` in order, stopping at the first that fails, and prints each one's time at the end
# (also written to target/make-test-steps.txt), so that a slower step shows.
#
#   infra/tools/test-steps.sh [--beside STEP]... STEP...
#
# A step given with --beside starts at once in the background and must have succeeded before the first step that
# runs tests: `tools` installs the pinned Python tools (about two minutes of mostly downloading and unpacking) while
# cargo compiles, which needs none of them. Steps joined with `+` (`unit-test+e2e`) run at the same time: the
# integration and end-to-end tests spend most of their time waiting on moto, timeouts and queues, not on the CPU.
# The output of a step that runs beside others is kept in target/make-test-STEP.log and printed when it ends.
set -uo pipefail
cd "$(dirname "$0")/../.."
make="${MAKE:-make} --no-print-directory"
times=target/make-test-steps.txt
mkdir -p target
: >"$times"

beside=()
while [[ "${1:-}" == "--beside" ]]; do beside+=("$2"); shift 2; done

record() { printf '%-28s %5d s%s\n' "$1" "$2" "${3:-}" >>"$times"; }

# Starts `step` in the background (its pid in $started_pid); status and seconds go to target/make-test-STEP.rc.
start() {
  local step=$1
  (t0=$SECONDS; $make "$step" >"target/make-test-$step.log" 2>&1; rc=$?
   echo "$rc $((SECONDS - t0))" >"target/make-test-$step.rc") &
  started_pid=$!
}

# Waits for a step started with `start`, prints its output, records its time; fails if it failed.
finish() {
  local step=$1 pid=$2 note=$3 rc secs
  wait "$pid"
  read -r rc secs <"target/make-test-$step.rc"
  echo "== $step ($note)"; cat "target/make-test-$step.log"
  if [[ "$rc" != 0 ]]; then record "$step" "$secs" "  FAILED ($note)"; return 1; fi
  record "$step" "$secs" "  ($note)"
}

started=$SECONDS
beside_pids=()
for step in "${beside[@]}"; do start "$step"; beside_pids+=("$started_pid"); done
wait_beside() {
  local i ok=0
  for i in "${!beside[@]}"; do finish "${beside[$i]}" "${beside_pids[$i]}" "beside the build" || ok=1; done
  beside=()
  return $ok
}

status=0
for group in "$@"; do
  IFS=+ read -r -a steps <<<"$group"
  # What runs beside the build must be done before any step that runs tests.
  if [[ ${#beside[@]} -gt 0 && "$group" =~ (unit-test|lint-template|e2e) ]]; then
    wait_beside || { status=1; break; }
  fi
  t0=$SECONDS
  if [[ ${#steps[@]} == 1 ]]; then
    if ! $make "$group"; then status=1; record "$group" $((SECONDS - t0)) "  FAILED"; break; fi
    record "$group" $((SECONDS - t0))
    continue
  fi
  pids=()
  for step in "${steps[@]}"; do start "$step"; pids+=("$started_pid"); done
  for i in "${!steps[@]}"; do finish "${steps[$i]}" "${pids[$i]}" "at the same time as ${group//+/, }" || status=1; done
  record "$group" $((SECONDS - t0)) "  (together)"
  [[ $status == 0 ]] || break
done
[[ ${#beside[@]} -gt 0 ]] && { wait_beside || status=1; }
record total $((SECONDS - started))
echo; echo "== make test: time per step"; cat "$times"
exit $status
