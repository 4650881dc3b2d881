"""`python -m shared_schemas validate DATASET_DIR` and `python -m shared_schemas schema [OUT]`."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from .atomic import atomic_write_text
from .jsonschema import manifest_json_schema
from .manifest import SPLITS, ManifestError, load_manifest


def _summary(manifest) -> str:
    splits = Counter(s.split for s in manifest.samples)
    per_split = ", ".join(f"{splits[k]} {k}" for k in SPLITS if splits[k])
    instances = Counter(i.class_name for s in manifest.samples for i in s.instances)
    classes = ", ".join(
        f"{instances[c.name]} {c.name}" for c in manifest.classes if instances[c.name]
    )
    return (
        f"OK {manifest.root}: {len(manifest.samples)} samples ({per_split or 'none'}); "
        f"instances: {classes or 'none'}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared_schemas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check a dataset folder against the manifest contract")
    v.add_argument("dataset", help="dataset folder (or its manifest.json)")
    s = sub.add_parser("schema", help="print or write the manifest's JSON Schema")
    s.add_argument("out", nargs="?", help="file to write (default: print)")
    args = parser.parse_args(argv)

    if args.command == "schema":
        text = json.dumps(manifest_json_schema(), indent=2) + "\n"
        if args.out:
            atomic_write_text(args.out, text)
        else:
            sys.stdout.write(text)
        return 0
    try:
        manifest = load_manifest(args.dataset)
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(_summary(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
