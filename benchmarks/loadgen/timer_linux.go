package main

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// A Go timer sleeps in whole milliseconds when the runtime has nothing else to do (the
// netpoller's epoll_wait takes a timeout in ms), which would add up to 1 ms of the load
// generator's own lateness to every open-loop latency. A timerfd wakes the netpoller as
// soon as it fires, so the schedule keeps microsecond precision.

const (
	clockMonotonic = 1
	tfdNonblock    = syscall.O_NONBLOCK
	tfdCloexec     = syscall.O_CLOEXEC
)

type itimerspec struct {
	interval syscall.Timespec
	value    syscall.Timespec
}

type timerfdWaiter struct {
	fd   uintptr
	file *os.File
	buf  [8]byte
}

// newWaiter returns the timerfd waiter, or the Go sleep when timerfd is unavailable.
func newWaiter() waiter {
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if errno != 0 {
		return sleepWaiter{}
	}
	return &timerfdWaiter{fd: fd, file: os.NewFile(fd, "timerfd")}
}

func (w *timerfdWaiter) name() string { return "timerfd" }

func (w *timerfdWaiter) wait(d time.Duration) {
	if d <= 0 {
		return
	}
	spec := itimerspec{value: syscall.NsecToTimespec(int64(d))}
	_, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, w.fd, 0,
		uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	if errno != 0 {
		time.Sleep(d)
		return
	}
	if _, err := w.file.Read(w.buf[:]); err != nil {
		time.Sleep(d)
	}
}
