#!/usr/bin/env bash
# Installs the project's build, lint and test tools into .tools/venv, at the exact versions pinned in
# infra/tools/requirements.txt: SAM CLI, cfn-lint (+ cfn-lint-serverless), cargo-lambda and the zig it links
# with, moto (server mode, for integration tests), boto3 and pytest. Nothing outside .tools/ is touched, except
# that the Rust std for aarch64-unknown-linux-gnu is added through rustup when it is missing (best effort: the
# arm64 Lambda build needs it; everything else works without it).
#
# Idempotent and quick to re-run: a stamp keyed on the lock file, the pip version and the Python version
# says whether the venv is already what the lock asks for.
#
#   infra/tools/install.sh            install (or do nothing when up to date)
#   infra/tools/install.sh --force    rebuild the venv even when the stamp matches
#   infra/tools/install.sh --relock   resolve requirements.in afresh and rewrite requirements.txt
#
# Environment: PYTHON (interpreter to build the venv with, default python3), TOOLS_DIR (default <repo>/.tools).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools_dir="${TOOLS_DIR:-$root/.tools}"
venv="$tools_dir/venv"
python="${PYTHON:-python3}"
pip_version="25.3"
requirements_in="$here/requirements.in"
lock="$here/requirements.txt"
arm64_target="aarch64-unknown-linux-gnu"

mode="install"
case "${1:-}" in
  "") ;;
  --force) mode="force" ;;
  --relock) mode="relock" ;;
  *) echo "usage: $0 [--force|--relock]" >&2; exit 2 ;;
esac

log() { printf 'install.sh: %s\n' "$*" >&2; }

py_version="$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
  || { log "Python >= 3.9 needed (SAM CLI), found $py_version at $(command -v "$python")"; exit 1; }

# A fresh venv with the pinned pip; the old one, if any, goes first so nothing unpinned lingers.
new_venv() {
  rm -rf "$venv"
  mkdir -p "$tools_dir"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "pip==$pip_version"
}

pip_install() {
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$@"
}

if [[ "$mode" == "relock" ]]; then
  log "resolving $requirements_in afresh"
  new_venv
  pip_install -r "$requirements_in"
  "$venv/bin/python" -m pip check
  {
    echo "# Full lock of infra/tools/requirements.in, written by \`infra/tools/install.sh --relock\` (pip freeze)."
    echo "# Python $py_version, pip $pip_version. Edit requirements.in, not this file."
    "$venv/bin/python" -m pip freeze --all --exclude pip --exclude setuptools --exclude wheel
  } >"$lock"
  rm -f "$tools_dir/venv.stamp"
  log "wrote $lock; run again without --relock to install from it"
  exit 0
fi

stamp="$tools_dir/venv.stamp"
key="$( (cat "$lock"; echo "pip==$pip_version"; echo "python==$py_version") | sha256sum | cut -d' ' -f1)"

if [[ "$mode" == "install" && -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
  log "tools up to date in ${venv#"$root"/}"
else
  start=$SECONDS
  log "installing pinned tools into ${venv#"$root"/} (Python $py_version)"
  rm -f "$stamp"
  new_venv
  pip_install -r "$lock"
  "$venv/bin/python" -m pip check >/dev/null
  # Smoke-test every entry point the Makefile uses, so a broken install fails here and not mid-build.
  "$venv/bin/sam" --version >/dev/null
  "$venv/bin/cfn-lint" --version >/dev/null
  "$venv/bin/python" -c 'import cfn_lint_serverless.rules, moto, boto3, pytest'
  "$venv/bin/python" -m ziglang version >/dev/null
  PATH="$venv/bin:$PATH" cargo lambda --version >/dev/null
  echo "$key" >"$stamp"
  log "installed in $((SECONDS - start)) s"
fi

# The arm64 build links against the aarch64 std. rustup adds it when its distribution server is reachable;
# when it is not, only the arm64 build is affected, so warn instead of failing.
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed 2>/dev/null | grep -qx "$arm64_target"; then
    log "adding the Rust std for $arm64_target (needed by \`make build\`)"
    rustup target add "$arm64_target" >&2 \
      || log "WARNING: could not add $arm64_target through rustup; \`make build\` (arm64) will not work here"
  fi
else
  log "WARNING: rustup not found; cannot check for the $arm64_target std that \`make build\` needs"
fi
