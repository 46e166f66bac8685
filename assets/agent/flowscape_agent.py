"""Flowscape's in-process tracing agent.

Runs a Python script as if it ran alone, with a profile hook that records
every Python call and return (and C calls when asked), and streams them in
batches to Flowscape over a unix socket.

Wire format, little-endian, a stream of records: u8 type, u32 payload length,
payload.
  H  JSON hello: pid, version, executable, mode, start_ns, argv, agent_tids
  F  JSON frames: [[id, file, func, first_line, is_c, line_table], ...]
     line_table is a flat [start, end, line, ...] list mapping bytecode
     offsets to lines (sys.monitoring mode) or null
  T  JSON threads: [[tid, name], ...]
  E  events: u32 n, u8 posmode (0 lines, 1 bytecode offsets), then columns
     n*i64 ts (CLOCK_MONOTONIC ns), n*u32 frame id, n*i32 pos, n*u32 tid,
     n*u8 kind (0 call, 1 return, 2 C call, 3 C return, 4 unwind)
  X  JSON end: reason, error

Attached to a running process (attach()), the agent also reads one-byte
commands from the socket: D detach (remove every hook, flush, say goodbye),
P pause (remove the hooks, stay connected), R resume. The socket closing is a
detach too, so a viewer that dies never leaves the process hooked.

Configuration comes from the environment (removed before the script runs):
FLOWSCAPE_SOCKET (path), FLOWSCAPE_CCALLS ("1" to record C calls),
FLOWSCAPE_FLUSH_MS (flush period, default 20), FLOWSCAPE_HOOK (a directory
holding the compiled C hook, _flowscape_hook; without it, or when it does not
load, the hook is the Python one below), FLOWSCAPE_HOOK_NOTE (why there is no
C hook, reported in the hello).
"""

import array
import json
import os
import select
import socket
import struct
import sys
import threading
import time
import types
from operator import itemgetter

import _thread

_HDR = struct.Struct("<BI")
_EHDR = struct.Struct("<IB")
_ig0, _ig1, _ig2, _ig3, _ig4 = (itemgetter(i) for i in range(5))
_SETPROFILE_KIND = {
    "call": 0,
    "return": 1,
    "c_call": 2,
    "c_return": 3,
    "c_exception": 3,
}
_BUILTIN_TYPES = (types.BuiltinFunctionType, types.BuiltinMethodType)


def _c_name(obj):
    """Name a C callable the way a reader expects: module.qualname."""
    try:
        self = getattr(obj, "__self__", None)
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
        if self is not None and not isinstance(self, types.ModuleType):
            owner = type(self).__name__ if not isinstance(self, type) else self.__name__
            if "." not in name:
                name = owner + "." + name
            return name
        mod = getattr(obj, "__module__", None)
        if mod and mod != "builtins":
            return mod + "." + name
        return name
    except Exception:  # never raise from the agent
        return "<C function>"


def _load_hook(directory):
    """The compiled C hook from directory, or (None, why not)."""
    if not directory:
        return None, ""
    sys.path.insert(0, directory)
    try:
        import _flowscape_hook

        return _flowscape_hook, ""
    except Exception as e:  # a bad build must not stop the program
        return None, "the C hook did not load: %r" % (e,)
    finally:
        try:
            sys.path.remove(directory)
        except ValueError:
            pass


def _line_table(code):
    """Flat [start, end, line, ...] from bytecode offsets to lines."""
    table = []
    if hasattr(code, "co_lines"):
        for start, end, line in code.co_lines():
            table.extend((start, end, line or 0))
        return table
    import dis

    starts = list(dis.findlinestarts(code))
    for i, (off, line) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(code.co_code)
        table.extend((off, end, line))
    return table


