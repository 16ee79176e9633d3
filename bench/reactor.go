//go:build linux

package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// A reactor reads the authenticated connections of a pool: its own level-triggered epoll set, read
// by one goroutine that waits in the runtime poller on the epoll descriptor itself. A wake-up costs
// one epoll_wait for up to 256 ready sockets and then one read(2) per socket, which is as little as
// reading a socket can cost; a goroutine per connection would add a park and an unpark per event
// and keep every connection's stack alive for the garbage collector to scan.
//
// A socket is taken from its net.Conn by duplicating the descriptor and closing the original, which
// removes it from the runtime poller; the reactor then owns the duplicate and closes it.
type reactor struct {
	pool  *Pool
	epfd  int
	file  *os.File // epfd, registered with the runtime poller
	conns []atomic.Pointer[conn]
	done  chan struct{}
}

func newReactor(p *Pool) (*reactor, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil, err
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	r := &reactor{
		pool:  p,
		epfd:  epfd,
		file:  os.NewFile(uintptr(epfd), "epoll"),
		conns: make([]atomic.Pointer[conn], min(lim.Cur, 1<<20)),
		done:  make(chan struct{}),
	}
	rc, err := r.file.SyscallConn()
	if err != nil {
		r.file.Close()
		return nil, err
	}
	go r.loop(rc)
	return r, nil
}

// adopt takes over an authenticated connection's socket.
func (r *reactor) adopt(c *conn) error {
	if r.pool.closing.Load() {
		return errors.New("pool closed")
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) {
		r1, _, e := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		fd = int(r1)
	}); err != nil {
		return err
	}
	if derr != nil {
		return fmt.Errorf("dup: %w", derr)
	}
	c.nc.Close() // the socket lives on in fd, unknown to the runtime poller
	c.nc = nil
	c.fd = fd
	if fd >= len(r.conns) {
		syscall.Close(fd)
		return fmt.Errorf("descriptor %d beyond the open file limit", fd)
	}
	r.conns[fd].Store(c)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		r.conns[fd].Store(nil)
		syscall.Close(fd)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// The reactor goroutine waits for its epoll set in two ways. While events keep coming it does not
// give up its P: after each batch it sleeps batchWait so that the next epoll_wait finds many sockets
// ready at once, then waits in epoll_wait itself, a millisecond at a time. An event then costs its
// read(2) and a small share of a nanosleep and an epoll_wait, at the price of being read up to
// batchWait late (latencies are measured to that precision). After idleRounds empty waits it parks
// in the runtime poller until the epoll descriptor is readable, which costs two more epoll_waits
// and a wake-up but nothing at all while the connections are idle.
//
// Holding the P delays the network polling of other goroutines of the process (up to the runtime's
// 10ms sysmon poll), so the scenarios that make many HTTP calls keep their reactors in worker
// processes.
const (
	idleRounds = 3
	idleWaitMs = 1
	batchWait  = 100 * time.Microsecond
)

func (r *reactor) loop(rc syscall.RawConn) {
	defer close(r.done)
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, readBufSize)
	rc.Read(func(epfd uintptr) bool {
		idle := 0
		for !r.pool.closing.Load() {
			timeout := 0
			if idle > 0 {
				timeout = idleWaitMs
			}
			n, err := epollWaitRaw(int(epfd), events, timeout)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return true
			}
			if n == 0 {
				if idle == idleRounds {
					return false // park until the epoll set has news
				}
				idle++
				continue
			}
			idle = 0
			for _, ev := range events[:n] {
				r.readable(int(ev.Fd), buf)
			}
			// Other goroutines (timers, the trigger's HTTP calls) share this P.
			runtime.Gosched()
			if n < len(events) {
				nanosleepRaw(batchWait)
			}
		}
		return true
	})
}

// epollWaitRaw is epoll_wait without telling the scheduler: a wait of at most idleWaitMs is too short
// for the runtime to hand the P to another thread, which would cost more than the wait.
func epollWaitRaw(epfd int, events []syscall.EpollEvent, msec int) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// readable reads a ready socket. A read shorter than the buffer drained it.
func (r *reactor) readable(fd int, buf []byte) {
	c := r.conns[fd].Load()
	if c == nil {
		return
	}
	for {
		n, err := readRaw(fd, buf)
		switch {
		case err == syscall.EAGAIN:
			return
		case err == syscall.EINTR:
			continue
		case err != nil:
			r.release(c, err)
			return
		case n == 0:
			r.release(c, io.EOF)
			return
		}
		if err := c.feed(buf[:n]); err != nil || c.state == stateClosed {
			if err == nil {
				err = errServerClosed
			}
			r.release(c, err)
			return
		}
		if n < len(buf) {
			return
		}
	}
}

func nanosleepRaw(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// readRaw is read(2) on a non-blocking socket, which returns at once: no need to tell the scheduler.
func readRaw(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// release closes a connection the server or the network ended.
func (r *reactor) release(c *conn, err error) {
	r.conns[c.fd].Store(nil)
	syscall.Close(c.fd) // also leaves the epoll set
	if !r.pool.closing.Load() {
		r.pool.drop(err)
	}
}

// close stops the loop, then closes every socket.
func (r *reactor) close() {
	r.file.Close()
	<-r.done
	for i := range r.conns {
		if c := r.conns[i].Swap(nil); c != nil {
			syscall.Close(c.fd)
		}
	}
}
