"""How splitting an XMP packet for a JPEG output grows with the packet: ``python -m benchmarks.bench_xmp``.

A packet of N top-level properties (100 bytes each, one description) is split into StandardXMP and ExtendedXMP
(``facerestore.xmp_split``) at N and 4N in one run. Linear work takes about 4x as long for 4x the packet; the split
once found each property's end on a copy of the packet up to it, quadratic: 100,000 properties took 22 s.
Target: at most 6x for 4x the properties. Prints the times and the ratio, writes ``benchmarks/results/xmp.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = 6.0
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"


def packet(properties: int) -> bytes:
    body = "".join(f"<dc:p{i}>{'v' * 100}</dc:p{i}>" for i in range(properties))
    return (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}"><rdf:Description rdf:about="" '
            f'xmlns:dc="{DC}">{body}</rdf:Description></rdf:RDF></x:xmpmeta>').encode()


def seconds(data: bytes, repeats: int) -> float:
    from facerestore.xmp_split import split

    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        split(data)
        best = min(best, time.perf_counter() - began)
    return best


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--properties", type=int, default=25_000, help="N, the smaller packet's properties")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    small = seconds(packet(args.properties), args.repeats)
    large = seconds(packet(4 * args.properties), args.repeats)
    result = {"properties": args.properties, "seconds": {"N": small, "4N": large}, "ratio": large / small,
              "target": TARGET, "met": large / small <= TARGET}
    print(f"split, {args.properties} properties: {small:.3f} s; {4 * args.properties}: {large:.3f} s; "
          f"ratio {large / small:.1f}x (target <= {TARGET:g}x)")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "xmp.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
