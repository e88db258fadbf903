"""Row 6: memory (PSS) of a gunicorn master and its workers (as many as the role deploys) after
a real mix of lookups: the deployed worker class against the naive service, in the same run.

PSS counts the pages of the memory-mapped database and index each process touched, shared
with the others (clean file pages, which the kernel can drop), and each process's own memory;
the row says how much of the sum is which."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prometheus_client.multiprocess import MultiProcessCollector

from .common import LANGS, Bar, Row
from .http_node import node_workers
from .servers import Gunicorn

WORKERS = node_workers()
PER_WORKER = 100_000  # lookups every ipgeo worker must have made before PSS is read
TIME_LIMIT = 240.0  # seconds of load at most, per server
BATCH = 1000
BATCHES = 40  # per round, and:
SINGLES = 400
CALLERS = 100
CLIENTS = 8
GOAL_MB = 200.0
FIELDS = "ip,country,city"


def pss_kib(pid: int, field: str = "Pss") -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def mix(v4: list[str], v6: list[str], rounds_seed: int) -> list[tuple[str, bytes | None, dict]]:
    """One round of requests: batches (4 in 5 addresses IPv4, `en`/`zh-CN`, some with
    `fields`), single lookups of both families with and without `lang`/`fields`, and the
    caller's own address (`GET /v1/ip` from a trusted proxy naming a public address)."""
    rng = random.Random(rounds_seed)
    out: list[tuple[str, bytes | None, dict]] = []
    for n in range(BATCHES):
        ips = [rng.choice(v6) if rng.random() < 0.2 else rng.choice(v4) for _ in range(BATCH)]
        query = f"?lang={LANGS[n % 2]}" + (f"&fields={FIELDS}" if n % 4 == 3 else "")
        out.append((f"/v1/batch{query}", json.dumps({"ips": ips}).encode(), {}))
    for n in range(SINGLES):
        ip = rng.choice(v6) if n % 2 else rng.choice(v4)
        query = ["", f"?lang={LANGS[1]}", f"?fields={FIELDS}", f"?lang={LANGS[0]}"][n % 4]
        out.append((f"/v1/ip/{ip}{query}", None, {}))
    for _ in range(CALLERS):
        out.append(("/v1/ip", None, {"X-Forwarded-For": rng.choice(v4)}))
    rng.shuffle(out)
    return out


def _send(base: str, item: tuple[str, bytes | None, dict]) -> bool:
    path, body, headers = item
    if body is not None:
        headers = {**headers, "Content-Type": "application/json"}
    req = urllib.request.Request(base + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return resp.status == 200
    except OSError:
        return False


def lookups_per_worker(metrics_dir: Path, pids: list[int]) -> dict[int, int]:
    """``ipgeo_lookups_total`` of each worker, from its own multiprocess file."""
    counts = {}
    for pid in pids:
        path = metrics_dir / f"counter_{pid}.db"
        total = 0.0
        if path.is_file():
            for metric in MultiProcessCollector.merge([str(path)], accumulate=True):
                if metric.name == "ipgeo_lookups":
                    total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
        counts[pid] = int(total)
    return counts


def _load(
    server: Gunicorn, v4: list[str], v6: list[str], rounds: int | None, per_worker: int
) -> dict[str, Any]:
    """Rounds of the mix until every worker made ``per_worker`` lookups (or ``rounds``)."""
    sent = failed = done = 0
    lookups = 0
    start = time.monotonic()
    counts: dict[int, int] = {}
    with ThreadPoolExecutor(CLIENTS) as pool:
        while time.monotonic() - start < TIME_LIMIT:
            items = mix(v4, v6, done)
            results = list(pool.map(lambda it: _send(server.url, it), items))
            sent += len(results)
            failed += results.count(False)
            lookups += sum(BATCH if p.startswith("/v1/batch") else 1 for p, _, _ in items)
            done += 1
            if rounds is not None:
                if done >= rounds:
                    break
                continue
            counts = lookups_per_worker(server.metrics_dir, server.pids()[1:])
            if counts and min(counts.values()) >= per_worker:
                break
    return {
        "rounds": done,
        "requests": sent,
        "errors": failed,
        "lookups": lookups,
        "per_worker": counts,
        "seconds": time.monotonic() - start,
    }


def measure(
    env: dict[str, str], v4: list[str], v6: list[str], per_worker: int = PER_WORKER
) -> dict[str, Any]:
    """ipgeo first (it decides the rounds), then the naive service with as many rounds."""
    result: dict[str, Any] = {"per_worker_goal": per_worker}
    env = {**env, "IPGEO_TRUSTED_PROXIES": "127.0.0.1"}
    for kind in ("deployed", "naive"):
        server = Gunicorn(WORKERS, env, kind=kind)
        try:
            rounds = None if kind == "deployed" else result["deployed"]["rounds"]
            load = _load(server, v4, v6, rounds, per_worker)
            pids = server.pids()
            load["pss_mb"] = sum(pss_kib(p) for p in pids) / 1024
            load["anon_mb"] = sum(pss_kib(p, "Pss_Anon") for p in pids) / 1024
            load["file_mb"] = sum(pss_kib(p, "Pss_File") for p in pids) / 1024
            load["processes"] = len(pids)
        finally:
            server.stop()
        result[kind] = load
    return result


def row(m: dict[str, Any]) -> Row:
    ours, naive = m["deployed"], m["naive"]
    per_worker = sorted(ours["per_worker"].values())
    want = m["per_worker_goal"]
    enough = bool(per_worker) and per_worker[0] >= want
    return Row(
        name=f"6. PSS master + {WORKERS} workers after a real mix, {'+'.join(LANGS)}",
        unit="MB",
        bars=(
            Bar(
                "naive service (sync workers)",
                naive["pss_mb"],
                role="baseline",
                errors=naive["errors"],
            ),
            Bar("ipgeo, deployed worker class", ours["pss_mb"], errors=ours["errors"]),
        ),
        goal=GOAL_MB,
        goal_text=f"<= {GOAL_MB:.0f} MB after >= {PER_WORKER // 1000}k lookups per worker",
        met=ours["pss_mb"] <= GOAL_MB and ours["errors"] == 0 and enough,
        lower_is_better=True,
        ratio_text=(
            f"lookups per ipgeo worker: {', '.join(f'{n:,}' for n in per_worker)}; of the PSS, "
            f"process-private {ours['anon_mb']:.0f} MB and mapped files {ours['file_mb']:.0f} MB "
            f"(DB, index, libraries; naive: {naive['anon_mb']:.0f} + {naive['file_mb']:.0f} MB)"
        ),
        load=(
            f"summed PSS of master + {WORKERS} workers after {ours['rounds']} rounds of a mix "
            f"({ours['requests']:,} requests, {ours['lookups']:,} lookups in {ours['seconds']:.0f}"
            f" s from {CLIENTS} client threads, a new connection each): per round {BATCHES} "
            f"`POST /v1/batch` of {BATCH} (1 in 5 IPv6, `lang` en/zh-CN alternating, every "
            f"4th with `fields={FIELDS}`), {SINGLES} `GET /v1/ip/<ip>` (IPv4 and IPv6; plain, "
            f"`lang`, `fields`), {CALLERS} `GET /v1/ip` (the caller's own address, "
            f"X-Forwarded-For from a trusted proxy); all addresses public and in the DB; ipgeo "
            f"loaded until each worker counted >= {want:,} lookups (or "
            f"{TIME_LIMIT:.0f} s), the naive service given the same rounds "
            f"({naive['requests']:,} requests, {naive['seconds']:.0f} s)"
        ),
    )
