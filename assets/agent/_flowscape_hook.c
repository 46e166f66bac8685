/*
 * _flowscape_hook: Flowscape's profile hook in C.
 *
 * The same events as the agent's Python hook (call, return, C call, C
 * return), recorded by a C profile function (PyEval_SetProfile) into one
 * buffer guarded by the GIL, and handed to the agent's flusher thread as a
 * ready-made "E" record (u8 'E', u32 length, then the body: u32 n, u8
 * posmode = 1, then the columns ts, frame id, bytecode offset, thread id,
 * kind).
 *
 * Frame ids live in each code object's co_extra slot, so the hook never
 * hashes a code object; new code objects and C functions are queued for the
 * flusher, which announces them before the events that use them.
 *
 * Built on first use against the target interpreter's headers:
 *   cc -O2 -shared -fPIC -I<include> _flowscape_hook.c -o _flowscape_hook<EXT_SUFFIX>
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#if PY_VERSION_HEX < 0x03080000
#error "Flowscape's hook needs Python 3.8 or newer"
#endif
#if UINTPTR_MAX < 0xFFFFFFFFFFFFFFFFu
#error "Flowscape's hook needs a 64-bit machine (co_extra holds a session and an id)"
#endif
#ifdef Py_GIL_DISABLED
#error "Flowscape's hook needs the GIL (not a free-threaded build)"
#endif

#if PY_VERSION_HEX >= 0x030C0000
#define REQUEST_EXTRA PyUnstable_Eval_RequestCodeExtraIndex
#define GET_EXTRA PyUnstable_Code_GetExtra
#define SET_EXTRA PyUnstable_Code_SetExtra
#else
#define REQUEST_EXTRA _PyEval_RequestCodeExtraIndex
#define GET_EXTRA _PyCode_GetExtra
#define SET_EXTRA _PyCode_SetExtra
#endif

enum { K_CALL = 0, K_RETURN = 1, K_CCALL = 2, K_CRETURN = 3 };

#define OWN_CODE 0xFFFFFFFFu /* low half of co_extra for the agent's own code: id 0 */
#define MAX_EVENTS (16u * 1024u * 1024u)           /* buffer cap: ≈ 336 MB */

typedef struct {
    int64_t ts;
    uint32_t id;
    int32_t pos;
    uint32_t tid;
    uint8_t kind;
} event;

static event *buf;
static size_t nbuf, capbuf;
/* The events taken by take(), owned by the flusher until write() sends
 * them; the hook records into buf meanwhile. */
static event *spare;
static size_t nspare, capspare;
static unsigned long long dropped;
/* write()'s encoding buffer, for records of at most WRITE_CHUNK events */
#define WRITE_CHUNK 32768u
static unsigned char *wbuf;

static Py_ssize_t extra_index = -1;
static uint32_t next_id = 1;
/* A tracing session (one configure() call): co_extra holds the session in
 * its high half and the frame id in its low half, so ids from an earlier
 * session (an earlier attach to the same process) are announced again. */
static uint32_t session;
static PyObject *own_file;      /* the agent's file name: its code gets id 0 */
static PyObject *pending_codes; /* list of (id, code) */
static PyObject *pending_cfuncs; /* list of (id, callable) */
static int c_calls;
/* The module's profile() function: passed as the C profile function's
 * object, so sys.getprofile() in a hooked thread returns it (None once
 * unhooked), and a program that saves and restores its profile function
 * gets one that still records. */
static PyObject *self_module;

/* C functions by their method definition (or type): open addressing. */
typedef struct {
    const void *key;
    uint32_t id;
} slot;
static slot *ctab;
static size_t ctab_cap, ctab_n;

/* Thread ids seen since the last take(), for the thread announcements. */
static uint32_t tids_seen[64];
static int ntids_seen;

static _Thread_local uint32_t my_tid;

static inline uint32_t
native_tid(void)
{
    if (my_tid == 0) {
        my_tid = (uint32_t)syscall(SYS_gettid);
    }
    return my_tid;
}

static inline int64_t
now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ---- the events' clock ----
 * Events carry CLOCK_MONOTONIC nanoseconds, the clock of every other
 * source. Where the kernel itself keeps that clock on the TSC (it chose the
 * "tsc" clocksource: invariant and synchronised across CPUs), the hook
 * reads the TSC alone (≈ 10 ns instead of clock_gettime's ≈ 23 ns, twice per
 * call), and take() maps ticks to nanoseconds by interpolating between two
 * (ticks, ns) pairs read together: one at the previous take, one now. The
 * mapping is exact at both ends, so it never drifts. */
