# Sourced by scripts/bootstrap.sh and scripts/wheel_check.sh: one line per set-up step on the
# terminal ("==> what ... ok"), the step's own output (apt-get, dpkg, pip, build) in one log file.
# Needs ROOT. The log holds the last run: the first step of a run (one process tree) empties it.

SETUP_LOG="${DICOM_IDENTITY_SETUP_LOG:-$ROOT/.venv-setup.log}"

# step "what is happening" COMMAND [ARGS...]: runs COMMAND with its output in the log; on failure
# shows the log's last 30 lines and its path, and exits 1. COMMAND runs inside `if`, where bash
# ignores `set -e`: a function given here must chain its commands with && itself.
step() {
    local what="$1" rc
    shift
    if [ -z "${DICOM_IDENTITY_SETUP_LOG_STARTED:-}" ]; then
        : >"$SETUP_LOG"
        export DICOM_IDENTITY_SETUP_LOG_STARTED=1
    fi
    printf '==> %s ... ' "$what"
    printf '\n=== %s  %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$what" >>"$SETUP_LOG"
    if "$@" >>"$SETUP_LOG" 2>&1 </dev/null; then
        echo ok
        return 0
    else
        rc=$?
    fi
    echo "FAILED (exit $rc)"
    {
        echo "--- the last 30 lines of $SETUP_LOG:"
        tail -n 30 "$SETUP_LOG"
        echo "--- the whole log: $SETUP_LOG"
    } >&2
    exit 1
}
