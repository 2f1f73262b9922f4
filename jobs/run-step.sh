# shellcheck shell=bash disable=SC2154  # out and np are the caller's
# Sourced by the mpirun job scripts (jobs/pipeline.sh, jobs/regressor-study.sh), after
# jobs/mpirun-flags.sh. disa_run_step NAME COMMAND... runs one step of the job, timed, with
# its output in $out/logs/NAME.log (the caller sets $out, and $np for `mpirun_np`, a first
# word that becomes `mpirun $DISA_MPIRUN_FLAGS -np $np`). On failure it prints the log's
# last lines and exits 1. Lines of the log matching $DISA_STEP_ECHO (an ERE; unset: none)
# are echoed after the step. With DISA_DRY_RUN=1 it prints the shell-quoted command line
# instead of running it.
disa_run_step() {
  local name=$1
  shift
  if [ "$1" = mpirun_np ]; then
    shift
    # shellcheck disable=SC2086
    set -- mpirun $DISA_MPIRUN_FLAGS -np "$np" "$@"
  fi
  if [ "${DISA_DRY_RUN:-0}" = 1 ]; then
    local line
    line=$(printf '%q ' "$@")
    printf '%s\n' "${line% }"
    return 0
  fi
  local t0 log="$out/logs/$name.log"
  t0=$(date +%s)
  mkdir -p "$out/logs"
  echo "== $name: $*"
  "$@" >"$log" 2>&1 || { tail -n 30 "$log"; echo "== $name failed (log: $log)"; exit 1; }
  if [ -n "${DISA_STEP_ECHO:-}" ]; then grep -E "$DISA_STEP_ECHO" "$log" | grep -v '^|' | tail -n 4 || true; fi
  echo "== $name: $(($(date +%s) - t0)) s"
}
