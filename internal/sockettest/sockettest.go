// Package sockettest is a minimal Socket.IO client over a real websocket,
// for Go tests of the layers above the protocol (gateway, HTTP API) that
// need connected sockets without node. It speaks only what those tests
// need: the CONNECT of the default namespace, text events and acks.
package sockettest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Event is a server → client event: its name and first argument.
type Event struct {
	Name string
	Data json.RawMessage
}

// Client is one connected socket. Its methods are safe for concurrent use.
type Client struct {
	t    testing.TB
	conn net.Conn

	wmu sync.Mutex // serializes writes

	mu      sync.Mutex
	events  []Event
	acks    map[int]json.RawMessage
	nextAck int
	closed  error // why the read loop ended, once it has
	changed chan struct{}
}

// Dial connects to the Socket.IO server at base (http://host:port) over
// websocket, sends CONNECT with auth and waits for the server's CONNECT,
// failing the test on a CONNECT_ERROR. The client is closed when the test
// ends.
func Dial(t testing.TB, base string, auth any) *Client {
	t.Helper()
	c, err := Connect(base, auth)
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	t.Cleanup(c.Close)
	return c
}

// Connect is Dial returning the error instead of failing a test.
func Connect(base string, auth any) (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	conn, br, _, err := ws.Dial(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("sockettest: dial: %w", err)
	}
	if br != nil { // frames that came with the handshake answer
		conn = bufferedConn{conn, io.MultiReader(br, conn)}
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	open, err := wsutil.ReadServerText(conn)
	if err != nil || len(open) == 0 || open[0] != '0' {
		conn.Close()
		return nil, fmt.Errorf("sockettest: open packet %q: %v", open, err)
	}
	a, _ := json.Marshal(auth)
	if err := wsutil.WriteClientText(conn, append([]byte("40"), a...)); err != nil {
		conn.Close()
		return nil, err
	}
	for {
		msg, err := wsutil.ReadServerText(conn)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("sockettest: waiting for CONNECT: %w", err)
		}
		switch {
		case strings.HasPrefix(string(msg), "44"):
			conn.Close()
			return nil, fmt.Errorf("sockettest: connect error %s", msg[2:])
		case strings.HasPrefix(string(msg), "40"):
			conn.SetDeadline(time.Time{})
			c := &Client{conn: conn, acks: make(map[int]json.RawMessage), changed: make(chan struct{})}
			go c.read()
			return c, nil
		}
	}
}

func (c *Client) read() {
	for {
		msg, err := wsutil.ReadServerText(c.conn)
		if err != nil {
			c.update(func() { c.closed = err })
			return
		}
		s := string(msg)
		switch {
		case s == "2": // ping
			c.write([]byte("3"))
		case strings.HasPrefix(s, "42"):
			var args []json.RawMessage
			if json.Unmarshal(msg[2:], &args) != nil || len(args) == 0 {
				continue
			}
			var e Event
			json.Unmarshal(args[0], &e.Name)
			if len(args) > 1 {
				e.Data = args[1]
			}
			c.update(func() { c.events = append(c.events, e) })
		case strings.HasPrefix(s, "43"):
			i := 2
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			id, _ := strconv.Atoi(s[2:i])
			var args []json.RawMessage
			json.Unmarshal(msg[i:], &args)
			var first json.RawMessage
			if len(args) > 0 {
				first = args[0]
			}
			c.update(func() { c.acks[id] = first })
		}
	}
}

// update changes the client's state under its lock and wakes the waiters.
func (c *Client) update(f func()) {
	c.mu.Lock()
	f()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *Client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return wsutil.WriteClientText(c.conn, b)
}

// Emit sends an event with one argument and returns the first argument
// of the server's ack, waiting up to 10s.
func (c *Client) Emit(event string, arg any) (json.RawMessage, error) {
	c.mu.Lock()
	id := c.nextAck
	c.nextAck++
	c.mu.Unlock()
	b, err := json.Marshal([]any{event, arg})
	if err != nil {
		return nil, err
	}
	if err := c.write(append([]byte("42"+strconv.Itoa(id)), b...)); err != nil {
		return nil, err
	}
	var ack json.RawMessage
	err = c.waitFor(10*time.Second, func() bool {
		var ok bool
		ack, ok = c.acks[id]
		return ok
	})
	if err != nil {
		return nil, fmt.Errorf("sockettest: no ack to %s: %w", event, err)
	}
	return ack, nil
}

// waitFor waits until cond (called under the client's lock) holds.
func (c *Client) waitFor(total time.Duration, cond func() bool) error {
	deadline := time.NewTimer(total)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok, closed, changed := cond(), c.closed, c.changed
		c.mu.Unlock()
		switch {
		case ok:
			return nil
		case closed != nil:
			return fmt.Errorf("connection closed: %v", closed)
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("timed out after %v", total)
		}
	}
}

// Events returns the events received so far named name ("" for all).
func (c *Client) Events(name string) []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Event
	for _, e := range c.events {
		if name == "" || e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// WaitEvent waits up to total for the n-th event named name (n from 1)
// and returns it.
func (c *Client) WaitEvent(name string, n int, total time.Duration) (Event, error) {
	var found Event
	err := c.waitFor(total, func() bool {
		seen := 0
		for _, e := range c.events {
			if e.Name == name {
				if seen++; seen == n {
					found = e
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		return Event{}, fmt.Errorf("sockettest: event %s #%d: %w", name, n, err)
	}
	return found, nil
}

// WaitClosed waits up to total for the server to end the connection.
func (c *Client) WaitClosed(total time.Duration) error {
	return c.waitFor(total, func() bool { return c.closed != nil })
}

// bufferedConn reads what the handshake buffered before the connection.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (b bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Close closes the connection.
func (c *Client) Close() { c.conn.Close() }