typedef struct {
    int64_t tsc, ns;
} calib;

static int use_tsc;
static calib cal_last;           /* read at the last take() (or configure) */
static calib spare_from, spare_to; /* the span of the events in spare */
static double ns_per_tick;        /* the latest measured rate */

static inline int64_t
stamp(void)
{
#if defined(__x86_64__)
    if (use_tsc) {
        return (int64_t)__rdtsc();
    }
#endif
    return now_ns();
}

static calib
calibrate(void)
{
    calib c;
#if defined(__x86_64__)
    if (use_tsc) {
        /* the pair read closest together of three */
        int64_t best = INT64_MAX;
        for (int i = 0; i < 3; i++) {
            int64_t a = (int64_t)__rdtsc();
            int64_t ns = now_ns();
            int64_t b = (int64_t)__rdtsc();
            if (b - a < best) {
                best = b - a;
                c.tsc = a + (b - a) / 2;
                c.ns = ns;
            }
        }
        return c;
    }
#endif
    c.tsc = c.ns = now_ns();
    return c;
}

static int
kernel_uses_tsc(void)
{
#if defined(__x86_64__)
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f == NULL) {
        return 0;
    }
    char name[32] = {0};
    int ok = fgets(name, sizeof name, f) != NULL && strncmp(name, "tsc\n", 4) == 0;
    fclose(f);
    return ok;
#else
    return 0;
#endif
}

/* to_ns maps n stamps, recorded between from and to, to nanoseconds. */
static void
to_ns(event *ev, size_t n, calib from, calib to)
{
    if (!use_tsc || n == 0) {
        return;
    }
    if (to.tsc > from.tsc && to.ns > from.ns) {
        ns_per_tick = (double)(to.ns - from.ns) / (double)(to.tsc - from.tsc);
    }
    double r = ns_per_tick > 0 ? ns_per_tick : 1.0;
    for (size_t i = 0; i < n; i++) {
        ev[i].ts = from.ns + (int64_t)((double)(ev[i].ts - from.tsc) * r);
    }
}

static int
grow(void)
{
    size_t cap = capbuf ? capbuf * 2 : 65536;
    if (cap > MAX_EVENTS) {
        cap = MAX_EVENTS;
    }
    if (cap <= capbuf) {
        return -1;
    }
    event *b = realloc(buf, cap * sizeof(event));
    if (b == NULL) {
        return -1;
    }
    buf = b;
    capbuf = cap;
    return 0;
}

static inline void
record(int64_t ts, uint32_t id, int32_t pos, uint8_t kind)
{
    if (nbuf == capbuf && grow() < 0) {
        dropped++;
        return;
    }
    uint32_t tid = native_tid();
    event *e = &buf[nbuf++];
    e->ts = ts;
    e->id = id;
    e->pos = pos;
    e->tid = tid;
    e->kind = kind;
    if (ntids_seen == 0 || tids_seen[ntids_seen - 1] != tid) {
        int i;
        for (i = 0; i < ntids_seen; i++) {
            if (tids_seen[i] == tid) {
                break;
            }
        }
        if (i == ntids_seen && ntids_seen < 64) {
            tids_seen[ntids_seen++] = tid;
        }
    }
}

/* The frame id of a code object, announcing it when new. Never fails:
 * on an error the event gets id 0 (dropped by the reader). */
