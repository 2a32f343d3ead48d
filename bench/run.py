"""`make bench`: run the benchmarks of docs/performance.md in sequence, write
bench/results/<name>.json, and regenerate the results table in docs/performance.md.

    python -m bench.run [--quick] [--only settlement,claims,pages,intake,evidence,sustained,grading]

Each benchmark runs in its own Python process (each sets Django up on its own fresh database),
so one crashing does not hide the others' numbers; the exit status is 1 if any crashed.
Targets missed are reported in the table and the JSON, not as a failure of the run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import RESULTS, ROOT, machine, write_result

BENCHMARKS = ("settlement", "claims", "pages", "intake", "evidence", "sustained", "grading")
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


def run_one(name: str, quick: bool) -> dict:
    """Run benchmark `name` in this process and return its result."""
    if name == "settlement":
        from bench import settlement

        return settlement.run(10_000 if quick else 100_000) | {"quick": quick}
    if name == "claims":
        from bench import claims

        return claims.run(quick=quick)
    if name == "pages":
        from bench import pages

        return pages.run(quick=quick)
    if name == "intake":
        from bench import intake

        return intake.run(quick=quick)
    if name == "sustained":
        from bench import sustained

        return sustained.run(quick=quick)
    if name == "grading":
        from bench import grading

        return grading.run(quick=quick) | {"quick": quick}
    if name == "evidence":
        from bench import evidence

        return evidence.run(quick=quick) | {"quick": quick}
    raise ValueError(name)


def _yes(met) -> str:
    return "yes" if met else "**no**"


def table_rows(results: dict[str, dict]) -> list[str]:
    rows = []
    settle = results.get("settlement")
    if settle:
        rows.append(
            f"| 1. Settlement throughput | {settle['settled_or_rejected']:,} of {settle['submissions']:,} settled "
            f"in {settle['seconds']} s = {settle['settlements_per_second']}/s; audit "
            f"{'clean' if settle['audit_ok'] else 'NOT clean'} | pgbench TPC-B, 2 clients: "
            f"{settle['pgbench_tps_2_clients']} TPS; ratio {settle['ratio_to_pgbench']} "
            f"| ≤ 60 s and ratio ≥ 1.0 | {_yes(settle['met'])} |"
        )
    claims = results.get("claims")
    if claims:
        latency = claims["claim_latency_ms"]
        rows.append(
            f"| 2. Claim contention | {claims['claimers']} farmers: {claims['claims']:,} claims for "
            f"{claims['pool_pays']:,} payable, {claims['oversold']} oversold, {claims['claims_per_second']} claims/s "
            f"(claim p50 {latency['p50']} ms, p99 {latency['p99']} ms); audit "
            f"{'clean' if claims['audit_ok'] else 'NOT clean'} | (none: correctness) "
            f"| exactly as many claims as the pool pays | {_yes(claims['met'])} |"
        )
    pages = results.get("pages")
    if pages:
        data = pages["data"]
        for page, found in pages["pages"].items():
            ok = found["queries"] <= pages["targets"]["max_queries"] and found["p95_ms"] <= pages["targets"]["p95_ms"]
            rows.append(
                f"| 3. Page `{page}` ({data['factories']:,} factories, {data['submissions']:,} submissions) "
                f"| {found['queries']} queries; p50 {found['p50_ms']} ms, p95 {found['p95_ms']} ms "
                f"({found['requests']} requests) | (same count at 1/10 of the data: tests/bench) "
                f"| ≤ 15 queries, p95 ≤ 50 ms | {_yes(ok)} |"
            )
    intake = results.get("intake")
    if intake:
        api, bare = intake["intake"], intake["bare"]
        rows.append(
            f"| 4. API intake | {api['ok']:,} submissions at {api['per_second']}/s, p50 {api['p50_ms']} ms, "
            f"p99 {api['p99_ms']} ms, errors {sum(api['errors'].values())} | bare JSON endpoint: "
            f"{bare['per_second']}/s, p50 {bare['p50_ms']} ms, p99 {bare['p99_ms']} ms; ratio "
            f"{intake['ratio_to_bare']} | ≥ 0.5 of bare, no errors | {_yes(intake['met'])} |"
        )
    evidence = results.get("evidence")
    if evidence:
        record, one, large = evidence["recording"], evidence["one_worker"], evidence["large_video"]
        rows.append(
            f"| 5. Evidence grading | {record['minutes']:g} min of {record['width']}x{record['height']} at "
            f"{record['fps']} fps ({record['video_mib']} MiB): {one['cpu_seconds']} s CPU in one worker "
            f"({evidence['cpu_seconds_per_minute']} s per minute, "
            f"{evidence['cpu_seconds_for_3_minutes']} s for 3 min), "
            f"peak +{one['peak_rss_growth_mib']} MiB; {large['video_mib']} MiB video sampled at "
            f"+{large['peak_rss_growth_mib']} MiB | two workers: {evidence['two_worker_speedup']}x one "
            f"(load average {evidence.get('load_average', ['?'])[0]}; lone worker CPU/wall "
            f"{one.get('cpu_per_wall', '?')}, peak threads {one.get('peak_threads', '?')}) "
            f"| ≤ 10 s of one core for 3 min | {_yes(evidence['met'])} |"
        )
    sustained = results.get("sustained")
    if sustained:
        load, lag, api = sustained["sustained"], sustained["submit_to_paid"], sustained["intake"]
        rows.append(
            f"| 6. Sustained load | {sustained['rate_per_second']:g}/s for {sustained['seconds']:g} s through the API, "
            f"{sustained['workers']}: {load['ok']:,} accepted at {load['achieved_per_second']}/s, errors "
            f"{sum(load['errors'].values())}; submit-to-paid p50 {lag['p50_s']} s, p95 {lag['p95_s']} s, max "
            f"{lag['max_s']} s; lost {sustained['lost']}, held {sustained['held_for_review']}; audit "
            f"{'clean' if sustained['audit_ok'] else 'NOT clean'}; load average "
            f"{sustained['load_average']['sustained_end'][0]}; from the client's send p95 "
            f"{sustained.get('sent_to_paid', {}).get('p95_s')} s | intake {api['per_second']}/s against bare "
            f"{sustained['bare']['per_second']}/s in the same run: ratio {sustained['ratio_to_bare']} "
            f"| p95 ≤ 5 s, nothing lost, audit clean, ratio ≥ 0.5 | {_yes(sustained['met'])} |"
        )
    grading = results.get("grading")
    if grading:
        labels = grading["labels"]
        shares = ", ".join(f"{label} {value['accepted_share']:.1%} paid" for label, value in labels.items())
        rows.append(
            f"| 7. Grading, text path | {grading['timed_gradings']:,} gradings of {grading['records']} corpus "
            f"demonstrations: p50 {grading['p50_ms']} ms, p99 {grading['p99_ms']} ms per demonstration "
            f"(load average {grading['load_average'][0]:.2f}) | {shares}; AUC {grading['auc']} "
            f"| p50 ≤ {grading['target_p50_ms']:g} ms | {_yes(grading['met'])} |"
        )
    return rows


def render_table(results: dict[str, dict]) -> str:
    modes = sorted({"quick" if r.get("quick") else "full" for r in results.values()})
    stamp = max((r.get("finished_at", "") for r in results.values()), default="")
    about = machine()
    lines = [
        START,
        f"Last run: {stamp or 'unknown'} ({', '.join(modes) or 'no'} mode) on {about['cpus']} × {about['cpu_model']}, "
        f"{about['memory_gib']} GiB, PostgreSQL {about['postgres'].split()[0]}, Python {about['python']}.",
        "",
        "| Benchmark | Result | Baseline (same run) | Target | Met |",
        "| --- | --- | --- | --- | --- |",
        *table_rows(results),
        END,
    ]
    return "\n".join(lines)


def update_doc(results: dict[str, dict]) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(head + render_table(results) + tail)


def load_results() -> dict[str, dict]:
    found = {}
    for name in BENCHMARKS:
        path = RESULTS / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data sets: a short check")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset, in order")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # one benchmark, in this process
        started = time.monotonic()
        result = run_one(args.child, args.quick)
        result["wall_seconds"] = round(time.monotonic() - started, 1)
        result["finished_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_result(args.child, result)
        return 0

    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    crashed = []
    for name in names:
        print(f"== benchmark {name} ({'quick' if args.quick else 'full'})", flush=True)
        started = time.monotonic()
        command = [sys.executable, "-m", "bench.run", "--child", name] + (["--quick"] if args.quick else [])
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            crashed.append(name)
            print(f"   {name}: crashed", flush=True)
            continue
        result = json.loads((RESULTS / f"{name}.json").read_text())
        print(f"   {name}: met={result.get('met')} in {time.monotonic() - started:.0f} s", flush=True)
    results = load_results()
    update_doc(results)
    print("\n".join(table_rows({name: results[name] for name in names if name in results})))
    print(f"docs/performance.md updated; results in {Path(RESULTS).relative_to(ROOT)}/")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
