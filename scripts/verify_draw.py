#!/usr/bin/env python3
"""Check a 福袋 lucky draw of a `live` server from what it published.

    python3 scripts/verify_draw.py http://127.0.0.1:8080/api/v1/draws/<id>
    python3 scripts/verify_draw.py draw.json          # a saved GET answer
    curl -s .../api/v1/draws/<id> | python3 scripts/verify_draw.py -

Standard library only. It checks that
  1. sha256(seed) is the commitment published when the draw started, and
  2. ranking the eligible ids by HMAC-SHA256(key=seed, msg=id), ascending,
     ties by id, and taking the first `winners` gives exactly `winner_ids`.
Exit status 0 when both hold, 1 otherwise. See docs/draws.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import urllib.request
from typing import Any


def rank(seed: str, ids: list[str]) -> list[str]:
    key = seed.encode("ascii")
    return sorted(ids, key=lambda i: (hmac.new(key, i.encode("utf-8"),
                                               hashlib.sha256).hexdigest(), i))


def verify(draw: dict[str, Any]) -> list[str]:
    """The problems found (empty: the draw checks out)."""
    if draw.get("status") != "ended" or draw.get("seed") is None:
        return ["the draw has not ended: its seed is not published yet"]
    problems = []
    seed = draw["seed"]
    if len(seed) != 64 or any(c not in "0123456789abcdef" for c in seed):
        problems.append("the seed is not 64 lowercase hex characters")
    if hashlib.sha256(seed.encode("ascii")).hexdigest() != draw["commitment"]:
        problems.append("sha256(seed) differs from the published commitment")
    eligible = list(draw["eligible"])
    if eligible != sorted(set(eligible)):
        problems.append("the eligible ids are not unique and sorted by code point")
    expected = rank(seed, eligible)[:min(draw["winners"], len(eligible))]
    if expected != list(draw["winner_ids"]):
        problems.append(f"winners differ: expected {expected}, published {draw['winner_ids']}")
    return problems


def load(source: str) -> dict[str, Any]:
    if source == "-":
        return dict(json.load(sys.stdin))
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=10) as resp:  # noqa: S310
            return dict(json.load(resp))
    with open(source, encoding="utf-8") as f:
        return dict(json.load(f))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    draw = load(argv[1])
    problems = verify(draw)
    if problems:
        for p in problems:
            print("FAIL:", p)
        return 1
    print(f"OK: draw {draw['id']}: commitment matches the seed; "
          f"{len(draw['winner_ids'])} winner(s) of {len(draw['eligible'])} eligible "
          "re-derived from the seed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
