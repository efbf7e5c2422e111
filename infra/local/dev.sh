#!/usr/bin/env bash
# The local stack: moto + every function under `cargo lambda watch` + the SQS bridge (see infra/local/dev.py).
#
#   infra/local/dev.sh                 start in the foreground (make dev); Ctrl-C stops everything it started
#   infra/local/dev.sh --background    start and return once ready; stop with --stop (make dev-down)
#   infra/local/dev.sh --stop          stop the stack started from this checkout's .dev/ (or $JWH_DEV_DIR)
#   infra/local/dev.sh --status        whether it runs, and where
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="$root/.tools/venv/bin/python"

case "${1:-}" in
  --stop | --status)
    if [[ ! -x "$python" ]]; then
      echo "dev: no tools in .tools/venv, so no local stack was started from here" >&2
      exit 0
    fi
    ;;
  *)
    # Quick when the pinned tools are already installed (install.sh keeps a stamp of the lock).
    "$root/infra/tools/install.sh"
    ;;
esac

export PATH="$root/.tools/venv/bin:$PATH"
exec "$python" "$here/dev.py" "$@"
