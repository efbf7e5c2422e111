#!/usr/bin/env python3
"""Checks that the tests build the code that ships: one feature graph for `cargo test`, `make dev` and `make build`.

Cargo resolves a crate's features over everything one command selects. `cargo test --workspace` adds every
dev-dependency of every member; `make build` (SAM, cargo-lambda) builds each function on its own, with nothing but
its normal dependencies; `make dev` and the e2e step build every binary with `cargo build --workspace --bins`. A
feature that only a test turns on (serde_json's `preserve_order`, an SDK crate's `test-util`) makes the tests run a
different program from the deployed one, and compiles every crate above it twice.

For each function of template.yaml, and for the workspace's binaries, this compares the features each package gets
in the build that ships (or runs locally) with the ones it gets under `cargo test --workspace`, for the host and for
the Lambda target, and prints every difference. Exit status 1 when there is one.

    python3 infra/tools/feature_graph.py            # check (part of `make test`)
    python3 infra/tools/feature_graph.py --show F   # the resolved features of function F's shipped build
"""

from __future__ import annotations

import argparse
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAMBDA_TARGET = "aarch64-unknown-linux-gnu"


def host_target() -> str:
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return re.search(r"^host: (\S+)", out, re.M).group(1)


def functions() -> list[str]:
    """The packages of the template's functions (their `CodeUri` is functions/<dir>; the package is named there)."""
    template = (ROOT / "template.yaml").read_text()
    dirs = sorted(set(re.findall(r"CodeUri:\s*(functions/[\w-]+)", template)))
    names = []
    for d in dirs:
        manifest = (ROOT / d / "Cargo.toml").read_text()
        names.append(re.search(r'^name\s*=\s*"([^"]+)"', manifest, re.M).group(1))
    return names


def resolved(args: list[str], target: str) -> dict[str, str]:
    """{package id: its enabled features} under the resolution that `cargo tree args` selects."""
    cmd = ["cargo", "tree", "--locked", "--target", target, "--prefix", "none", "-f", "{p}|{f}", *args]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"feature_graph: {' '.join(cmd)} failed:\n{out.stderr}")
    packages: dict[str, set[str]] = {}
    for line in out.stdout.splitlines():
        line = line.removesuffix(" (*)").strip()
        if "|" not in line:
            continue
        pkg, feats = line.split("|", 1)
        pkg = re.sub(r" \((/|proc-macro).*\)$", "", pkg.strip())
        # A package built for the host (a build script's dependency) and for the target may differ; keep each.
        packages.setdefault(pkg, set()).add(feats.strip())
    return {p: " / ".join(sorted(f)) for p, f in packages.items()}


def feature_set(features: str) -> set[str]:
    """The features in `resolved`'s text for one package (comma-separated, `/` between its build kinds)."""
    return {f for f in re.split(r"[,/ ]+", features) if f}


def compare(what: str, shipped: dict[str, str], tested: dict[str, str]) -> list[str]:
    problems = []
    for pkg, feats in sorted(shipped.items()):
        other = tested.get(pkg)
        if other is None:
            problems.append(f"{what}: {pkg} is not in the test build")
        elif other != feats:
            extra = sorted(feature_set(other) - feature_set(feats))
            missing = sorted(feature_set(feats) - feature_set(other))
            problems.append(f"{what}: {pkg}: under cargo test {'+' + ','.join(extra) if extra else ''}"
                            f"{' -' + ','.join(missing) if missing else ''} (shipped: {feats or 'none'})")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", metavar="PACKAGE", help="print the shipped features of one package's build")
    args = parser.parse_args()
    if args.show:
        for pkg, feats in sorted(resolved(["-p", args.show, "-e", "normal,build"], LAMBDA_TARGET).items()):
            print(f"{pkg}: {feats}")
        return 0

    problems = []
    for target in (host_target(), LAMBDA_TARGET):
        tested = resolved(["--workspace", "-e", "normal,build,dev"], target)
        # `make dev`, the e2e step and `make build-local`: every binary in one cargo call.
        problems += compare(f"[{target}] cargo build --workspace --bins",
                            resolved(["--workspace", "-e", "normal,build"], target), tested)
        # `make build`: SAM has cargo-lambda build each function alone.
        for fn in functions():
            problems += compare(f"[{target}] {fn} as shipped", resolved(["-p", fn, "-e", "normal,build"], target),
                                tested)
    for p in problems:
        print(p)
    if problems:
        print(f"feature_graph: {len(problems)} differences between what the tests build and what ships "
              "(pin the feature in the workspace's [workspace.dependencies], or keep the crate that adds it out "
              "of the test graph)", file=sys.stderr)
        return 1
    print(f"feature_graph: the tests build every function with the features it ships with ({len(functions())} "
          "functions, the workspace's binaries; host and Lambda target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
