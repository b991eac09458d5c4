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

def esp_run(d: str, gateway: str, cores: int, pps: float, mbps: float, cpu: float) -> dict[str, Any]:
    """One gateway run as bench_esp.py --json writes it in runs[] (its `core`,
    `offered`, `settle` and `udp_check_pps` left out)."""
    return {"suite": "CBC+SHA512", "size": 1400, "dir": d, "gateway": gateway, "cores": cores, "pps": pps,
            "mbps": mbps, "cpu": cpu}


def run_of(doc: Any, stdout: str = "") -> Run:
    return Run(argv=["python", "x.py", "--json", "f"], returncode=0, seconds=1.0, doc=doc, stdout=stdout,
               stderr_tail="")


# bench/results/bench_esp_io-69a2891-2026-12-04.json (`bench_esp.py --io --repeats 5`, a loaded machine),
# trimmed: the machine string, and the first 2 of the 5 runs of each gateway and direction (its summary is
# of all 5, as written).
ESP_IO_DOC: dict[str, Any] = {
    "bench": "bench_esp", "machine": "nproc 2, AMD EPYC (trimmed)",
    "load_before": [10.45, 7.32, 4.11], "load_after": [14.22, 14.04, 11.35],
    "args": {"sizes": [1400], "suites": ["CBC+SHA512"], "cores": [1, 2], "repeats": 5, "rate": 350000},
    "ceilings": [{"suite": "CBC+SHA512", "size": 1400, "dir": "encrypt", "mbps": 576.835},
                 {"suite": "CBC+SHA512", "size": 1400, "dir": "decrypt", "mbps": 988.055}],
    "runs": [
        esp_run("encrypt", "ikev2d", 1, 18730.1, 209.78, 0.188),
        esp_run("encrypt", "ikev2d", 1, 24733.9, 277.02, 0.257),
        esp_run("encrypt", "ikev2d-2c", 2, 22009.6, 246.51, 0.108),
        esp_run("encrypt", "ikev2d-2c", 2, 21622.5, 242.17, 0.144),
        esp_run("encrypt", "strongswan", 1, 8824.5, 98.83, 0.194),
        esp_run("encrypt", "strongswan", 1, 13345.2, 149.47, 0.317),
        esp_run("decrypt", "ikev2d", 1, 14723.9, 164.91, 0.221),
        esp_run("decrypt", "ikev2d", 1, 22340.8, 250.22, 0.237),
        esp_run("decrypt", "ikev2d-2c", 2, 26106.7, 292.40, 0.152),
        esp_run("decrypt", "ikev2d-2c", 2, 18635.9, 208.72, 0.112),
        esp_run("decrypt", "strongswan", 1, 14830.4, 166.10, 0.247),
        esp_run("decrypt", "strongswan", 1, 13068.6, 146.37, 0.271),
    ],
    "summary": [
        {"suite": "CBC+SHA512", "size": 1400, "dir": "encrypt", "ceiling_mbps": 576.835,
         "ikev2d_1core_mbps": 214.0542, "ikev2d_1core_pps_per_core": 99553.0631,
         "ikev2d_1core_per_core_of_ceiling": 1.933, "ikev2d_1core_of_ceiling": 0.3711,
         "ikev2d_2core_mbps": 246.5074, "ikev2d_2core_over_1core": 1.0621,
         "strongswan_1core_mbps": 99.2823, "ikev2d_over_strongswan": 1.8534},
        {"suite": "CBC+SHA512", "size": 1400, "dir": "decrypt", "ceiling_mbps": 988.055,
         "ikev2d_1core_mbps": 164.9078, "ikev2d_1core_pps_per_core": 87371.1029,
         "ikev2d_1core_per_core_of_ceiling": 0.9904, "ikev2d_1core_of_ceiling": 0.1669,
         "ikev2d_2core_mbps": 160.4196, "ikev2d_2core_over_1core": 1.1278,
         "strongswan_1core_mbps": 146.3683, "ikev2d_over_strongswan": 1.0407},
    ],
}
ENC_1C = "ESP encrypt, AES-256-CBC + HMAC-SHA-512/256, 1400 B, 1 core"


