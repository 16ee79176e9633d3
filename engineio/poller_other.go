//go:build !linux

package engineio

import (
	"errors"
	"net"
)

// Off Linux there is no shared poller: every websocket is served in
// blocking mode, a goroutine reading and one writing per connection, the
// portable fallback that Linux also uses for TLS and BlockingReads.

var (
	errWouldBlock = errors.New("engineio: would block")
	errNoPoller   = errors.New("engineio: no poller on this system")
)

type poller struct{}

func thePoller() *poller                   { return nil }
func (*poller) add(*wsConn) error          { return errNoPoller }
func (*poller) remove(*wsConn)             {}
func detach(net.Conn) int                  { return -1 }
func (*wsConn) readFD([]byte) (int, error) { return 0, errNoPoller }
func writeFD(int, []byte) (int, error)     { return 0, errNoPoller }
func writevFD(int, [][]byte) (int, error)  { return 0, errNoPoller }
func closeFD(int)                          {}

// rawTryWriter: without the poller, writes go through the writer goroutine.
func rawTryWriter(net.Conn) func([]byte) (int, error) { return nil }
