"""The benchmark driver (`python -m bench`, bench/driver.py) without running
any benchmark: recorded JSON documents in, medians, ratios, ceilings, the
results Markdown and its file name out."""

from __future__ import annotations

import datetime
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import driver  # noqa: E402
from bench.driver import Bench, Row, Run, Section  # noqa: E402

ESP_STDOUT = """Machine: nproc 2, AMD EPYC
Load average before: 1.00 1.00 1.00

## 1. In-process, one core: crypto-only ceiling vs the back end's per-packet paths

| suite | size B | dir | ceiling Mbit/s | back end Mbit/s | back end pkt/s | % of ceiling |
| --- | --- | --- | --- | --- | --- | --- |
| CBC+SHA512 | 1400 | encrypt | 3200 | 2560 | 228938 | 80% |
| CBC+SHA512 | 1400 | decrypt | 4000 | 3000 | 266243 | 75% |

## 1b. The data plane with its sockets on the loopback, one core: ESP in UDP vs plain ESP

| suite | size B | dir | ESP in UDP Mbit/s | plain ESP Mbit/s | plain pkt/s | plain / UDP |
| --- | --- | --- | --- | --- | --- | --- |
| CBC+SHA512 | 1400 | encrypt | 999 | 999 | 1 | 1.00 |
"""


def esp_record(gateway: str, d: str, mbps: float, size: int = 1400) -> dict[str, Any]:
    """One gateway run as bench_esp.py --json writes it (pps, not Mbit/s)."""
    return {"suite": "CBC+SHA512", "size": size, "dir": d, "gateway": gateway, "pps": mbps * 1e6 / (size * 8),
            "offered": 350000.0, "cpu": 0.99, "core": {"idle": 0.0, "steal": 0.0}, "settle": 0.01}


def run_of(doc: Any, stdout: str = "") -> Run:
    return Run(argv=["python", "x.py", "--json", "f"], returncode=0, seconds=1.0, doc=doc, stdout=stdout,
               stderr_tail="")


# Three repeats, the gateways alternating; the pairs' ratios are 2.0, 1.5 and 1.6.
ESP_DOC = [esp_record("ikev2d", "encrypt", 1600), esp_record("strongswan", "encrypt", 800),
           esp_record("strongswan", "encrypt", 1000), esp_record("ikev2d", "encrypt", 1500),
           esp_record("ikev2d", "encrypt", 1760), esp_record("strongswan", "encrypt", 1100),
           esp_record("ikev2d", "decrypt", 2000), esp_record("strongswan", "decrypt", 1000)]


def test_esp_medians_ratios_and_ceilings_of_the_same_run() -> None:
    section = driver.summarize_esp([run_of(ESP_DOC, ESP_STDOUT)])
    enc, dec = section.rows
    assert enc.metric == "ESP encrypt, AES-256-CBC + HMAC-SHA-512/256, 1400 B, 1 core"
    assert enc.ours == pytest.approx(1600) and enc.theirs == pytest.approx(1000)
    # pairs in run order: 1600/800, 1500/1000, 1760/1100
    assert enc.ratio == pytest.approx(1.6)
    assert enc.samples == 3 and enc.headline and enc.higher_is_better
    assert dec.ratio == pytest.approx(2.0)
    # the ceilings come from bench_esp's own table 1, not from table 1b
    assert section.ceilings == {"esp CBC+SHA512 1400 encrypt": 3200.0, "esp CBC+SHA512 1400 decrypt": 4000.0}
    assert enc.ceiling_key == "esp CBC+SHA512 1400 encrypt"


def test_a_run_whose_gateways_lost_their_core_says_so() -> None:
    doc = [dict(r, cpu=0.3) for r in ESP_DOC]
    lines = driver.summarize_esp([run_of(doc, ESP_STDOUT)]).lines
    assert any(line.startswith("**Disturbed run**: the gateways' threads got only 30 %") for line in lines)


