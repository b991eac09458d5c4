"""lab.uml's plumbing without booting anything: a stand-in "kernel" script
gets the same command line, so the marker line, the exit code, the job
script and the time limit are checked here; tests/xfrm boots the real one."""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path

from lab.uml import NO_MARKER, run_in_uml

# Acts as init would: finds UML_JOB and UML_MARKER among its arguments, runs
# the job, prints the marker with the job's exit code.
FAKE_KERNEL = textwrap.dedent("""\
    #!/bin/sh
    for word in "$@"; do
      case "$word" in
        UML_JOB=*) job="${word#UML_JOB=}" ;;
        UML_MARKER=*) marker="${word#UML_MARKER=}" ;;
      esac
    done
    # the guest's tmpfs mount is the kernel's business: drop it here
    grep -v '^mount -t tmpfs' "$job" > "$job.nomount"
    sh "$job.nomount"
    echo "${marker}$?"
    """)


def fake_kernel(tmp_path: Path) -> Path:
    path = tmp_path / "linux.fake"
    path.write_text(FAKE_KERNEL)
    path.chmod(0o755)
    return path


def test_the_jobs_exit_code_comes_back(tmp_path: Path) -> None:
    result = run_in_uml(["sh", "-c", "echo 'it ran'; exit 7"], tmp_path / "w", kernel=fake_kernel(tmp_path))
    assert result.exit_code == 7 and not result.timed_out
    assert "it ran" in result.output()


def test_arguments_survive_the_job_script(tmp_path: Path) -> None:
    out = tmp_path / "args"
    run_in_uml(["python3", "-c", "import sys; open(sys.argv[1], 'w').write(repr(sys.argv[2:]))", str(out),
                "two words", "it's", "$HOME"], tmp_path / "w", kernel=fake_kernel(tmp_path), env={"X": "a b"})
    assert out.read_text() == repr(["two words", "it's", "$HOME"])


def test_a_marker_printed_by_the_job_does_not_count(tmp_path: Path) -> None:
    """The job cannot know the run's marker token, so it cannot fake success."""
    result = run_in_uml(["sh", "-c", "echo UML-EXIT-000000000000=0; exit 3"], tmp_path / "w",
                        kernel=fake_kernel(tmp_path))
    assert result.exit_code == 3


def test_no_marker_is_a_failure(tmp_path: Path) -> None:
    kernel = tmp_path / "linux.crash"
    kernel.write_text("#!/bin/sh\necho 'Kernel panic'\n")
    kernel.chmod(0o755)
    result = run_in_uml(["true"], tmp_path / "w", kernel=kernel)
    assert result.exit_code == NO_MARKER


def test_a_hung_guest_is_stopped_with_all_its_processes(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_in_uml(["sleep", "31.4159"], tmp_path / "w", kernel=fake_kernel(tmp_path), timeout=1.0)
    assert result.timed_out and result.exit_code == NO_MARKER
    assert time.monotonic() - started < 10
    assert "stopped after 1s" in result.output()
    # nothing of that run is left: neither the stand-in nor the job's sleep
    for pattern in (f"{tmp_path}/linux.fake", "sleep 31.4159"):
        left = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        assert left.stdout.strip() == "", pattern
