"""Long fuzzing runs, by hand: hostile JPEGs and .jrz files against compress, decompress and
inspect, each case in a worker process under a memory limit and a time limit.

    python benchmarks/fuzz.py --minutes 20 --seed 1

The engine is tests/fuzzing.py (the test suite runs a short fixed campaign of it). Seeds are
the small files of tests/data and ../shared/corpus/edge (when present) and .jrz files made
from them. Kernels are compiled with numba bounds checks unless --no-boundscheck (the first
start compiles them into a cache folder of their own). Prints progress each minute and the
figures at the end; writes every bad case (crash, wrong output, hang, memory) under --out
with a ``cases.json`` that says how to make it again; exits 1 if there was any.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchlib import write_section

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))

import fuzzing  # noqa: E402  (tests/fuzzing.py, found through the path above)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="how long to run")
    parser.add_argument("--seed", type=int, default=1, help="campaign seed (cases are 0, 1, ...)")
    parser.add_argument("--max-seed-kib", type=int, default=256, help="largest seed file")
    parser.add_argument("--memory-gib", type=float, default=3.0, help="worker address space")
    parser.add_argument("--time-limit", type=float, default=fuzzing.TIME_LIMIT, help="s per case")
    parser.add_argument("--no-boundscheck", action="store_true", help="kernels as shipped")
    parser.add_argument("--no-corpus", action="store_true", help="tests/data seeds only")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out" / "fuzz")
    parser.add_argument("--markdown", type=Path, help="also write the figures into this file's "
                        "'fuzz' section (e.g. benchmarks/RESULTS.md)")  # fmt: skip
    args = parser.parse_args()

    jpegs = fuzzing.jpeg_seeds(args.max_seed_kib << 10, corpus=not args.no_corpus)
    seeds = jpegs + fuzzing.jrz_seeds(jpegs)
    kinds = {kind: sum(seed.kind == kind for seed in seeds) for kind in ("jpeg", "jrz")}
    print(f"seeds: {kinds['jpeg']} JPEG, {kinds['jrz']} .jrz; campaign {args.seed}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    bad_cases: list[dict] = []

    def keep(case: fuzzing.Case, outcome: str, detail: str) -> None:
        name = f"{outcome}-{args.seed}-{case.index}.{'jpg' if case.kind == 'jpeg' else 'jrz'}"
        (args.out / name).write_bytes(case.data)
        bad_cases.append({"file": name, "seed": case.seed, "campaign": args.seed,
                          "index": case.index, "mutations": list(case.mutations),
                          "outcome": outcome, "detail": detail})  # fmt: skip
        print(f"  BAD {name}: {case.seed} {'+'.join(case.mutations)}: {detail}", flush=True)

    memory = int(args.memory_gib * (1 << 30))
    worker = fuzzing.Worker(memory, args.time_limit, boundscheck=not args.no_boundscheck)
    summary = fuzzing.Summary()
    deadline = time.monotonic() + 60 * args.minutes
    with worker:
        worker.start()  # before the clock: a cold bounds-checked start compiles the kernels
        deadline = time.monotonic() + 60 * args.minutes
        while time.monotonic() < deadline:
            chunk = fuzzing.run(
                seeds, args.seed, seconds=min(60.0, deadline - time.monotonic()),
                worker=worker, on_bad=keep, first=summary.cases,
            )  # fmt: skip
            summary.merge(chunk)
            rate = summary.cases / max(summary.seconds, 1e-9)
            print(f"{summary.seconds / 60:5.1f} min  {summary.cases} cases  {rate:.0f}/s  "
                  f"{dict(summary.outcomes)}", flush=True)  # fmt: skip

    figures = {
        "campaign": args.seed,
        "minutes": round(summary.seconds / 60, 1),
        "cases": summary.cases,
        "cases_by_kind": dict(summary.kinds),
        "outcomes": dict(summary.outcomes),
        "bad": summary.bad,
        "seeds": kinds,
        "boundscheck": not args.no_boundscheck,
        "memory_gib": args.memory_gib,
        "time_limit_s": args.time_limit,
        "bad_cases": bad_cases,
    }
    (args.out / "cases.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps({key: value for key, value in figures.items() if key != "bad_cases"}))
    if args.markdown:
        write_section(args.markdown, "fuzz", _markdown(figures, sys.argv[1:]))
    return 1 if summary.bad else 0


def _markdown(figures: dict, arguments: list[str]) -> str:
    """The run's figures as the RESULTS.md section."""
    outcomes = ", ".join(f"{name} {count}" for name, count in sorted(figures["outcomes"].items()))
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(figures["cases_by_kind"].items()))
    return "\n".join([
        f"## Fuzzing ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"- Command: `python benchmarks/fuzz.py {' '.join(arguments)}`",
        f"- Seeds: {figures['seeds']}; numba bounds checks: {figures['boundscheck']}; worker "
        f"address space {figures['memory_gib']} GiB; {figures['time_limit_s']} s per case",
        f"- {figures['cases']} inputs in {figures['minutes']} minutes ({kinds})",
        f"- Outcomes: {outcomes}",
        f"- Crashes, hangs, wrong outputs or memory-limit hits: **{figures['bad']}**",
    ])


if __name__ == "__main__":
    sys.exit(main())