def test_pair_ratio_is_the_median_of_back_to_back_pairs() -> None:
    # medians 10 and 10 (ratio 1.0), but each pair says ours is twice theirs
    assert driver.pair_ratio([4, 10, 40], [2, 5, 20]) == pytest.approx(2.0)
    assert driver.pair_ratio([1.0], [0.0]) is None


def test_esp_ceilings_parser_takes_only_table_one() -> None:
    ceilings = driver.esp_ceilings_from_stdout(ESP_STDOUT)
    assert ceilings == {("CBC+SHA512", 1400, "encrypt"): (3200.0, 2560.0),
                        ("CBC+SHA512", 1400, "decrypt"): (4000.0, 3000.0)}


def test_esp_two_core_runs_are_rows_of_their_own() -> None:
    doc = {"samples": [dict(esp_record("ikev2d", "encrypt", 3000), cores=2),
                       dict(esp_record("strongswan", "encrypt", 1000), cores=2),
                       esp_record("ikev2d", "encrypt", 1600), esp_record("strongswan", "encrypt", 1000)],
           "ceilings": [{"suite": "CBC+SHA512", "size": 1400, "dir": "encrypt", "mbps": 3200}]}
    section = driver.summarize_esp([run_of(doc)])
    by_metric = {r.metric: r for r in section.rows}
    assert by_metric["ESP encrypt, AES-256-CBC + HMAC-SHA-512/256, 1400 B, 2 cores"].ratio == pytest.approx(3.0)
    assert by_metric["ESP encrypt, AES-256-CBC + HMAC-SHA-512/256, 1400 B, 1 core"].ratio == pytest.approx(1.6)
    assert section.ceilings == {"esp CBC+SHA512 1400 encrypt": 3200.0}


def handshake_sample(server: str, cores: int, repeat: int, cpu: float, rate: float) -> dict[str, Any]:
    return {"server": server, "cores": cores, "repeat": repeat, "connects": 300, "cpu_ms_per_connect": cpu,
            "main_cpu_ms_per_connect": cpu / 2, "connects_per_second": rate,
            "latency_ms": {"total": {"p50": 50.0, "p90": 60.0, "p99": 70.0}}}


def test_handshake_rows_pair_by_repeat_and_cores() -> None:
    doc = {"samples": [handshake_sample("ikev2d", 1, 1, 6.0, 150), handshake_sample("charon", 1, 1, 12.0, 80),
                       handshake_sample("charon", 2, 1, 13.0, 140), handshake_sample("ikev2d", 2, 1, 6.5, 280),
                       handshake_sample("charon", 1, 2, 15.0, 70), handshake_sample("ikev2d", 1, 2, 5.0, 160)]}
    section = driver.summarize_handshake([run_of(doc)])
    rows = {r.metric: r for r in section.rows}
    one = rows["Handshake: server CPU per connect + delete, 1 core"]
    assert one.ours == pytest.approx(5.5) and one.theirs == pytest.approx(13.5)
    assert one.ratio == pytest.approx((6 / 12 + 5 / 15) / 2)
    assert one.headline and not one.higher_is_better and one.ceiling_key == "handshake_ms"
    two = rows["Handshake: server CPU per connect + delete, 2 cores"]
    assert two.ratio == pytest.approx(6.5 / 13) and not two.headline
    assert rows["Handshake: connects/s, 2 cores"].ratio == pytest.approx(2.0)


def test_ceiling_fills_rows_that_name_it_and_percent_reads_both_ways() -> None:
    cost = Row("cpu", "ms", False, ours=6.0, theirs=12.0, ceiling_key="handshake_ms")
    rate = Row("esp", "Mbit/s", True, ours=1600.0, theirs=1000.0, ceiling_key="esp x")
    records = {"ceiling": {"section": driver.summarize_ceiling([run_of({"handshake_ms_samples": [2.0, 1.5, 1.8]})])},
               "esp": {"section": Section(rows=[rate], ceilings={"esp x": 3200.0})},
               "handshake": {"section": Section(rows=[cost])}}
    driver.resolve_ceilings(records)
    assert cost.ceiling == pytest.approx(1.8) and cost.pct_of_ceiling == pytest.approx(30.0)
    assert rate.ceiling == 3200.0 and rate.pct_of_ceiling == pytest.approx(50.0)


