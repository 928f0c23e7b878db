"""Ctrl-C as a request: a flag instead of a KeyboardInterrupt, the handler given back after, and child processes
started with SIGINT blocked that a real SIGINT does not reach."""

import os
import signal
import subprocess
import sys

import pytest

from course_utils import stopping

CHILD = "import sys, time; print('ready', flush=True); time.sleep(2); print('alive')"


def test_ctrl_c_inside_sets_the_flag_and_outside_interrupts_again():
    with stopping.ctrl_c_stops(note="") as stop:
        assert not stop.is_set()
        signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt here
        assert stop.is_set()
        signal.raise_signal(signal.SIGINT)  # a second one: still only the flag
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    assert issubclass(stopping.Stopped, KeyboardInterrupt)  # what fig6 raises once every run is saved


def _child_after_sigint(blocked: bool) -> subprocess.CompletedProcess:
    if blocked:
        with stopping.sigint_blocked():
            child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    else:
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.readline() == b"ready\n"
    os.kill(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=60)
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no signal masks here")
def test_a_process_started_with_sigint_blocked_does_not_see_a_real_sigint():
    plain = _child_after_sigint(blocked=False)
    assert plain.returncode != 0 and b"KeyboardInterrupt" in plain.stderr  # the control: SIGINT reaches it
    shielded = _child_after_sigint(blocked=True)
    assert shielded.returncode == 0 and shielded.stdout.endswith(b"alive\n") and shielded.stderr == b""
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # this process got it back


@pytest.mark.slow
def test_a_worker_ignores_sigint():
    code = "from course_utils import stopping; import os, signal, time\n"
    code += "stopping.ignore_sigint(); os.kill(os.getpid(), signal.SIGINT); time.sleep(0.2); print('alive')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode == 0 and done.stdout == b"alive\n", done.stderr
