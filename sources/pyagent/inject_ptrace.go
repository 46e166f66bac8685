//go:build linux && amd64

package pyagent

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// The native injector does what `gdb -p PID -ex 'call
// Py_AddPendingCall(PyRun_SimpleString, strdup(code))'` does, in a few
// milliseconds instead of gdb's ≈ 0.25 s of start-up, and without taking
// a lock in the target: it seizes the main thread alone (the others run
// on), saves its registers and its whole FPU/vector state, has it run one
// mmap system call for a page that holds the code, then calls
// Py_AddPendingCall with a return address of 0, so the call ends in a
// fault that the injector catches and discards. Everything is put back as
// it was, an interrupted system call included (it restarts), and the
// thread is let go.

const (
	ptraceSeize      = 0x4206
	ptraceInterrupt  = 0x4207
	ptraceGetRegSet  = 0x4204
	ptraceSetRegSet  = 0x4205
	ntX86XState      = 0x202
	ptraceEventStop  = 128
	callTimeout      = 5 * time.Second
	injectStackRoom  = 1024 // below the red zone and anything live
	mmapSyscall      = 9
	codePageProtRW   = syscall.PROT_READ | syscall.PROT_WRITE
	codePageMapFlags = syscall.MAP_PRIVATE | syscall.MAP_ANONYMOUS
)

// nativeInject says this platform has the native injector.
const nativeInject = true

// injectNative queues code as a pending call in the target.
func injectNative(pid int, code string) error {
	syms, err := findSymbols(pid)
	if errors.Is(err, os.ErrPermission) {
		// its memory map is closed to this user: so is ptrace
		return ptraceError(syscall.EPERM)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errNoNativeInject, err)
	}
	done := make(chan error, 1)
	go func() {
		// every ptrace request must come from the thread that seized
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		done <- injectOnThread(pid, syms, code)
	}()
	return <-done
}

type injectSymbols struct {
	addPendingCall, runSimpleString, syscallInsn uint64
}

func injectOnThread(pid int, syms injectSymbols, code string) (err error) {
	if _, _, e := syscall.Syscall6(syscall.SYS_PTRACE, ptraceSeize, uintptr(pid), 0, 0, 0, 0); e != 0 {
		return ptraceError(e)
	}
	if _, _, e := syscall.Syscall6(syscall.SYS_PTRACE, ptraceInterrupt, uintptr(pid), 0, 0, 0, 0); e != 0 {
		_ = syscall.PtraceDetach(pid)
		return ptraceError(e)
	}
	pending := 0 // a signal that arrived while the thread was held, delivered on release
	if _, pending, err = waitStop(pid, time.Now().Add(callTimeout), false); err != nil {
		_ = syscall.PtraceDetach(pid)
		return err
	}
	var saved syscall.PtraceRegs
	if err := syscall.PtraceGetRegs(pid, &saved); err != nil {
		_ = syscall.PtraceDetach(pid)
		return fmt.Errorf("read the main thread's registers: %w", err)
	}
	xstate, err := getXState(pid)
	if err != nil {
		_ = syscall.PtraceDetach(pid)
		return fmt.Errorf("read the main thread's vector registers: %w", err)
	}
	defer func() {
		// put everything back and let the thread go, whatever happened
		e1 := syscall.PtraceSetRegs(pid, &saved)
		e2 := setXState(pid, xstate)
		e3 := detachWith(pid, pending)
		if err == nil {
			err = errors.Join(e1, e2, e3)
		}
	}()

	// a page for the code: mmap, run by the syscall instruction in libc
	size := uint64(len(code)+1+4095) &^ 4095
	r := saved
	r.Rip = syms.syscallInsn
	r.Rax = mmapSyscall
	r.Orig_rax = ^uint64(0) // no system call to restart: ours is a new one
	r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = 0, size, codePageProtRW, codePageMapFlags, ^uint64(0), 0
	if err := syscall.PtraceSetRegs(pid, &r); err != nil {
		return fmt.Errorf("set registers: %w", err)
	}
	// step until the instruction ran: a stop already queued (a signal,
	// the interrupt's own stop) can come first
	for i := 0; ; i++ {
		if err := syscall.PtraceSingleStep(pid); err != nil {
			return fmt.Errorf("step the mmap call: %w", err)
		}
		_, sig, err := waitStop(pid, time.Now().Add(callTimeout), true)
		if err != nil {
			return err
		}
		if sig != 0 {
			pending = sig
		}
		if err := syscall.PtraceGetRegs(pid, &r); err != nil {
			return fmt.Errorf("read registers: %w", err)
		}
		if r.Rip == syms.syscallInsn+2 {
			break
		}
		if r.Rip != syms.syscallInsn || i == 5 {
			return fmt.Errorf("the mmap call in the target did not run (stopped at %#x)", r.Rip)
		}
	}
	page := r.Rax
	if int64(page) < 0 && int64(page) > -4096 {
		return fmt.Errorf("mmap in the target failed: %v", syscall.Errno(-int64(page)))
	}
	if _, err := syscall.PtracePokeData(pid, uintptr(page), append([]byte(code), 0)); err != nil {
		return fmt.Errorf("write the code into the target: %w", err)
	}

	// Py_AddPendingCall(PyRun_SimpleString, page), returning to address 0
	r = saved
	sp := (saved.Rsp - injectStackRoom) &^ 15
	sp -= 8 // the return address: at a call, rsp+8 is 16-byte aligned
	if _, err := syscall.PtracePokeData(pid, uintptr(sp), make([]byte, 8)); err != nil {
		return fmt.Errorf("write the return address: %w", err)
	}
	r.Rsp = sp
	r.Rip = syms.addPendingCall
	r.Rdi, r.Rsi = syms.runSimpleString, page
	r.Rax = 0
	r.Orig_rax = ^uint64(0)
	r.Eflags &^= 0x400 // the direction flag is clear at a call
	if err := syscall.PtraceSetRegs(pid, &r); err != nil {
		return fmt.Errorf("set registers: %w", err)
	}
	deadline := time.Now().Add(callTimeout)
	for {
		if err := syscall.PtraceCont(pid, 0); err != nil {
			return fmt.Errorf("run Py_AddPendingCall: %w", err)
		}
		st, sig, err := waitStop(pid, deadline, true)
		if err != nil {
			return err
		}
		if st.StopSignal() == syscall.SIGSEGV {
			if err := syscall.PtraceGetRegs(pid, &r); err != nil {
				return fmt.Errorf("read registers: %w", err)
			}
			if r.Rip != 0 {
				return fmt.Errorf("Py_AddPendingCall faulted at %#x in the target (the fault was discarded, the process runs on)", r.Rip)
			}
			if rc := int32(r.Rax); rc != 0 {
				return fmt.Errorf("Py_AddPendingCall did not queue the agent (it returned %d: the queue is full)", rc)
			}
			return nil
		}
		if sig != 0 {
			pending = sig // keep it for the release; the call goes on
		}
	}
}