def test_esp_rows_come_from_bench_esp_summary_and_ceilings() -> None:
    section = driver.summarize_esp([run_of(ESP_IO_DOC)])
    enc, enc2, dec, dec2 = section.rows
    assert enc.metric == ENC_1C and dec.metric.startswith("ESP decrypt") and dec.metric.endswith("1 core")
    assert enc.ours == pytest.approx(214.0542) and enc.theirs == pytest.approx(99.2823)
    assert enc.ratio == pytest.approx(1.8534)  # bench_esp's run-by-run ratio, not the medians' 2.16
    assert enc.samples == 2 and enc.headline and enc.higher_is_better
    assert "99553 pkt/s, 193% of the ceiling" in enc.note  # the per-core figure
    assert enc2.metric == "ESP encrypt, AES-256-CBC + HMAC-SHA-512/256, 1400 B, 2 cores (1.06x the 1-core " \
                          "figure; strongSwan on 1)"
    assert enc2.ours == pytest.approx(246.5074) and enc2.ratio is None and enc2.headline and enc2.samples == 2
    assert dec2.metric.startswith("ESP decrypt") and "(1.13x the 1-core figure" in dec2.metric
    assert section.ceilings == {"esp CBC+SHA512 1400 encrypt": 576.835, "esp CBC+SHA512 1400 decrypt": 988.055}
    assert enc.ceiling_key == enc2.ceiling_key == "esp CBC+SHA512 1400 encrypt"
    text = "\n".join(section.lines)
    assert "| CBC+SHA512 | 1400 | encrypt | 577 | 214 | 37% | 99553 | 193% | 247 | 1.06x | 99.28 | 1.85x |" in text


def test_a_run_whose_gateways_lost_their_core_says_so() -> None:
    lines = driver.summarize_esp([run_of(ESP_IO_DOC)]).lines
    assert any(line.startswith("**Disturbed run**: the one-core gateways' threads got only 24 %") for line in lines)
    calm = dict(ESP_IO_DOC, runs=[dict(r, cpu=0.97) for r in ESP_IO_DOC["runs"]])
    assert not any("Disturbed" in line for line in driver.summarize_esp([run_of(calm)]).lines)


def test_esp_of_another_shape_says_so_rather_than_guessing() -> None:
    section = driver.summarize_esp([run_of([{"gateway": "ikev2d"}])])  # the old bare list
    assert not section.rows and "No bench_esp JSON object" in section.lines[0]


def test_pair_ratio_is_the_median_of_back_to_back_pairs() -> None:
    # medians 10 and 10 (ratio 1.0), but each pair says ours is twice theirs
    assert driver.pair_ratio([4, 10, 40], [2, 5, 20]) == pytest.approx(2.0)
    assert driver.pair_ratio([1.0], [0.0]) is None


def test_bench_args_go_after_the_entry_own_and_are_checked(tmp_path: Path) -> None:
    extra = driver.parse_bench_args(["esp=--repeats 2 --sizes '64,1400'", "esp=--cores 1"])
    assert extra == {"esp": ["--repeats", "2", "--sizes", "64,1400", "--cores", "1"]}
    esp = next(b for b in driver.REGISTRY if b.name == "esp")
    argv = esp.argv(tmp_path / "esp-1.json", quick=True, extra=extra["esp"])
    assert argv[2:] == ["--io", "--markdown", "--repeats", "2", "--repeats", "2", "--sizes", "64,1400",
                        "--cores", "1", "--json", str(tmp_path / "esp-1.json")]
    with pytest.raises(SystemExit, match="NAME='ARGS'"):
        driver.parse_bench_args(["cpu=--x"])
    with pytest.raises(SystemExit):
        driver.parse_bench_args(["esp"])


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


def floor_doc(floor_enc: float, floor_dec: float) -> dict[str, Any]:
    """esp_floor.py --json, trimmed (a run of 2026-12-05: 2 of its rounds per path)."""
    def rec(path: str, d: str, mbps: float) -> dict[str, Any]:
        pps = mbps * 1e6 / (1400 * 8)
        return {"path": path, "direction": d, "pps": pps, "samples": [pps, pps * 0.99], "mbps": mbps}
    return {"bench": "esp_floor", "size": 1400, "cpu": 0, "burst": 64, "rounds": 2, "decrypt_to": "veth",
            "tun_napi": None, "results": [
                rec("ceiling", "encrypt", 2688.0), rec("floor", "encrypt", floor_enc), rec("ikev2d", "encrypt", 1440.0),
                rec("ceiling", "decrypt", 3794.0), rec("floor", "decrypt", floor_dec),
                rec("ikev2d", "decrypt", 1086.0)]}


