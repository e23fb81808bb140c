"""``BPF``: restricted C compiled, loaded into the kernel or into visor's
userspace engine, attached, and read back, the way BCC's ``BPF`` does it."""

import ctypes as ct
import os
import socket
import struct
import sys

from . import _visor
from .ctypes_btf import ctype, from_bytes
from .table import make_table

# BCC's auto-attach prefixes; kprobes among them so that they fail clearly.
_AUTO_PREFIXES = ("tracepoint__", "raw_tracepoint__", "kprobe__", "kretprobe__")

SO_ATTACH_BPF = 50
ETH_P_ALL = 0x0003


class Function:
    """A program of the object, as ``load_func`` returns it."""

    def __init__(self, bpf, name, section):
        self.bpf = bpf
        self.name = name
        self.section = section
        self.sock = None

    @property
    def fd(self):
        return self.bpf._object.program_fd(self.name)


class BPF:
    """An object loaded into an engine, with its programs attached.

    ``BPF(text=C)``, ``BPF(src_file=PATH)`` or ``BPF(obj=PATH)``;
    ``engine`` is ``"kernel"`` (the default as root) or ``"userspace"``
    (the default otherwise), where visor's verifier checks the programs
    first (``verify=False`` skips it for trusted code); ``cflags`` go to
    clang. Functions named as BCC
    names them (``tracepoint__CATEGORY__NAME``, ``raw_tracepoint__NAME``)
    are attached at once in the kernel."""

    # Program types, for load_func (the kernel's numbers, as in BCC).
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6
    RAW_TRACEPOINT = 17
    # XDP attach flags, as in BCC.
    XDP_FLAGS_SKB_MODE = 1 << 1
    XDP_FLAGS_DRV_MODE = 1 << 2

    def __init__(self, text=None, src_file=None, obj=None, engine=None, cflags=None, debug=0, verify=True):
        given = [x is not None for x in (text, src_file, obj)]
        if sum(given) != 1:
            raise ValueError("give exactly one of text=, src_file= and obj=")
        if obj is not None:
            with open(obj, "rb") as f:
                elf = f.read()
        else:
            if isinstance(text, bytes):
                text = text.decode()
            elf = _visor.compile(text=text, path=src_file, cflags=list(cflags or []))
        if engine is None:
            engine = "kernel" if os.geteuid() == 0 else "userspace"
        self._object = _visor.Object(elf, engine, verify)
        self._attachments = {}
        self._tables = {}
        self._perf_readers = []
        self._ring_readers = []
        self._trace_pipe = None
        # Userspace: lines the engine printed, not yet read.
        self._trace_lines = []
        self._closed = False
        if engine == "kernel":
            self._auto_attach()

    @property
    def engine(self):
        return self._object.engine

    # -- programs -----------------------------------------------------------

    def _programs(self):
        return dict(self._object.programs())

    def _auto_attach(self):
        for name, section in self._object.programs():
            if name.startswith(_AUTO_PREFIXES):
                attachment = self._object.attach_auto(name)
                if attachment is not None:
                    self._attachments[("auto", name)] = attachment

    def load_func(self, func_name, prog_type=None):
        """The program ``func_name`` (a function with a ``SEC(...)`` or a
        BCC-style name); ``prog_type`` is accepted for BCC's sake, the
        section decides."""
        section = self._programs().get(func_name)
        if section is None:
            raise _visor.LoadError(
                "no program named %s; programs: %s" % (func_name, ", ".join(self._programs()) or "none")
            )
        return Function(self, func_name, section)

    def _fn_name(self, fn):
        return fn.name if isinstance(fn, Function) else fn

    def attach_tracepoint(self, tp, fn_name):
        """``tp`` is ``"CATEGORY:NAME"``."""
        category, _, name = tp.partition(":")
        self._attachments[("tracepoint", tp)] = self._object.attach_tracepoint(self._fn_name(fn_name), category, name)

    def detach_tracepoint(self, tp):
        self._detach(("tracepoint", tp))

    def attach_raw_tracepoint(self, tp, fn_name):
        self._attachments[("raw_tracepoint", tp)] = self._object.attach_raw_tracepoint(self._fn_name(fn_name), tp)

    def detach_raw_tracepoint(self, tp):
        self._detach(("raw_tracepoint", tp))

    def attach_uprobe(self, name, sym, fn_name, pid=-1):
        """A uprobe on ``sym`` in the binary ``name`` (a path, or looked up
        in ``$PATH``), for every process or only ``pid``."""
        attachment = self._object.attach_uprobe(self._fn_name(fn_name), name, sym, False, None if pid < 0 else pid)
        self._attachments[("uprobe", name, sym)] = attachment

    def attach_uretprobe(self, name, sym, fn_name, pid=-1):
        attachment = self._object.attach_uprobe(self._fn_name(fn_name), name, sym, True, None if pid < 0 else pid)
        self._attachments[("uretprobe", name, sym)] = attachment

    def detach_uprobe(self, name, sym):
        self._detach(("uprobe", name, sym))

    def detach_uretprobe(self, name, sym):
        self._detach(("uretprobe", name, sym))

    def attach_kprobe(self, event, fn_name=None, **_):
        raise _visor.AttachError(
            "this kernel has no kprobes, so %s cannot be probed; use attach_tracepoint "
            "(or a tracepoint__CATEGORY__NAME function) instead" % event
        )

    attach_kretprobe = attach_kprobe

    def attach_xdp(self, dev, fn, flags=0):
        """XDP on ``dev``; ``flags`` ``XDP_FLAGS_SKB_MODE`` for generic mode,
        ``XDP_FLAGS_DRV_MODE`` for native."""
        mode = None
        if flags & self.XDP_FLAGS_SKB_MODE:
            mode = "generic"
        elif flags & self.XDP_FLAGS_DRV_MODE:
            mode = "native"
        self._attachments[("xdp", dev)] = self._object.attach_xdp(self._fn_name(fn), dev, mode)

    def remove_xdp(self, dev, flags=0):
        self._detach(("xdp", dev))

    def attach_tc(self, dev, fn, direction="ingress"):
        """TC on ``dev`` (a TCX link, or a clsact filter on older kernels)."""
        self._attachments[("tc", dev, direction)] = self._object.attach_tc(self._fn_name(fn), dev, direction)

    def detach_tc(self, dev, direction="ingress"):
        self._detach(("tc", dev, direction))

    def attach_raw_socket(self, fn, dev):
        """The socket filter ``fn`` on a new raw socket bound to ``dev``,
        left in ``fn.sock`` as in BCC."""
        if not isinstance(fn, Function):
            fn = self.load_func(fn)
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.htons(ETH_P_ALL))
        sock.bind((dev, ETH_P_ALL))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, struct.pack("i", fn.fd))
        fn.sock = sock
        self._attachments[("socket", fn.name, dev)] = sock

    def _detach(self, key):
        attachment = self._attachments.pop(key, None)
        if attachment is None:
            raise KeyError("nothing attached as %r" % (key,))
        _close(attachment)

    def attached(self):
        """Where each program is attached, for people."""
        return [getattr(a, "target", repr(k)) for k, a in self._attachments.items()]

    # -- maps ---------------------------------------------------------------

    def __getitem__(self, name):
        return self.get_table(name)

    def get_table(self, name):
        if name not in self._tables:
            infos = {info["name"]: info for info in self._object.maps()}
            if name not in infos:
                raise KeyError("no map named %s; maps: %s" % (name, ", ".join(infos) or "none"))
            self._tables[name] = make_table(self, infos[name])
        return self._tables[name]

    def __contains__(self, name):
        return any(info["name"] == name for info in self._object.maps())

    def _event(self, event_type, data):
        """``data`` as ``event_type``: a ctypes type, or the name of a type
        in the object's BTF (one the program's globals or maps use)."""
        if event_type is None:
            raise ValueError("give the event's type: event(data, event_type=\"struct data_t\")")
        if isinstance(event_type, str):
            desc = self._object.type_named(event_type)
            if desc is None:
                raise KeyError(
                    "no type %s in the object's BTF (clang records the types of globals and maps, "
                    "not of locals; or pass a ctypes type)" % event_type
                )
            event_type = ctype(desc, desc["size"])
        return from_bytes(event_type, bytes(data[: ct.sizeof(event_type)]))

    # -- output -------------------------------------------------------------

    def _pipe(self):
        if self.engine != "kernel":
            return None
        if self._trace_pipe is None:
            self._trace_pipe = _visor.TracePipe()
        return self._trace_pipe

    def trace_readline(self, nonblocking=False):
        """The next trace line: trace_pipe's (kernel) or the engine's
        (userspace, lines printed by ``run``)."""
        pipe = self._pipe()
        if pipe is None:
            self._trace_lines.extend(self._object.trace_lines())
            return self._trace_lines.pop(0) if self._trace_lines else None
        return pipe.read_line(0.0 if nonblocking else None)

    def trace_fields(self, nonblocking=False):
        """``(task, pid, cpu, flags, ts, msg)`` of the next trace event."""
        pipe = self._pipe()
        if pipe is None:
            line = self.trace_readline()
            return None if line is None else _visor.parse_trace_line(line)
        return pipe.read_fields(0.0 if nonblocking else None)

    def trace_print(self, fmt=None, count=None):
        """Prints trace lines as they come (until Ctrl-C, or ``count``);
        ``fmt`` formats the fields as BCC's does: ``"{1} {5}"``."""
        printed = 0
        while count is None or printed < count:
            if fmt is None:
                line = self.trace_readline()
                if line is None:
                    return
                print(line)
            else:
                fields = self.trace_fields()
                if fields is None:
                    return
                print(fmt.format(*fields))
            sys.stdout.flush()
            printed += 1

    def perf_buffer_poll(self, timeout=-1):
        """Waits up to ``timeout`` ms for perf samples and gives each to its
        buffer's callback as ``callback(cpu, data, size)``."""
        for reader, callback, lost_cb in self._perf_readers:
            for cpu, data, lost in reader.poll(timeout):
                if data is None:
                    if lost_cb:
                        lost_cb(lost)
                    continue
                buffer = ct.create_string_buffer(data, len(data))
                callback(cpu, buffer, len(data))

    def ring_buffer_poll(self, timeout=-1):
        """Waits up to ``timeout`` ms for ring buffer records and gives each
        to its callback as ``callback(ctx, data, size)``."""
        for reader, callback, ctx in self._ring_readers:
            for data in reader.poll(timeout):
                buffer = ct.create_string_buffer(data, len(data))
                callback(ctx, buffer, len(data))

    def ring_buffer_consume(self):
        self.ring_buffer_poll(0)

    # -- userspace runs -----------------------------------------------------

    def run(self, fn_name, packet=None, ctx=None):
        """Runs ``fn_name`` once on ``packet`` (packet programs) or ``ctx``
        (a context record): ``(return value, packet after the run)``. In
        the kernel this is ``BPF_PROG_TEST_RUN``."""
        return self._object.run(self._fn_name(fn_name), _input(packet, ctx))

    def time(self, fn_name, packet=None, ctx=None, repeat=1000):
        """Runs ``fn_name`` ``repeat`` times on one copy of ``packet`` or
        ``ctx`` (each run sees what the one before left), as
        ``BPF_PROG_TEST_RUN``'s repeat does: nanoseconds per run, in
        either engine."""
        return self._object.time(self._fn_name(fn_name), _input(packet, ctx), int(repeat))

    # -- lifetime -----------------------------------------------------------

    def cleanup(self):
        """Detaches everything; the object goes when the last reference
        does."""
        for key in list(self._attachments):
            _close(self._attachments.pop(key))
        self._perf_readers.clear()
        self._ring_readers.clear()
        self._closed = True

    close = cleanup

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def __del__(self):
        if not getattr(self, "_closed", True):
            self.cleanup()


def _close(attachment):
    if hasattr(attachment, "detach"):
        attachment.detach()
    else:
        attachment.close()


def _input(packet, ctx):
    """The bytes a test run takes: the packet, else the context record,
    else none."""
    data = packet if packet is not None else ctx
    return bytes(data) if data is not None else b""
