#!/usr/bin/env bash
# Builds the deployable packages as `sam deploy` ships them, with no AWS account and no network
# beyond PyPI (docs/BENCHMARKS.md, "Package size"):
#   1. sam validate --lint: cfn-lint over template.yaml, locally (no AWS call);
#   2. sam build --beta-features: for each `BuildMethod: rust-cargolambda` function, SAM runs
#      `cargo lambda build --release --arm64 --bin NAME` in the function's CodeUri (zig links);
#   3. each function's zip, made by the SAM CLI's own zip routine, and its size against the goal.
# Each function must be built from its own crate's directory (its CodeUri): from the workspace root,
# cargo would resolve the features of every member, the tools' included, into the function.
#
# Settings (environment):
#   PACKAGE_MAX_BYTES  the size goal of each zip (default 4000000, 4 MB); over it, the script fails
# Output: .aws-sam/build/ (sam build) and .aws-sam/package/NAME.zip.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
max=${PACKAGE_MAX_BYTES:-4000000}
target=aarch64-unknown-linux-gnu

if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "package: the arm64 standard library is missing: rustup target add $target" >&2
  exit 1
fi
scripts/bootstrap.sh
# sam finds cargo-lambda, and cargo-lambda finds zig, on the PATH.
export PATH="$root/.venv/bin:$PATH"
# Nothing below calls AWS: no telemetry, and no credentials or region are needed.
export SAM_CLI_TELEMETRY=0

echo "== each rust-cargolambda function is built from its own crate" >&2
.venv/bin/python - template.yaml <<'EOF'
import os, sys, tomllib
from samcli.yamlhelper import yaml_parse

template = yaml_parse(open(sys.argv[1]).read())
default_uri = template.get("Globals", {}).get("Function", {}).get("CodeUri")
bad = []
for name, resource in template.get("Resources", {}).items():
    if resource.get("Type") != "AWS::Serverless::Function":
        continue
    if resource.get("Metadata", {}).get("BuildMethod") != "rust-cargolambda":
        continue
    uri = resource.get("Properties", {}).get("CodeUri", default_uri)
    manifest = os.path.join(str(uri), "Cargo.toml")
    if not os.path.isfile(manifest) or "package" not in tomllib.load(open(manifest, "rb")):
        bad.append(f"  {name}: CodeUri {uri!r} is not a crate's directory")
if bad:
    print("package: cargo would unify every workspace member's features into these functions:",
          *bad, "  set each one's CodeUri to its crate (functions/<name>)", sep="\n", file=sys.stderr)
    sys.exit(1)
EOF

echo "== sam validate --lint" >&2
sam validate --lint --template template.yaml

echo "== sam build --beta-features" >&2
sam build --beta-features --template template.yaml

echo "== zipped packages" >&2
mkdir -p .aws-sam/package
.venv/bin/python - "$max" <<'EOF'
import os, sys, zipfile
from samcli.lib.package.utils import make_zip

limit = int(sys.argv[1])
build = ".aws-sam/build"
over = []
rows = []
for name in sorted(os.listdir(build)):
    folder = os.path.join(build, name)
    if not os.path.isfile(os.path.join(folder, "bootstrap")):
        continue
    archive = make_zip(os.path.join(".aws-sam/package", name), folder)
    size = os.path.getsize(archive)
    unzipped = sum(i.file_size for i in zipfile.ZipFile(archive).infolist())
    rows.append(f"  {name:<20} {size:>10,} bytes zipped ({size / 1e6:.2f} MB), {unzipped:,} unzipped")
    if size > limit:
        over.append(name)
if not rows:
    sys.exit("package: sam build produced no function")
print(f"Packages, zipped as sam deploy uploads them (goal: <= {limit:,} bytes each)")
print(*rows, sep="\n")
if over:
    sys.exit(f"package: over the goal: {', '.join(over)}")
EOF
