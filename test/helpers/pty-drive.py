"""Runs a command on a pseudo-terminal and answers its prompts: for tests of interactive commands.

Usage: pty-drive.py CWD STEPS_JSON COMMAND...; STEPS_JSON is a list of [text to wait for, keys to send].
Prints what the command printed and exits with its exit code."""
import json
import os
import pty
import select
import sys
import time

cwd, steps, cmd = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.chdir(cwd)
    os.execvp(cmd[0], cmd)
buf = b''
def read_until(sub, timeout=20):
    global buf
    end = time.time() + timeout
    while sub.encode() not in buf:
        r, _, _ = select.select([fd], [], [], max(0, end - time.time()))
        if not r:
            raise SystemExit('timeout waiting for %r; got: %r' % (sub, buf[-500:]))
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            raise SystemExit('eof waiting for %r; got: %r' % (sub, buf[-500:]))
        buf += chunk
    buf = buf[buf.index(sub.encode()) + len(sub):]
for expect, send in steps:
    read_until(expect)
    time.sleep(0.05)
    os.write(fd, send.encode())
out = b''
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk: break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