def test_load_rows_from_bench_load_json() -> None:
    docs = [{"connects": 100, "charon": {"cpu_ms_per_connect": 20.0, "connects_per_second": 27.0},
             "ikev2d_load": {"cpu_ms_per_connect": 4.0, "process_cpu_ms_per_connect": 8.0,
                             "connects_per_second": 130.0}},
            {"connects": 100, "charon": {"cpu_ms_per_connect": 18.0, "connects_per_second": 28.0},
             "ikev2d_load": {"cpu_ms_per_connect": 3.0, "process_cpu_ms_per_connect": 7.0,
                             "connects_per_second": 140.0}}]
    row = driver.summarize_load([run_of(d) for d in docs]).rows[0]
    assert row.ours == pytest.approx(3.5) and row.theirs == pytest.approx(19.0)
    assert row.ratio == pytest.approx((4 / 20 + 3 / 18) / 2)
    assert driver.ratio_cell(Row("x", "ms", False, 4.0, 20.0, ratio=0.2)) == "0.20x (5.0x less)"
    assert driver.ratio_cell(Row("x", "Mbit/s", True, 2.0, 1.0, ratio=2.0)) == "2.00x"


def test_memory_rows_from_bench_memory_json() -> None:
    doc = {"ikev2d": {"server": "ikev2d", "sessions_held": 10000, "rss_before_kib": 40000, "rss_held_kib": 180000,
                      "kib_per_session": 14.0, "slope_kib_per_session": 13.0, "samples": [[0, 0, 40000]]},
           "charon": {"server": "charon", "sessions_held": 2000, "rss_before_kib": 9000, "rss_held_kib": 75000,
                      "kib_per_session": 33.0, "slope_kib_per_session": 32.5, "samples": []}}
    section = driver.summarize_memory([run_of(doc)])
    per, slope = section.rows
    assert (per.ours, per.theirs) == (14.0, 33.0) and per.ratio == pytest.approx(14 / 33)
    assert per.headline and not per.higher_is_better and per.unit == "KiB"
    assert slope.ratio == pytest.approx(13 / 32.5) and not slope.headline
    assert per.note == "sessions held: 10000, 2000"
    records = {"memory": {"status": "ok", "message": "", "runs": [run_of(doc)], "section": section}}
    machine = dict(driver.machine_info(), loadavg_end=[])
    text = driver.render_markdown({"date": "2026-12-04", "command": "python -m bench", "quick": False,
                                   "machine": machine}, records)
    assert "- Memory: RSS per held session: sessions held: 10000, 2000" in text
    unknown = driver.summarize_memory([run_of({"breakdown": {}})])
    assert not unknown.rows and "keys: breakdown" in unknown.lines[0]


def test_result_file_names_are_dated_and_never_overwrite(tmp_path: Path) -> None:
    day = datetime.date(2026, 12, 4)
    stem = driver.result_stem(tmp_path, day, "abc1234", quick=False)
    assert stem == tmp_path / "2026-12-04-abc1234"
    stem.with_suffix(".md").write_text("x")
    assert driver.result_stem(tmp_path, day, "abc1234", quick=False) == tmp_path / "2026-12-04-abc1234-2"
    assert driver.result_stem(tmp_path, day, "abc1234", quick=True) == tmp_path / "2026-12-04-abc1234-quick"


