#!/usr/bin/env python3
"""Verify a Forge Pools settlement receipt offline, with no database and no server.

    python scripts/receipt_verify.py receipt-123.json --public-key <the platform's key>
    python scripts/receipt_verify.py --hour hour-45.json --public-key <key>   # recompute an hour

The receipt file is what "Download receipt" (or GET /api/v1/receipts/<submission>/) gives;
an hour file is GET /api/v1/receipts/hours/<id>/. Needs only `solders` (pip install solders)
and receipts/proof.py next to this script's repository (or on PYTHONPATH). Exit status 0 when
valid, 1 otherwise. Format and trust model: docs/receipts.md.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from receipts import proof


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--hour", action="store_true", help="FILE is a published hour: recompute its root and totals")
    args = parser.parse_args(argv)
    document = json.loads(Path(args.file).read_text(encoding="utf-8"))
    if args.hour:
        errors = proof.verify_batch(document, document.get("receipts", []), args.public_key)
    else:
        errors = proof.verify_receipt_document(document, args.public_key)
    if errors:
        print("INVALID:", *errors, sep="\n  ")
        return 1
    if args.hour:
        print(f"VALID: hour {document['hour']}, {document['count']} receipts, root {document['root']}")
        for pool, totals in sorted(document["totals"].items(), key=lambda item: int(item[0])):
            print(f"  pool {pool} ({totals['token']}): {json.dumps(totals, sort_keys=True)}")
    else:
        body = document["receipt"]
        print(
            f"VALID: submission {body['submission']} ({body['status']}, quality {body['quality_score']}), "
            f"farmer reward {body['shares']['farmer_reward']} base units of {body['token']}, "
            f"hour {document['batch']['hour']}, root {document['batch']['root']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