static uint32_t
code_id(PyCodeObject *code)
{
    void *extra = NULL;
    if (GET_EXTRA((PyObject *)code, extra_index, &extra) < 0) {
        PyErr_Clear();
        return 0;
    }
    uint64_t v = (uint64_t)(uintptr_t)extra;
    if ((uint32_t)v == OWN_CODE) {
        return 0;
    }
    if (v != 0 && (uint32_t)(v >> 32) == session) {
        return (uint32_t)v;
    }
    if (own_file != NULL && PyUnicode_Compare(code->co_filename, own_file) == 0) {
        SET_EXTRA((PyObject *)code, extra_index, (void *)(uintptr_t)OWN_CODE);
        return 0;
    }
    if (PyErr_Occurred()) {
        PyErr_Clear();
    }
    uint32_t id = next_id++;
    PyObject *item = Py_BuildValue("(IO)", id, (PyObject *)code);
    if (item == NULL || PyList_Append(pending_codes, item) < 0) {
        Py_XDECREF(item);
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(item);
    if (SET_EXTRA((PyObject *)code, extra_index, (void *)(uintptr_t)(((uint64_t)session << 32) | id)) < 0) {
        PyErr_Clear();
    }
    return id;
}

static const void *
cfunc_key(PyObject *f)
{
    if (PyCFunction_Check(f)) {
        return ((PyCFunctionObject *)f)->m_ml;
    }
    if (Py_TYPE(f) == &PyMethodDescr_Type) {
        return ((PyMethodDescrObject *)f)->d_method;
    }
    return Py_TYPE(f);
}

static int
ctab_grow(void)
{
    size_t cap = ctab_cap ? ctab_cap * 2 : 1024;
    slot *t = calloc(cap, sizeof(slot));
    if (t == NULL) {
        return -1;
    }
    for (size_t i = 0; i < ctab_cap; i++) {
        if (ctab[i].key != NULL) {
            size_t j = ((uintptr_t)ctab[i].key >> 4) & (cap - 1);
            while (t[j].key != NULL) {
                j = (j + 1) & (cap - 1);
            }
            t[j] = ctab[i];
        }
    }
    free(ctab);
    ctab = t;
    ctab_cap = cap;
    return 0;
}

static uint32_t
cfunc_id(PyObject *f)
{
    const void *key = cfunc_key(f);
    if (ctab_n * 2 >= ctab_cap && ctab_grow() < 0) {
        return 0;
    }
    size_t j = ((uintptr_t)key >> 4) & (ctab_cap - 1);
    while (ctab[j].key != NULL) {
        if (ctab[j].key == key) {
            return ctab[j].id;
        }
        j = (j + 1) & (ctab_cap - 1);
    }
    uint32_t id = next_id++;
    PyObject *item = Py_BuildValue("(IO)", id, f);
    if (item == NULL || PyList_Append(pending_cfuncs, item) < 0) {
        Py_XDECREF(item);
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(item);
    ctab[j].key = key;
    ctab[j].id = id;
    ctab_n++;
    return id;
}

/* The bytecode offset the frame is at, in bytes. */
static inline int32_t
frame_offset(PyFrameObject *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    return (int32_t)PyFrame_GetLasti(frame);
#elif PY_VERSION_HEX >= 0x030A0000
    return frame->f_lasti < 0 ? 0 : frame->f_lasti * 2; /* instruction index */
#else
    return frame->f_lasti < 0 ? 0 : frame->f_lasti;
#endif
}

static inline PyCodeObject *
frame_code(PyFrameObject *frame)
{
#if PY_VERSION_HEX >= 0x03090000
    PyCodeObject *code = PyFrame_GetCode(frame); /* new reference */
    Py_DECREF(code); /* the frame keeps it alive */
    return code;
#else
    return frame->f_code;
#endif
}

static int
hook(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    int64_t ts = stamp();
    switch (what) {
    case PyTrace_CALL:
        record(ts, code_id(frame_code(frame)), frame_offset(frame), K_CALL);
        break;
    case PyTrace_RETURN:
        record(ts, code_id(frame_code(frame)), frame_offset(frame), K_RETURN);
        break;
    case PyTrace_C_CALL:
        if (c_calls) {
            record(ts, cfunc_id(arg), 0, K_CCALL);
        }
        break;
    case PyTrace_C_RETURN:
    case PyTrace_C_EXCEPTION:
        if (c_calls) {
            record(ts, cfunc_id(arg), 0, K_CRETURN);
        }
        break;
    default:
        break;
    }
    return 0;
}

/* ---- setting the hook in threads ---- */

static void
set_all(Py_tracefunc func)
{
    PyObject *obj = func != NULL ? self_module : NULL;
#if PY_VERSION_HEX >= 0x030C0000
    PyEval_SetProfileAllThreads(func, obj);
#else
    PyThreadState *me = PyThreadState_Get();
#if PY_VERSION_HEX >= 0x03090000
    PyInterpreterState *interp = PyThreadState_GetInterpreter(me);
#else
    PyInterpreterState *interp = me->interp;
#endif
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts != NULL; ts = PyThreadState_Next(ts)) {
#if PY_VERSION_HEX >= 0x03090000
        if (_PyEval_SetProfile(ts, func, obj) < 0) {
            PyErr_Clear();
        }
#else
        PyObject *old = ts->c_profileobj;
        Py_XINCREF(obj);
        ts->c_profilefunc = func;
        ts->c_profileobj = obj;
        ts->use_tracing = (func != NULL) || (ts->c_tracefunc != NULL);
        Py_XDECREF(old);
#endif
    }
#endif
}

static PyObject *
h_configure(PyObject *self, PyObject *args)
{
    PyObject *file;
    int cc;
    if (!PyArg_ParseTuple(args, "Up", &file, &cc)) {
        return NULL;
    }
    Py_INCREF(file);
    Py_XSETREF(own_file, file);
    c_calls = cc;
    /* a new session: fresh ids, nothing pending from an earlier one */
    session++;
    use_tsc = kernel_uses_tsc();
    cal_last = calibrate();
    next_id = 1;
    nbuf = 0;
    nspare = 0;
    ntids_seen = 0;
    if (ctab != NULL) {
        memset(ctab, 0, ctab_cap * sizeof(slot));
        ctab_n = 0;
    }
    PyObject *c = PyList_New(0), *f = PyList_New(0);
    if (c == NULL || f == NULL) {
        Py_XDECREF(c);
        Py_XDECREF(f);
        return NULL;
    }
    Py_XSETREF(pending_codes, c);
    Py_XSETREF(pending_cfuncs, f);
    Py_RETURN_NONE;
}

static PyObject *
h_install(PyObject *self, PyObject *noargs)
{
    PyEval_SetProfile(hook, self_module);
    Py_RETURN_NONE;
}

static PyObject *
h_uninstall(PyObject *self, PyObject *noargs)
{
    PyEval_SetProfile(NULL, NULL);
    Py_RETURN_NONE;
}

static PyObject *
h_install_all(PyObject *self, PyObject *noargs)
{
    set_all(hook);
    Py_RETURN_NONE;
}

static PyObject *
h_uninstall_all(PyObject *self, PyObject *noargs)
{
    set_all(NULL);
    Py_RETURN_NONE;
}

/* record(frame, kind): an event for frame now, for a thread whose first
 * event reached a Python-level starter before the C hook was set. */
static PyObject *
h_record(PyObject *self, PyObject *args)
{
    PyObject *frame;
    int kind;
    if (!PyArg_ParseTuple(args, "O!i", &PyFrame_Type, &frame, &kind)) {
        return NULL;
    }
    PyFrameObject *f = (PyFrameObject *)frame;
    record(stamp(), code_id(frame_code(f)), frame_offset(f), (uint8_t)kind);
    Py_RETURN_NONE;
}

/* encode writes n events as a whole "E" record (header included) to dst,
 * which holds 10 + 21n bytes. */
static void
encode(const event *src, size_t n, unsigned char *p)
{
    uint32_t len = (uint32_t)(5 + 21 * n), n32 = (uint32_t)n;
    p[0] = 'E';
    memcpy(p + 1, &len, 4); /* little-endian machines only, checked at import */
    p += 5;
    memcpy(p, &n32, 4);
    p[4] = 1; /* positions are bytecode offsets */
    unsigned char *ts = p + 5, *ids = ts + 8 * n, *pos = ids + 4 * n, *tid = pos + 4 * n, *kind = tid + 4 * n;
    for (size_t i = 0; i < n; i++) {
        const event *e = &src[i];
        memcpy(ts + 8 * i, &e->ts, 8);
        memcpy(ids + 4 * i, &e->id, 4);
        memcpy(pos + 4 * i, &e->pos, 4);
        memcpy(tid + 4 * i, &e->tid, 4);
        kind[i] = e->kind;
    }
}

/* pending() -> (codes, cfuncs, tids): the frames and threads to announce,
 * cleared. */
static PyObject *
pending(void)
{
    PyObject *codes = pending_codes, *cfuncs = pending_cfuncs;
    PyObject *newc = PyList_New(0), *newf = PyList_New(0);
    PyObject *tids = PyList_New(ntids_seen);
    if (newc == NULL || newf == NULL || tids == NULL) {
        Py_XDECREF(newc);
        Py_XDECREF(newf);
        Py_XDECREF(tids);
        return NULL;
    }
    pending_codes = newc;
    pending_cfuncs = newf;
    for (int i = 0; i < ntids_seen; i++) {
        PyList_SET_ITEM(tids, i, PyLong_FromUnsignedLong(tids_seen[i]));
    }
    ntids_seen = 0;
    return Py_BuildValue("(NNN)", codes, cfuncs, tids);
}

/* take() -> (codes, cfuncs, tids, n): swaps the recording buffer for the
 * spare one (O(1) under the GIL) and returns what to announce before the n
 * events taken, which write() then sends. */
static PyObject *
h_take(PyObject *self, PyObject *noargs)
{
    if (nspare != 0) {
        PyErr_SetString(PyExc_RuntimeError, "take() again before write()");
        return NULL;
    }
    PyObject *p = pending();
    if (p == NULL) {
        return NULL;
    }
    event *b = buf;
    size_t c = capbuf;
    buf = spare;
    capbuf = capspare;
    spare = b;
    capspare = c;
    nspare = nbuf;
    nbuf = 0;
    spare_from = cal_last;
    spare_to = cal_last = calibrate();
    PyObject *out = Py_BuildValue("(OOOn)", PyTuple_GET_ITEM(p, 0), PyTuple_GET_ITEM(p, 1), PyTuple_GET_ITEM(p, 2), (Py_ssize_t)nspare);
    Py_DECREF(p);
    return out;
}

/* write(fd): sends the events take() took as one "E" record to the file
 * descriptor fd, encoding and writing with the GIL released, so the traced
 * program runs on meanwhile. Raises OSError when the write fails. */
static PyObject *
h_write(PyObject *self, PyObject *args)
{
    int fd;
    if (!PyArg_ParseTuple(args, "i", &fd)) {
        return NULL;
    }
    size_t n = nspare;
    if (n == 0) {
        Py_RETURN_NONE;
    }
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    /* Records of at most WRITE_CHUNK events, encoded into one buffer kept
     * from write to write: a fresh multi-megabyte buffer per flush cost
     * the traced process its page faults and zeroing every time. */
    to_ns(spare, n, spare_from, spare_to);
    if (wbuf == NULL) {
        wbuf = malloc(10 + 21 * (size_t)WRITE_CHUNK);
    }
    if (wbuf == NULL) {
        err = ENOMEM;
    }
    for (size_t done = 0; err == 0 && done < n; done += WRITE_CHUNK) {
        size_t k = n - done < WRITE_CHUNK ? n - done : WRITE_CHUNK;
        size_t size = 10 + 21 * k;
        encode(spare + done, k, wbuf);
        size_t off = 0;
        while (off < size) {
            ssize_t w = write(fd, wbuf + off, size - off);
            if (w < 0) {
                if (errno == EINTR) {
                    continue;
                }
                err = errno;
                break;
            }
            off += (size_t)w;
        }
    }
    nspare = 0;
    if (capspare > (1u << 20)) { /* give a burst's memory back */
        free(spare);
        spare = NULL;
        capspare = 0;
    }
    Py_END_ALLOW_THREADS
    if (err != 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
h_dropped(PyObject *self, PyObject *noargs)
{
    return PyLong_FromUnsignedLongLong(dropped);
}

#if PY_VERSION_HEX >= 0x030C0000
/* ---- sys.monitoring callbacks (3.12+): registered by the agent ---- */

static inline int32_t
offset_arg(PyObject *o)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return (int32_t)v;
}

static inline PyObject *
mon_event(PyObject *const *args, Py_ssize_t nargs, uint8_t kind)
{
    if (nargs >= 2 && PyCode_Check(args[0])) {
        record(stamp(), code_id((PyCodeObject *)args[0]), offset_arg(args[1]), kind);
    }
    Py_RETURN_NONE;
}

/* PY_START, PY_RESUME, PY_THROW: a call, as cProfile counts them */
static PyObject *
m_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return mon_event(args, nargs, K_CALL);
}

/* PY_RETURN, PY_YIELD */
static PyObject *
m_return(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return mon_event(args, nargs, K_RETURN);
}

/* PY_UNWIND: the frame ends with an exception */
static PyObject *
m_unwind(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return mon_event(args, nargs, 4);
}

static inline int
is_c_callable(PyObject *f)
{
    return PyCFunction_Check(f) || Py_TYPE(f) == &PyMethodDescr_Type;
}

/* CALL (code, offset, callable, arg0): only C callables are recorded */
static PyObject *
m_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs >= 3 && is_c_callable(args[2])) {
        record(stamp(), cfunc_id(args[2]), 0, K_CCALL);
    }
    Py_RETURN_NONE;
}

