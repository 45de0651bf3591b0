"""Runs a command on a pseudo-terminal, as a user at a terminal does, and presses Ctrl-C once.

Node.js has no pseudo-terminal of its own, and a pipe is not a terminal: a spinner, raw mode and the terminal's own
Ctrl-C (the line discipline turning the byte into SIGINT) only happen on one. Usage:

    python3 ctrl-c-on-terminal.py MARKER TIMEOUT_S COMMAND [ARG...]

Waits until the command has printed MARKER (so it is past start-up and working), writes the Ctrl-C byte to the
terminal, and waits up to TIMEOUT_S seconds for it to end (killing it after that). Prints one JSON line: how it
ended ("exit" code or "signal"), whether it was still running at the timeout, seconds from Ctrl-C to the end,
and what it printed.
"""
import fcntl
import json
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

marker, timeout_s, command = sys.argv[1].encode(), float(sys.argv[2]), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    # A terminal of 100 x 24, as a window has: a size of 0 makes spinners redraw garbage.
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    os.execvp(command[0], command)

output = b""
pressed_at = None
timed_out = False
while True:
    if pressed_at is None and marker in output:
        os.write(fd, b"\x03")
        pressed_at = time.monotonic()
    if pressed_at is not None and time.monotonic() - pressed_at > timeout_s:
        os.kill(pid, signal.SIGKILL)
        timed_out = True
    ready, _, _ = select.select([fd], [], [], 0.05)
    if ready:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not data:
            break
        output += data
_, status = os.waitpid(pid, 0)
print(
    json.dumps(
        {
            "exit": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "pressed": pressed_at is not None,
            "timedOut": timed_out,
            "secondsAfterCtrlC": None if pressed_at is None else round(time.monotonic() - pressed_at, 2),
            "output": output.decode("utf-8", errors="replace"),
        }
    )
)