// waitStop waits for the seized thread's next stop. It returns the
// signal that caused it when that is one the program should still get
// (not the injector's own SIGTRAP or stop event). After the deadline it
// interrupts the thread and gives up.
func waitStop(pid int, deadline time.Time, running bool) (syscall.WaitStatus, int, error) {
	var st syscall.WaitStatus
	for {
		wpid, err := syscall.Wait4(pid, &st, syscall.WALL|syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return st, 0, fmt.Errorf("wait for the target: %w", err)
		}
		if wpid == pid {
			break
		}
		if time.Now().After(deadline) {
			if running {
				// stop it where it is; the deferred restore abandons the call
				_, _, _ = syscall.Syscall6(syscall.SYS_PTRACE, ptraceInterrupt, uintptr(pid), 0, 0, 0, 0)
				_, _ = syscall.Wait4(pid, &st, syscall.WALL, nil)
			}
			return st, 0, fmt.Errorf("the target's main thread did not come back within %s", callTimeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
	switch {
	case st.Exited(), st.Signaled():
		return st, 0, errors.New("the process exited")
	case !st.Stopped():
		return st, 0, fmt.Errorf("unexpected wait status %#x", uint32(st))
	}
	sig := st.StopSignal()
	if sig == syscall.SIGTRAP || st.TrapCause() == ptraceEventStop || sig == syscall.SIGSEGV {
		return st, 0, nil
	}
	return st, int(sig), nil
}

// detachWith lets the thread go, delivering a signal that arrived while
// it was held.
func detachWith(pid, sig int) error {
	_, _, e := syscall.Syscall6(syscall.SYS_PTRACE, syscall.PTRACE_DETACH, uintptr(pid), 0, uintptr(sig), 0, 0)
	if e != 0 {
		return fmt.Errorf("let the target go: %w", e)
	}
	return nil
}

func getXState(pid int) ([]byte, error) {
	buf := make([]byte, 16384)
	iov := syscall.Iovec{Base: &buf[0], Len: uint64(len(buf))}
	if _, _, e := syscall.Syscall6(syscall.SYS_PTRACE, ptraceGetRegSet, uintptr(pid), ntX86XState, uintptr(unsafe.Pointer(&iov)), 0, 0); e != 0 {
		return nil, e
	}
	return buf[:iov.Len], nil
}

func setXState(pid int, state []byte) error {
	if len(state) == 0 {
		return nil
	}
	iov := syscall.Iovec{Base: &state[0], Len: uint64(len(state))}
	if _, _, e := syscall.Syscall6(syscall.SYS_PTRACE, ptraceSetRegSet, uintptr(pid), ntX86XState, uintptr(unsafe.Pointer(&iov)), 0, 0); e != 0 {
		return fmt.Errorf("restore the vector registers: %w", e)
	}
	return nil
}

func ptraceError(e syscall.Errno) error {
	switch e {
	case syscall.EPERM:
		return ptraceDenied()
	case syscall.ESRCH:
		return errors.New("no such process")
	}
	return fmt.Errorf("ptrace: %w", e)
}

// findSymbols finds, in the target's address space, Py_AddPendingCall and
// PyRun_SimpleString (in the executable or libpython) and a syscall
// instruction (in libc's syscall()).
func findSymbols(pid int) (injectSymbols, error) {
	maps, err := readMaps(pid)
	if err != nil {
		return injectSymbols{}, err
	}
	var s injectSymbols
	var libcSyscall uint64
	for _, m := range maps {
		want := map[string]*uint64{}
		base := m.path[strings.LastIndexByte(m.path, '/')+1:]
		switch {
		case strings.HasPrefix(base, "libc.so") || strings.HasPrefix(base, "libc-"):
			want["syscall"] = &libcSyscall
		case strings.Contains(base, "python"):
			want["Py_AddPendingCall"] = &s.addPendingCall
			want["PyRun_SimpleString"] = &s.runSimpleString
		default:
			continue
		}
		if err := lookupDyn(pid, m, want); err != nil {
			return s, err
		}
	}
	switch {
	case s.addPendingCall == 0 || s.runSimpleString == 0:
		return s, errors.New("the process exports no Py_AddPendingCall and PyRun_SimpleString")
	case libcSyscall == 0:
		return s, errors.New("libc's syscall() was not found in the process")
	}
	insn, err := findSyscallInsn(pid, libcSyscall)
	if err != nil {
		return s, err
	}
	s.syscallInsn = insn
	return s, nil
}

type mapping struct {
	start uint64
	path  string
}

// readMaps lists each mapped file with the address its offset 0 is at.
func readMaps(pid int) ([]mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapping
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 7f..-7f.. r--p 00000000 08:01 1234   /usr/lib/x86_64-linux-gnu/libc.so.6
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[2] != "00000000" || !strings.HasPrefix(fs[5], "/") || seen[fs[5]] {
			continue
		}
		lo, _, _ := strings.Cut(fs[0], "-")
		start, err := strconv.ParseUint(lo, 16, 64)
		if err != nil {
			continue
		}
		seen[fs[5]] = true
		out = append(out, mapping{start, strings.Join(fs[5:], " ")})
	}
	return out, sc.Err()
}

// lookupDyn fills in the run-time addresses of the wanted dynamic symbols
// of the file mapped at m.
func lookupDyn(pid int, m mapping, want map[string]*uint64) error {
	f, err := elf.Open(fmt.Sprintf("/proc/%d/root%s", pid, m.path))
	if err != nil {
		f, err = elf.Open(m.path)
	}
	if err != nil {
		return nil // deleted or unreadable: not the one
	}
	defer f.Close()
	var first *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && (first == nil || p.Vaddr < first.Vaddr) {
			first = p
		}
	}
	if first == nil {
		return nil
	}
	bias := m.start - (first.Vaddr &^ 4095)
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil
	}
	for _, sym := range syms {
		if p, ok := want[sym.Name]; ok && *p == 0 && sym.Value != 0 && elf.ST_TYPE(sym.Info) == elf.STT_FUNC {
			*p = bias + sym.Value
		}
	}
	return nil
}

// findSyscallInsn finds the bytes 0f 05 (syscall) in the first bytes of
// libc's syscall() function in the target.
func findSyscallInsn(pid int, fn uint64) (uint64, error) {
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return 0, err
	}
	defer mem.Close()
	b := make([]byte, 64)
	if _, err := mem.ReadAt(b, int64(fn)); err != nil {
		return 0, fmt.Errorf("read libc's syscall(): %w", err)
	}
	for i := 0; i+1 < len(b); i++ {
		if b[i] == 0x0f && b[i+1] == 0x05 {
			return fn + uint64(i), nil
		}
	}
	return 0, fmt.Errorf("no syscall instruction in libc's syscall() (%x)", binary.LittleEndian.Uint64(b))
}