/* C_RETURN, C_RAISE */
static PyObject *
m_creturn(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs >= 3 && is_c_callable(args[2])) {
        record(stamp(), cfunc_id(args[2]), 0, K_CRETURN);
    }
    Py_RETURN_NONE;
}
#endif

/* profile(frame, event, arg): the hook as a Python-level profile function,
 * for programs that restore what sys.getprofile() gave them. */
static PyObject *
h_profile(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyFrame_Check(args[0]) || !PyUnicode_Check(args[1])) {
        Py_RETURN_NONE;
    }
    int what;
    if (PyUnicode_CompareWithASCIIString(args[1], "call") == 0) {
        what = PyTrace_CALL;
    } else if (PyUnicode_CompareWithASCIIString(args[1], "return") == 0) {
        what = PyTrace_RETURN;
    } else if (PyUnicode_CompareWithASCIIString(args[1], "c_call") == 0) {
        what = PyTrace_C_CALL;
    } else if (PyUnicode_CompareWithASCIIString(args[1], "c_return") == 0 ||
               PyUnicode_CompareWithASCIIString(args[1], "c_exception") == 0) {
        what = PyTrace_C_RETURN;
    } else {
        Py_RETURN_NONE;
    }
    hook(NULL, (PyFrameObject *)args[0], what, args[2]);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"profile", (PyCFunction)(void (*)(void))h_profile, METH_FASTCALL, "profile(frame, event, arg): the hook as a Python profile function"},