def test_machine_info_says_what_the_results_need() -> None:
    m = driver.machine_info()
    assert m["cores"] >= 1 and m["kernel"] and m["python"] and m["cpu"]
    assert m["libraries"]["cryptography"]
    assert len(m["git_rev"]) >= 7 and isinstance(m["git_dirty"], bool)
    m["loadavg_end"] = ["1.00", "1.00", "1.00"]
    text = "\n".join(driver.machine_lines(m))
    assert m["cpu"] in text and f"Python {m['python']}" in text and m["git_rev"] in text


def test_a_missing_script_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    absent = Bench("nothing", "bench/no_such_bench.py", driver.summarize_load, needs_root=False)
    record = driver.run_bench(absent, quick=True, folder=tmp_path)
    assert record["status"] == "absent" and "not in this tree" in record["message"]


def test_every_entry_passes_json_and_only_is_checked() -> None:
    for bench in (driver.CEILING, *driver.REGISTRY):
        argv = bench.argv(Path("/tmp/x.json"), quick=True)
        assert argv[-2:] == ["--json", "/tmp/x.json"] and argv[1].endswith(bench.script)
        assert not any("{tmp}" in a for a in argv)  # nothing a bench would write into bench/results/
    memory = next(b for b in driver.REGISTRY if b.name == "memory")
    assert "/tmp/memory.md" in memory.argv(Path("/tmp/x.json"), quick=False)
    assert [b.name for b in driver.select("load,esp")] == ["esp", "load"]  # registry order
    with pytest.raises(SystemExit, match="unknown bench cpu"):
        driver.select("esp,cpu")


def test_results_markdown_puts_ratios_first_and_keeps_every_sample() -> None:
    esp = driver.summarize_esp([run_of(ESP_DOC, ESP_STDOUT)])
    records = {"ceiling": {"status": "ok", "message": "", "runs": [run_of({})],
                           "section": driver.summarize_ceiling([run_of({"handshake_ms_samples": [1.9]})])},
               "esp": {"status": "ok", "message": "", "runs": [run_of(ESP_DOC)], "section": esp},
               "memory": {"status": "absent", "message": "bench/bench_memory.py is not in this tree", "runs": []},
               "load": {"status": "failed", "message": "run 1 exited 1, no JSON",
                        "runs": [Run(["python", "x.py"], 1, 2.0, None, "", "Traceback ...\nRuntimeError: boom\n")]}}
    driver.resolve_ceilings(records)
    machine = driver.machine_info()
    machine["loadavg_end"] = ["1", "1", "1"]
    result = {"date": "2026-12-04", "command": "python -m bench", "quick": False, "machine": machine}
    text = driver.render_markdown(result, records)
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    header = next(line for line in summary.splitlines() if line.startswith("| what"))
    assert header.split("|")[2].strip() == "ikev2d / strongSwan"
    assert header.split("|")[3].strip() == "ikev2d % of crypto ceiling"
    enc = next(line for line in summary.splitlines() if "ESP encrypt" in line)
    assert "| 1.60x | 50% | 1600 | 1000 | 3200 |" in enc
    assert "memory: absent: bench/bench_memory.py is not in this tree" in text
    assert "- load: failed: run 1 exited 1, no JSON" in text
    assert "Run 1 failed; the end of its standard error:\n\n```\nTraceback ...\nRuntimeError: boom\n```" in text
    assert "shared" in text and f"{machine['cores']} cores" in text
    pairs = [line for line in text.splitlines() if re.match(r"\| CBC\+SHA512 \| 1400 \| \w+crypt \| 1 \| \d \|", line)]
    assert len(pairs) == 4  # every gateway run (3 pairs encrypting, 1 decrypting), not only the medians
    assert "| CBC+SHA512 | 1400 | encrypt | 1 | 2 | 1500 | 1000 | 1.50x | 99% / 99% |" in pairs
    assert "Disturbed run" not in text
    data = driver.result_json(result, records)
    json.dumps(data)  # serialisable as written
    assert [r["metric"] for r in data["summary"]] == [r.metric for r in esp.rows]
    assert data["summary"][0]["pct_of_ceiling"] == pytest.approx(50.0)
