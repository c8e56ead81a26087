"""`python -m flowport.robot.launch COMMAND...`: run COMMAND so that it is killed when the
agent that started it dies (Linux: the parent-death signal survives exec). Elsewhere it only
runs COMMAND; the agent then kills leftovers from its journal when it starts again."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main() -> None:
    command = sys.argv[1:]
    if not command:
        sys.exit("usage: python -m flowport.robot.launch COMMAND...")
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        agent = os.environ.get("FLOWPORT_AGENT_PID")
        if agent and os.getppid() != int(agent):  # the agent died before the signal was armed
            sys.exit(1)
    # A run must hear SIGINT (a stop) even when the agent was started with it ignored (a
    # background job of a shell) or blocked: both are inherited through exec.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