class Agent:
    """Owns the socket, the per-thread buffers and the frame table."""

    def __init__(self, sock, c_calls, flush_s, chook=None):
        self.sock = sock
        self.c_calls = c_calls
        self.flush_s = flush_s
        self.pid = os.getpid()
        self.buffers = []  # [(tid, list)] in setprofile mode
        self.gbuf = []  # the one buffer in sys.monitoring mode
        self.code_ids = {}  # id(code) -> frame id; codes kept alive in self.keep
        self.keep = []
        self.c_ids = {}  # C callable name -> frame id
        self.next_id = 1
        self.threads = {}  # tid -> name sent
        self.names = {}  # tid -> name, noted when a thread's hook is made
        self.stop = threading.Event()
        self.dead = False
        self.mode = "sys.monitoring" if sys.version_info >= (3, 12) else "setprofile"
        self.chook = chook  # the C hook module, or None
        self.tool = None
        self.flusher = None
        self.lost = None  # tid whose hook the interpreter removed
        self.attached = False  # injected into a running process
        self.paused = False
        self.configured = False  # the C hook's session started

    # ---- output ----
    def send(self, kind, payload):
        self.send_record(_HDR.pack(kind, len(payload)) + payload)

    def send_record(self, record):
        """Sends a whole record, header included (the C hook makes them so)."""
        if self.dead:
            return
        try:
            self.sock.sendall(record)
        except OSError:
            # The viewer went away: stop tracing, let the program run on.
            self.dead = True
            self.uninstall()

    def send_json(self, kind, obj):
        self.send(kind, json.dumps(obj, separators=(",", ":")).encode("utf-8", "replace"))

    # ---- frames ----
    def _new_code(self, code):
        if code.co_filename == __file__:
            # The agent's own code (its exit path under sys.monitoring):
            # frame id 0, which the reader drops.
            self.code_ids[id(code)] = 0
            self.keep.append(code)
            return None
        fid = self.next_id
        self.next_id += 1
        self.code_ids[id(code)] = fid
        self.keep.append(code)
        table = None
        if self.mode == "sys.monitoring":
            table = []
            for start, end, line in code.co_lines():
                table.extend((start, end, line or 0))
        name = getattr(code, "co_qualname", code.co_name)
        return [fid, code.co_filename, name, code.co_firstlineno, False, table]

    def _frame(self, code, frames):
        fr = self._new_code(code)
        if fr is None:
            return 0
        frames.append(fr)
        return fr[0]

    def _c_id(self, obj, frames):
        name = _c_name(obj)
        fid = self.c_ids.get(name)
        if fid is None:
            fid = self.next_id
            self.next_id += 1
            self.c_ids[name] = fid
            frames.append([fid, "~", name, 0, True, None])
        return fid

    def _ids(self, objs, kinds):
        """Frame ids for a batch; announces new frames first."""
        frames = []
        get = self.code_ids.get
        if self.c_calls and (2 in kinds or 3 in kinds):
            ids = []
            for obj, k in zip(objs, kinds):
                if k == 2 or k == 3:
                    ids.append(self._c_id(obj, frames))
                else:
                    fid = get(id(obj))
                    if fid is None:
                        fid = self._frame(obj, frames)
                    ids.append(fid)
        else:
            ids = list(map(get, map(id, objs)))
            if None in ids:
                for i, fid in enumerate(ids):
                    if fid is None:
                        fid = get(id(objs[i]))
                        if fid is None:
                            fid = self._frame(objs[i], frames)
                        ids[i] = fid
        if frames:
            self.send_json(ord("F"), frames)
        return ids

    def _threads(self):
        names = {}
        for t in threading.enumerate():
            nid = getattr(t, "native_id", None)
            if nid is not None:
                names[nid] = t.name
        return names

    def _announce(self, tids):
        new = [t for t in tids if t not in self.threads]
        if not new:
            return
        names = self._threads()
        names.update(self.names)
        out = []
        for t in new:
            name = names.get(t, "")
            self.threads[t] = name
            out.append([t, name])
        self.send_json(ord("T"), out)

    def encode(self, items, tid=None):
        """Send one batch of events; tid is None when items carry their own."""
        n = len(items)
        if n == 0 or self.dead:
            return
        kinds = bytes(map(_ig1, items))
        if self.mode == "sys.monitoring":
            tids = array.array("I", list(map(_ig4, items)))
            self._announce(set(tids))
            posmode = 1
        else:
            tids = array.array("I", [tid]) * n
            self._announce((tid,))
            posmode = 0
        ids = array.array("I", self._ids(list(map(_ig2, items)), kinds))
        ts = array.array("q", list(map(_ig0, items)))
        pos = array.array("i", list(map(_ig3, items)))
        if sys.byteorder != "little":
            for a in (ts, ids, pos, tids):
                a.byteswap()
        self.send(
            ord("E"),
            b"".join((_EHDR.pack(n, posmode), ts.tobytes(), ids.tobytes(), pos.tobytes(), tids.tobytes(), kinds)),
        )

    def flush(self):
        if os.getpid() != self.pid:
            return
        if self.chook is not None:
            self._flush_c()
            return
        if self.mode == "sys.monitoring":
            buf = self.gbuf
            if buf:
                items = buf[:]
                del buf[: len(items)]
                self.encode(items)
            return
        for tid, buf in list(self.buffers):
            if buf:
                items = buf[:]
                del buf[: len(items)]
                self.encode(items, tid)

    def _flush_c(self):
        codes, cfuncs, tids, n = self.chook.take()
        if self.dead:
            return
        frames = []
        for fid, code in codes:
            name = getattr(code, "co_qualname", code.co_name)
            frames.append([fid, code.co_filename, name, code.co_firstlineno, False, _line_table(code)])
        for fid, obj in cfuncs:
            frames.append([fid, "~", _c_name(obj), 0, True, None])
        if frames:
            self.send_json(ord("F"), frames)
        if tids:
            self._announce(tids)
        if n and not self.dead:
            try:
                # encoded and written in C without the GIL: the program
                # runs on meanwhile
                self.chook.write(self.sock.fileno())
            except OSError:
                self.dead = True
                self.uninstall()

    def run_flusher(self):
        if self.attached:
            self.run_attached()
            return
        while not self.stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception as e:  # never let the agent kill the program
                self.fail(e)

    def run_attached(self):
        """The flusher of an attached agent: flushes, and obeys commands."""
        try:
            while not self.stop.is_set() and not self.dead:
                if self.chook is not None and self.mode == "setprofile":
                    self.chook.uninstall()  # install_all hooked this thread too
                ready = select.select([self.sock], [], [], self.flush_s)[0]
                if ready:
                    cmd = self.sock.recv(1)
                    if not cmd or cmd == b"D":
                        self.detach("detached" if cmd else "viewer closed the connection")
                        return
                    if cmd == b"P" and not self.paused:
                        self.paused = True
                        self.uninstall_all()
                    elif cmd == b"R" and self.paused:
                        self.paused = False
                        self.install_all()
                self.flush()
        except Exception as e:  # never let the agent kill the program
            self.fail(e)
        finally:
            if not self.dead:
                self.detach("agent stopped")

    def detach(self, reason):
        """Removes every hook, sends what is left and says goodbye."""
        self.uninstall_all()
        self.stop.set()
        try:
            self.flush()
        except Exception:
            pass
        self.send_json(ord("X"), {"reason": reason})
        self.dead = True
        try:
            self.sock.close()
        except OSError:
            pass
        if getattr(sys, "_flowscape_agent", None) is self:
            sys._flowscape_agent = None

    def fail(self, e):
        try:
            self.send_json(ord("X"), {"reason": "agent error", "error": repr(e)})
        finally:
            self.dead = True
            self.uninstall()

    # ---- hooks ----
    def make_hook(self, tid):
        buf = []
        self.buffers.append((tid, buf))
        append = buf.append
        now = time.monotonic_ns
        CALL, RETURN = "call", "return"
        # A hook that raises is removed by the interpreter: at the recursion
        # limit (RecursionError) the hook's own frame cannot be entered, so
        # on <= 3.11 tracing of that thread ends there and its open calls
        # stay open. sys.monitoring (>= 3.12) keeps going.
        if self.attached:
            # Attached: another thread cannot remove this thread's Python
            # hook, so the hook removes itself once the agent is done.
            agent = self

            def hook(frame, event, arg):
                if agent.dead or agent.paused:
                    sys.setprofile(None)
                    return
                if event == CALL:
                    append((now(), 0, frame.f_code, frame.f_lineno))
                elif event == RETURN:
                    append((now(), 1, frame.f_code, frame.f_lineno))

        elif self.c_calls:
            kind = _SETPROFILE_KIND.__getitem__

            def hook(frame, event, arg):
                if event == CALL:
                    append((now(), 0, frame.f_code, frame.f_lineno))
                elif event == RETURN:
                    append((now(), 1, frame.f_code, frame.f_lineno))
                else:
                    append((now(), kind(event), arg, frame.f_lineno))

        else:
            # Only Python calls; C events are dropped as cheaply as can be.
            def hook(frame, event, arg):
                if event == CALL:
                    append((now(), 0, frame.f_code, frame.f_lineno))
                elif event == RETURN:
                    append((now(), 1, frame.f_code, frame.f_lineno))

        return hook

    def thread_starter(self, frame, event, arg):
        """Installed for new threads: swaps in a per-thread hook."""
        if self.dead:
            sys.setprofile(None)
            return
        tid = threading.get_native_id()
        self.names[tid] = threading.current_thread().name
        hook = self.make_hook(tid)
        sys.setprofile(hook)
        hook(frame, event, arg)

    def c_thread_starter(self, frame, event, arg):
        """Installed for new threads with the C hook: sets it in the thread
        and records the event that reached this starter."""
        if self.dead or self.paused:
            sys.setprofile(None)
            return
        self.names[threading.get_native_id()] = threading.current_thread().name
        self.chook.install()
        if event == "call":
            self.chook.record(frame, 0)

    def check_hook(self):
        """Ends tracing of the main thread after the script (setprofile mode)
        and tells the reader if the interpreter had removed the hook."""
        if self.mode != "setprofile":
            return
        if self.chook is not None:
            self.chook.uninstall()  # a C hook is never removed by the interpreter
            return
        lost = sys.getprofile() is None
        sys.setprofile(None)
        if lost:
            self.lost = threading.get_native_id()

    def name_thread(self, frame, event, arg):
        """Notes a new thread's name (sys.monitoring mode), then unhooks."""
        sys.setprofile(None)
        self.names[threading.get_native_id()] = threading.current_thread().name

    def configure_chook(self):
        """Starts the C hook's session (fresh frame ids) once per agent."""
        if not self.configured:
            self.chook.configure(__file__, self.c_calls)
            self.configured = True

    def install(self):
        if self.chook is not None:
            self.configure_chook()
            if self.mode == "sys.monitoring":
                threading.setprofile(self.name_thread)
                self._install_monitoring()
            else:
                threading.setprofile(self.c_thread_starter)
                self.chook.install()
            return
        if self.mode == "sys.monitoring":
            threading.setprofile(self.name_thread)
            self._install_monitoring()
        else:
            threading.setprofile(self.thread_starter)
            sys.setprofile(self.make_hook(threading.get_native_id()))

    def install_all(self):
        """Hooks every thread of a running process (attach, resume)."""
        if self.mode == "sys.monitoring" or self.chook is None:
            # sys.monitoring covers every thread; the Python setprofile hook
            # can only be set in the calling thread and new ones
            self.install()
            return
        self.configure_chook()
        threading.setprofile(self.c_thread_starter)
        self.chook.install_all()

    def uninstall_all(self):
        """Removes the hooks from every thread (detach, pause)."""
        try:
            threading.setprofile(None)
            if self.mode == "sys.monitoring":
                if self.tool is not None:
                    sys.monitoring.set_events(self.tool, 0)
                    sys.monitoring.free_tool_id(self.tool)
                    self.tool = None
            elif self.chook is not None:
                self.chook.uninstall_all()
            else:
                sys.setprofile(None)  # the other threads' hooks remove themselves
        except Exception:
            pass

    def _install_monitoring(self):
        mon = sys.monitoring
        for tool in (4, 3, 5, 2):
            try:
                mon.use_tool_id(tool, "flowscape")
                self.tool = tool
                break
            except ValueError:
                continue
        else:
            raise RuntimeError("no free sys.monitoring tool id")
        E = mon.events
        cb = mon.register_callback
        if self.chook is not None:
            h = self.chook
            for ev, fn in (
                (E.PY_START, h.mon_start),
                (E.PY_RESUME, h.mon_start),
                (E.PY_THROW, h.mon_start),
                (E.PY_RETURN, h.mon_return),
                (E.PY_YIELD, h.mon_return),
                (E.PY_UNWIND, h.mon_unwind),
            ):
                cb(self.tool, ev, fn)
            events = E.PY_START | E.PY_RESUME | E.PY_THROW | E.PY_RETURN | E.PY_YIELD | E.PY_UNWIND
            if self.c_calls:
                cb(self.tool, E.CALL, h.mon_call)
                cb(self.tool, E.C_RETURN, h.mon_creturn)
                cb(self.tool, E.C_RAISE, h.mon_creturn)
                events |= E.CALL | E.C_RETURN | E.C_RAISE
            mon.set_events(self.tool, events)
            return
        append = self.gbuf.append
        now = time.monotonic_ns
        tid = _thread.get_native_id

        def start(code, off):
            append((now(), 0, code, off, tid()))

        def ret(code, off, val):
            append((now(), 1, code, off, tid()))

        def unwind(code, off, exc):
            append((now(), 4, code, off, tid()))

        def throw(code, off, exc):
            append((now(), 0, code, off, tid()))

        cb(self.tool, E.PY_START, start)
        cb(self.tool, E.PY_RESUME, start)
        cb(self.tool, E.PY_THROW, throw)
        cb(self.tool, E.PY_RETURN, ret)
        cb(self.tool, E.PY_YIELD, ret)
        cb(self.tool, E.PY_UNWIND, unwind)
        events = E.PY_START | E.PY_RESUME | E.PY_THROW | E.PY_RETURN | E.PY_YIELD | E.PY_UNWIND
        if self.c_calls:
            ctypes_ = (types.BuiltinFunctionType, types.MethodDescriptorType)

            def call(code, off, func, arg0):
                if type(func) in ctypes_:
                    append((now(), 2, func, off, tid()))

            def cret(code, off, func, arg0):
                if type(func) in ctypes_:
                    append((now(), 3, func, off, tid()))

            cb(self.tool, E.CALL, call)
            cb(self.tool, E.C_RETURN, cret)
            cb(self.tool, E.C_RAISE, cret)
            events |= E.CALL | E.C_RETURN | E.C_RAISE
        mon.set_events(self.tool, events)

    def uninstall(self):
        try:
            if self.mode == "sys.monitoring":
                threading.setprofile(None)
                if self.tool is not None:
                    sys.monitoring.set_events(self.tool, 0)
                    sys.monitoring.free_tool_id(self.tool)
                    self.tool = None
            else:
                threading.setprofile(None)
                if self.chook is not None:
                    self.chook.uninstall()
                else:
                    sys.setprofile(None)
        except Exception:
            pass

    def start(self, argv, hook_note):
        """Starts the flusher thread and says hello."""
        self.flusher = threading.Thread(target=self.run_flusher, name="flowscape-flusher", daemon=True)
        self.flusher.start()
        while self.flusher.native_id is None:
            time.sleep(0.001)
        self.send_json(
            ord("H"),
            {
                "pid": os.getpid(),
                "version": "%d.%d.%d" % sys.version_info[:3],
                "executable": sys.executable,
                "mode": self.mode + (" (C hook)" if self.chook is not None else ""),
                "hook": "c" if self.chook is not None else "python",
                "hook_note": hook_note,
                "c_calls": self.c_calls,
                "start_ns": time.monotonic_ns(),
                "argv": argv,
                "agent_tids": [self.flusher.native_id],
                "attached": self.attached,
            },
        )

    def finish(self, reason="exit"):
        """Flush everything and say goodbye; called once at interpreter exit."""
        if self.dead:
            return
        self.uninstall()
        self.stop.set()
        if self.flusher is not None and self.flusher is not threading.current_thread():
            self.flusher.join(1.0)
        try:
            self.flush()
        except Exception as e:
            self.fail(e)
            return
        end = {"reason": reason}
        if self.lost is not None:
            end["error"] = (
                "the interpreter removed the profile hook of the main thread "
                "(RecursionError at the recursion limit): calls after that were not seen"
            )
        self.send_json(ord("X"), end)
        try:
            self.sock.close()
        except OSError:
            pass
        self.dead = True

    def after_fork_child(self):
        # A forked child must not write into the parent's stream.
        self.dead = True
        self.uninstall()
        try:
            self.sock.close()
        except OSError:
            pass


