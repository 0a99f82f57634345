"""`revolt ui` must stop on SIGTERM however it was started: a service script or `&` starts it with SIGINT ignored."""

import os
import signal
import subprocess
import sys

# Run in a child whose SIGINT is ignored, as a shell's background job is: becomes a Python that says how it would
# take SIGINT (which `dagster dev` also uses for SIGTERM).
_EXEC_AS_BACKGROUND_JOB = """
import os, sys
from revolt_pipeline.instance.launch import exec_interruptible
probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
exec_interruptible([sys.executable, "-c", probe], dict(os.environ))
"""


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_the_ui_command_takes_sigint_even_when_started_as_a_background_job() -> None:
    ignored = subprocess.run(
        [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"],
        preexec_fn=_ignore_sigint,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ignored.stdout.strip() == "True", "the child does not start as a background job would"

    started = subprocess.run(
        [sys.executable, "-c", _EXEC_AS_BACKGROUND_JOB],
        preexec_fn=_ignore_sigint,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    )
    assert started.stdout.strip() == "True", started.stderr
