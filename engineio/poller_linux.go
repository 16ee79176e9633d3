package engineio

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

var errWouldBlock = errors.New("engineio: would block")

// poller is one epoll instance for the whole process, like the Go runtime's
// own netpoller: websocket descriptors are registered edge-triggered for
// reading and writing once, and never modified.
type poller struct {
	epfd  int
	conns []atomic.Pointer[wsConn] // indexed by descriptor
	mu    sync.Mutex               // guards growing conns
	big   sync.Map                 // descriptors beyond len(conns)
}

var (
	pollerOnce sync.Once
	pollerInst *poller
	pollerErr  error
)

func thePoller() *poller {
	pollerOnce.Do(func() {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			pollerErr = err
			return
		}
		n := 1 << 16
		var lim unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < uint64(n) {
			n = int(lim.Cur)
		}
		pollerInst = &poller{epfd: epfd, conns: make([]atomic.Pointer[wsConn], n)}
		go pollerInst.run()
	})
	return pollerInst
}

func (p *poller) lookup(fd int) *wsConn {
	if fd < len(p.conns) {
		return p.conns[fd].Load()
	}
	if v, ok := p.big.Load(fd); ok {
		return v.(*wsConn)
	}
	return nil
}

func (p *poller) add(c *wsConn) error {
	if p == nil {
		return pollerErr
	}
	if c.fd < len(p.conns) {
		p.conns[c.fd].Store(c)
	} else {
		p.big.Store(c.fd, c)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(c.fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		p.remove(c)
		return err
	}
	return nil
}

// remove forgets c; the caller closes the descriptor, which also takes it
// out of the epoll set. Events already fetched for the descriptor may still
// reach the next connection that gets the same number: they only cause a
// read or write attempt that finds nothing to do.
func (p *poller) remove(c *wsConn) {
	if p == nil {
		return
	}
	if c.fd < len(p.conns) {
		p.conns[c.fd].CompareAndSwap(c, nil)
	} else {
		p.big.CompareAndDelete(c.fd, c)
	}
}

func (p *poller) run() {
	events := make([]unix.EpollEvent, 512)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for i := 0; i < n; i++ {
			ev := events[i]
			c := p.lookup(int(ev.Fd))
			if c == nil {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				c.writable()
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				c.readable()
			}
		}
	}
}

// detach takes the descriptor of a hijacked TCP connection away from the Go
// runtime poller: it duplicates it, then closes the original, so that the
// connection is served by our poller alone. It returns -1 for connections
// that are not plain TCP (TLS, pipes), which keep a reading goroutine.
func detach(nc net.Conn) int {
	tc, ok := nc.(*net.TCPConn)
	if !ok || thePoller() == nil {
		return -1
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(orig uintptr) {
		fd, err = unix.FcntlInt(orig, unix.F_DUPFD_CLOEXEC, 0)
	}) != nil || err != nil {
		return -1
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1
	}
	tc.Close()
	return fd
}

// readFD reads from c's descriptor without blocking.
func (c *wsConn) readFD(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrClosed
	}
	return nonblocking(func() (int, error) { return unix.Read(c.fd, b) })
}

// writeFD writes as much of b as the socket takes without blocking.
func writeFD(fd int, b []byte) (int, error) {
	return nonblocking(func() (int, error) { return unix.Write(fd, b) })
}

// writevFD writes as much of bufs as the socket takes without blocking.
func writevFD(fd int, bufs [][]byte) (int, error) {
	return nonblocking(func() (int, error) { return unix.Writev(fd, bufs) })
}

// nonblocking runs a read or write on a non-blocking descriptor, retrying
// when a signal interrupts it; a socket with nothing to read or no room to
// write gives errWouldBlock.
func nonblocking(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, errWouldBlock
		}
		return 0, err
	}
}

func closeFD(fd int) { unix.Close(fd) }

// rawTryWriter returns a non-blocking write on the descriptor of a TCP or
// Unix connection that stays with the Go runtime (blocking mode), or nil.
func rawTryWriter(nc net.Conn) func([]byte) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &rawWriter{rc: rc}
	w.fn = w.write // bound once: no allocation per write
	return w.tryWrite
}

// rawWriter writes through a syscall.RawConn without waiting; its fields
// are used by one write at a time (the connection's lock is held).
type rawWriter struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool
	b   []byte
	n   int
	err error
}

func (w *rawWriter) write(fd uintptr) bool {
	w.n, w.err = writeFD(int(fd), w.b)
	return true // never wait for the descriptor
}

func (w *rawWriter) tryWrite(b []byte) (int, error) {
	w.b = b
	err := w.rc.Write(w.fn)
	n, werr := w.n, w.err
	w.b, w.err = nil, nil
	if err != nil {
		return 0, err
	}
	if werr == errWouldBlock {
		return n, nil
	}
	return n, werr
}