def _without_agent(tb):
    """The traceback tb with the agent's own frames unlinked."""
    head = prev = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename != __file__:
            if prev is None:
                head = tb
            else:
                prev.tb_next = tb
            prev = tb
        tb = tb.tb_next
    if prev is not None:
        prev.tb_next = None
    return head


def attach(sock_path, c_calls=False, hook_dir="", hook_note="", flush_ms=20, path_dir=""):
    """Starts tracing the running process this is injected into (by a
    pending call, between bytecodes of the main thread). Never raises: an
    exception here would surface in the traced program. path_dir is the
    directory the injector put on sys.path to import this module."""
    try:
        if path_dir in sys.path:
            sys.path.remove(path_dir)
    except Exception:
        pass
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(sock_path)
    except Exception:
        return
    try:
        old = getattr(sys, "_flowscape_agent", None)
        if old is not None and not old.dead:
            payload = json.dumps({"reason": "refused", "error": "this process is already being traced by Flowscape"})
            sock.sendall(_HDR.pack(ord("X"), len(payload)) + payload.encode())
            sock.close()
            return
        chook, note = _load_hook(hook_dir)
        agent = Agent(sock, c_calls, flush_ms / 1000.0, chook)
        agent.attached = True
        sys._flowscape_agent = agent
        if not note and chook is None:
            note = hook_note
        if chook is None and agent.mode == "setprofile":
            note = (note + "; " if note else "") + (
                "with the Python hook only the main thread and new threads are traced "
                "(the C hook traces them all)"
            )
        agent.start(list(sys.argv), note)
        import atexit

        atexit.register(agent.finish)
        agent.install_all()
    except BaseException:
        try:
            sock.close()
        except Exception:
            pass