def test_floor_rows_give_the_floor_against_the_ceiling_and_ikev2d_against_the_floor() -> None:
    section = driver.summarize_floor([run_of(floor_doc(1600.0, 1340.0)), run_of(floor_doc(1620.0, 1360.0)),
                                      run_of(floor_doc(1610.0, 1350.0))])
    floor_enc, ours_enc, floor_dec, ours_dec = section.rows
    assert floor_enc.headline and not ours_enc.headline
    assert floor_enc.ours == pytest.approx(1610.0) and floor_enc.pct_of_ceiling == pytest.approx(100 * 1610 / 2688)
    assert floor_dec.ours == pytest.approx(1350.0) and floor_dec.pct_of_ceiling == pytest.approx(100 * 1350 / 3794)
    assert ours_dec.ours == pytest.approx(1086.0) and "80 % of the floor" in floor_dec.note
    assert floor_enc.theirs is None and driver.ratio_cell(floor_enc) == "-"
    assert sum("| floor | decrypt |" in line for line in section.lines) == 3  # every run's rounds kept


def test_a_floor_run_without_results_gives_no_rows() -> None:
    assert driver.summarize_floor([run_of(None), run_of({"bench": "esp_floor"})]).rows == []


def test_memory_rows_from_bench_memory_json() -> None:
    # bench/results/bench_memory-da0294e-2026-12-04.json, trimmed: its breakdown, load reports and ramps
    doc = {"commit": "da0294e", "date": "2026-12-04", "machine": "AMD EPYC, 2 CPUs, Linux 6.18.44-fc-v1252",
           "breakdown": {"sessions": 199, "python_bytes_per_session": 8829},
           "ikev2d": {"server": "ikev2d", "dataplane": "userspace", "sessions_asked": 10000, "sessions_held": 10000,
                      "rss_before_kib": 81224, "rss_held_kib": 271360, "rss_after_delete_kib": 272616,
                      "kib_per_session": 19.01, "slope_kib_per_session": 21.82, "workers_rss_before_kib": [],
                      "workers_rss_held_kib": [71088, 71164], "samples": [[2.0, 0, 81224]]},
           "charon": {"server": "charon", "sessions_asked": 2000, "sessions_held": 2000, "rss_before_kib": 11412,
                      "rss_held_kib": 83308, "kib_per_session": 35.95, "slope_kib_per_session": 33.57,
                      "samples": []}}
    section = driver.summarize_memory([run_of(doc)])
    per, slope = section.rows
    assert (per.ours, per.theirs) == (19.01, 35.95) and per.ratio == pytest.approx(19.01 / 35.95)
    assert per.headline and not per.higher_is_better and per.unit == "KiB"
    assert slope.ratio == pytest.approx(21.82 / 33.57) and not slope.headline
    assert per.note == "sessions held: 10000, 2000"
    records = {"memory": {"status": "ok", "message": "", "runs": [run_of(doc)], "section": section}}
    machine = dict(driver.machine_info(), loadavg_end=[])
    text = driver.render_markdown({"date": "2026-12-04", "command": "python -m bench", "quick": False,
                                   "machine": machine}, records)
    assert "- Memory: RSS per held session: sessions held: 10000, 2000" in text
    assert "| 1 | ikev2d | 10000 | 81224 | 271360 | 19.01 | 21.82 | 71088 + 71164 |" in text  # workers too
    pinged = driver.summarize_memory([run_of(dict(doc, ping="198.19.0.1"))])  # bench_memory --ping
    assert pinged.rows[0].metric == "Memory: RSS per held session that has carried traffic", pinged.rows[0]
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
    esp = driver.summarize_esp([run_of(ESP_IO_DOC)])
    records = {"ceiling": {"status": "ok", "message": "", "runs": [run_of({})],
                           "section": driver.summarize_ceiling([run_of({"handshake_ms_samples": [1.9]})])},
               "esp": {"status": "ok", "message": "", "runs": [run_of(ESP_IO_DOC)], "section": esp},
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
    assert "| 1.85x | 37% | 214 | 99.28 | 577 |" in enc
    assert "memory: absent: bench/bench_memory.py is not in this tree" in text
    assert "- load: failed: run 1 exited 1, no JSON" in text
    assert "Run 1 failed; the end of its standard error:\n\n```\nTraceback ...\nRuntimeError: boom\n```" in text
    assert "shared" in text and f"{machine['cores']} cores" in text
    runs = [line for line in text.splitlines() if re.match(r"\| CBC\+SHA512 \| 1400 \| \w+crypt \| \d \|", line)]
    assert len(runs) == 4  # every gateway run (2 each way), not only the medians
    assert "| CBC+SHA512 | 1400 | encrypt | 2 | 277 | 26% | 242 | 14% | 149 | 32% |" in runs
    assert "Disturbed run" in text  # that run's gateways got about a quarter of their core
    data = driver.result_json(result, records)
    json.dumps(data)  # serialisable as written
    assert [r["metric"] for r in data["summary"]] == [r.metric for r in esp.rows]
    assert data["summary"][0]["pct_of_ceiling"] == pytest.approx(37.11, abs=0.01)
