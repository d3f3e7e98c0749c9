#!/usr/bin/env bash
# Installs the project's local tools into ./.venv: moto (DynamoDB and SQS protocol server),
# cfn-lint, cargo-lambda with zig, and the SAM CLI, all from PyPI (requirements-dev.txt). Safe to run
# repeatedly; does nothing when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.requirements"
if [ -x "$venv/bin/python" ] && cmp -s requirements-dev.txt "$stamp"; then
  exit 0
fi
echo "bootstrap: installing local tools into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
cp requirements-dev.txt "$stamp"