def _load_script(path):
    with open(path, "rb") as f:
        src = f.read()
    return compile(src, path, "exec", dont_inherit=True)


def main():
    sock_path = os.environ.pop("FLOWSCAPE_SOCKET", "")
    c_calls = os.environ.pop("FLOWSCAPE_CCALLS", "") == "1"
    flush_s = int(os.environ.pop("FLOWSCAPE_FLUSH_MS", "20") or "20") / 1000.0
    chook, hook_note = _load_hook(os.environ.pop("FLOWSCAPE_HOOK", ""))
    hook_note = os.environ.pop("FLOWSCAPE_HOOK_NOTE", "") or hook_note
    argv = sys.argv[1:]
    if not argv:
        sys.stderr.write("flowscape agent: no script given\n")
        sys.exit(2)
    script = argv[0]
    try:
        code = _load_script(script)
    except OSError as e:
        sys.stderr.write("flowscape: can't open file %r: %s\n" % (script, e))
        sys.exit(2)
    except (SyntaxError, ValueError) as e:
        import traceback

        traceback.print_exception(type(e), e, None)
        sys.exit(1)

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(sock_path)
    except OSError as e:
        sys.stderr.write("flowscape agent: cannot connect to %r: %s\n" % (sock_path, e))
        sys.exit(70)

    agent = Agent(sock, c_calls, flush_s, chook)
    # The script sees itself as __main__, with its own argv and path.
    sys.argv = argv
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    main_mod = types.ModuleType("__main__")
    main_mod.__file__ = script
    main_mod.__builtins__ = __builtins__
    sys.modules["__main__"] = main_mod

    agent.start(argv, hook_note)
    import atexit

    atexit.register(agent.finish)
    os.register_at_fork(after_in_child=agent.after_fork_child)
    g = main_mod.__dict__
    agent.install()
    try:
        exec(code, g)
    except SystemExit:
        agent.check_hook()
        raise
    except BaseException as e:
        agent.check_hook()
        # Print the traceback as Python would, without the agent's frames
        # (its main, and its hook when the error was raised inside it).
        tb = _without_agent(e.__traceback__)
        e.__traceback__ = tb
        sys.excepthook(type(e), e, tb)
        sys.exit(130 if isinstance(e, KeyboardInterrupt) else 1)
    agent.check_hook()
