"""Runs ``vsrzoo ARGS...`` (or ``--code CODE``) with network connections refused and every write to
stdout/stderr attributed to the module that made it.

Used by ``test_quiet.py`` in a subprocess. Each write and each connection attempt is appended to
``$VSRZOO_PROBE_LOG`` as a JSON line ``{"stream", "origin", "text"}``: ``origin`` is the first
module on the call stack that is not the machinery of writing (logging, warnings, tqdm, argparse,
io), i.e. the code that logged, warned, printed or drew a progress bar. A line that reaches the
real stream without a record (a C library writing to the file descriptor) is caught by the test,
which compares the captured output with the recorded text.
"""

from __future__ import annotations

import json
import os
import socket
import sys

LOG = os.environ["VSRZOO_PROBE_LOG"]
MACHINERY = ("logging", "warnings", "tqdm", "argparse", "io", "_io", "codecs", "encodings", "contextlib")


def _record(stream: str, text: str) -> None:
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps({"stream": stream, "origin": _origin(), "text": text}) + "\n")


def _origin() -> str:
    frame = sys._getframe(3)
    while frame is not None:
        name = frame.f_globals.get("__name__", "?")
        if name != __name__ and name.split(".")[0] not in MACHINERY:
            return name
        frame = frame.f_back
    return "?"


class _Tap:
    """A stream that records each write before passing it on."""

    def __init__(self, stream, name: str):
        self._stream, self._name = stream, name

    def write(self, text: str) -> int:
        if text:
            _record(self._name, text)
        return self._stream.write(text)

    def __getattr__(self, attr: str):
        return getattr(self._stream, attr)


def _refuse(*args, **kwargs):
    _record("network", f"connection attempt {args[1:2]}")
    raise OSError("vsrzoo quiet probe: network connections are refused")


def _refuse_inet(sock, address, *rest):
    if sock.family == socket.AF_UNIX:  # local IPC, not the network
        return _connect(sock, address)
    return _refuse(sock, address)


_connect = socket.socket.connect
socket.socket.connect = _refuse_inet
socket.socket.connect_ex = _refuse_inet
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
sys.stdout, sys.stderr = _Tap(sys.stdout, "stdout"), _Tap(sys.stderr, "stderr")

if __name__ == "__main__":
    if sys.argv[1:2] == ["--code"]:
        exec(compile(sys.argv[2], "<probe>", "exec"), {"__name__": "probe_code"})
        sys.exit(0)
    from vsrzoo.cli import main

    sys.exit(main(sys.argv[1:]))
