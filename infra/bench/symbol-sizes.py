#!/usr/bin/env python3
"""Where a binary's bytes go: symbol sizes summed by crate (Rust) or library (C), largest first.

Reads `nm -S --size-sort -C` output of a non-stripped build on stdin:

    CARGO_TARGET_DIR=/tmp/size cargo build --release -p jwh-ingest --config 'profile.release.strip=false'
    nm -S --size-sort -C /tmp/size/release/jwh-ingest | infra/bench/symbol-sizes.py

Rust symbols count towards the first path segment of their name (`aws_sdk_s3::...`, `<h2::... as ...>`); a generic
of `core`/`alloc`/`std` counts towards the crate of its first type argument when there is one. aws-lc's C symbols
carry an `aws_lc_` prefix; other unqualified symbols (assembly, C tables) are listed as "C and assembly, other".
"""

import collections
import re
import sys

STD = {"core", "alloc", "std"}


def owner(name: str) -> str:
    if name.startswith("aws_lc_"):
        return "aws-lc (C)"
    if "::" not in name:
        return "C and assembly, other"
    m = re.match(r"^[<&*\s]*(?:dyn |impl )?([A-Za-z_][A-Za-z0-9_]*)::", name)
    crate = m.group(1) if m else "other"
    if crate in STD:
        arg = re.search(r"<([A-Za-z_][A-Za-z0-9_]*)::", name)
        if arg and arg.group(1) not in STD:
            return arg.group(1)
    return crate


def main() -> None:
    sizes: collections.Counter = collections.Counter()
    for line in sys.stdin:
        parts = line.split(None, 3)
        if len(parts) < 4:
            continue
        _, size, _, name = parts
        sizes[owner(name.strip())] += int(size, 16)
    total = sum(sizes.values())
    print(f"{total / 1e6:8.2f} MB  all symbols")
    for crate, size in sizes.most_common(int(sys.argv[1]) if len(sys.argv) > 1 else 30):
        print(f"{size / 1e6:8.3f} MB  {crate}")


if __name__ == "__main__":
    main()