#if PY_VERSION_HEX >= 0x030C0000
    {"mon_start", (PyCFunction)(void (*)(void))m_start, METH_FASTCALL, "sys.monitoring PY_START / PY_RESUME / PY_THROW"},
    {"mon_return", (PyCFunction)(void (*)(void))m_return, METH_FASTCALL, "sys.monitoring PY_RETURN / PY_YIELD"},
    {"mon_unwind", (PyCFunction)(void (*)(void))m_unwind, METH_FASTCALL, "sys.monitoring PY_UNWIND"},
    {"mon_call", (PyCFunction)(void (*)(void))m_call, METH_FASTCALL, "sys.monitoring CALL"},
    {"mon_creturn", (PyCFunction)(void (*)(void))m_creturn, METH_FASTCALL, "sys.monitoring C_RETURN / C_RAISE"},
#endif
    {"configure", h_configure, METH_VARARGS, "configure(agent_file, c_calls)"},
    {"install", h_install, METH_NOARGS, "set the hook in this thread"},
    {"uninstall", h_uninstall, METH_NOARGS, "remove the hook from this thread"},
    {"install_all", h_install_all, METH_NOARGS, "set the hook in every thread"},
    {"uninstall_all", h_uninstall_all, METH_NOARGS, "remove the hook from every thread"},
    {"record", h_record, METH_VARARGS, "record(frame, kind)"},
    {"take", h_take, METH_NOARGS, "take() -> (codes, cfuncs, tids, n): swap buffers; write() sends the n events"},
    {"write", h_write, METH_VARARGS, "write(fd): send the taken events, without the GIL"},
    {"dropped", h_dropped, METH_NOARGS, "events dropped because the buffer was full"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_flowscape_hook", "Flowscape's profile hook in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__flowscape_hook(void)
{
    const uint16_t one = 1;
    if (*(const unsigned char *)&one != 1) {
        PyErr_SetString(PyExc_ImportError, "Flowscape's C hook is for little-endian machines");
        return NULL;
    }
    if (extra_index < 0) {
        extra_index = REQUEST_EXTRA(NULL);
        if (extra_index < 0) {
            PyErr_SetString(PyExc_ImportError, "no free code extra slot");
            return NULL;
        }
    }
    if (pending_codes == NULL) {
        pending_codes = PyList_New(0);
        pending_cfuncs = PyList_New(0);
        if (pending_codes == NULL || pending_cfuncs == NULL) {
            return NULL;
        }
    }
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && self_module == NULL) {
        self_module = PyObject_GetAttrString(m, "profile"); /* kept for the life of the process */
        if (self_module == NULL) {
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
