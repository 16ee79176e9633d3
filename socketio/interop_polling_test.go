package socketio_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// These tests pin, with a raw HTTP long-polling client, the server behaviour
// that TestInteropSocketIOClient found socket.io-client to depend on. They
// need no node, so they run everywhere.

// TestInteropPollingDisconnectBeforeClose checks that a DISCONNECT followed
// by the end of the session reaches a polling client in two responses: the
// client handles a payload's Socket.IO packets a tick after its close
// packet, so a shared payload would make "io server disconnect" look like
// "transport close" (and the client try to reconnect).
func TestInteropPollingDisconnectBeforeClose(t *testing.T) {
	c := newInteropPoller(t)
	c.connect()
	c.post(`42["kick",{"close":true}]`)
	responses := c.pollUntilClose()
	last := responses[len(responses)-1]
	if len(last) != 1 {
		t.Fatalf("close packet shares its payload: %q", last)
	}
	var sawDisconnect bool
	for _, r := range responses[:len(responses)-1] {
		for _, p := range r {
			sawDisconnect = sawDisconnect || p == "41"
		}
	}
	if !sawDisconnect {
		t.Fatalf("no DISCONNECT packet before the close packet; responses %q", responses)
	}
	if status, _ := c.get(); status != http.StatusBadRequest {
		t.Errorf("GET after close: status %d, want %d", status, http.StatusBadRequest)
	}
}

// TestInteropPollingCloseOnNextPoll checks that a session the server ends
// while no GET is pending answers the client's next GET with a close packet
// (socket.io-client: "transport close"), not with an unknown-sid error
// ("transport error").
func TestInteropPollingCloseOnNextPoll(t *testing.T) {
	c := newInteropPoller(t)
	c.connect()
	// Not a Socket.IO packet: the server ends the session.
	c.post("4not a socket.io packet")
	responses := c.pollUntilClose()
	if last := responses[len(responses)-1]; len(last) != 1 {
		t.Fatalf("close packet shares its payload: %q", last)
	}
}

// interopPoller is a minimal Engine.IO long-polling client.
type interopPoller struct {
	t   *testing.T
	url string // handshake URL; the session's adds &sid=
	sid string
}

func newInteropPoller(t *testing.T) *interopPoller {
	t.Helper()
	srv, _ := newInteropServer()
	t.Cleanup(srv.Close)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	c := &interopPoller{t: t, url: ts.URL + "/socket.io/?EIO=4&transport=polling"}
	status, packets := c.get()
	if status != http.StatusOK || len(packets) != 1 || !strings.HasPrefix(packets[0], "0") {
		t.Fatalf("handshake: status %d, packets %q", status, packets)
	}
	var open struct {
		Sid string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(packets[0][1:]), &open); err != nil || open.Sid == "" {
		t.Fatalf("open packet %q: %v", packets[0], err)
	}
	c.sid = open.Sid
	return c
}

// get polls once and returns the status and the packets of the payload.
func (c *interopPoller) get() (int, []string) {
	c.t.Helper()
	u := c.url
	if c.sid != "" {
		u += "&sid=" + c.sid
	}
	res, err := http.Get(u)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, nil
	}
	return res.StatusCode, strings.Split(string(body), "\x1e")
}

func (c *interopPoller) post(payload string) {
	c.t.Helper()
	res, err := http.Post(c.url+"&sid="+c.sid, "text/plain;charset=UTF-8", strings.NewReader(payload))
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != "ok" {
		c.t.Fatalf("POST %q: status %d, body %q", payload, res.StatusCode, body)
	}
}

// connect joins namespace "/" and reads until the server's welcome event.
func (c *interopPoller) connect() {
	c.t.Helper()
	c.post(`40{"token":"` + interopToken + `"}`)
	var seen []string
	for range 5 {
		_, packets := c.get()
		seen = append(seen, packets...)
		for _, p := range packets {
			if strings.HasPrefix(p, `42["welcome"`) {
				return
			}
		}
	}
	c.t.Fatalf("no welcome event; packets %q", seen)
}

// pollUntilClose polls until a response holds a close packet and returns
// every response, the one with the close packet last. Pings and noops are
// left out.
func (c *interopPoller) pollUntilClose() [][]string {
	c.t.Helper()
	var responses [][]string
	for range 10 {
		status, packets := c.get()
		if status != http.StatusOK {
			c.t.Fatalf("GET: status %d after responses %q, want a close packet", status, responses)
		}
		var kept []string
		closed := false
		for _, p := range packets {
			switch p {
			case "2", "6":
				continue
			case "1":
				closed = true
			}
			kept = append(kept, p)
		}
		if len(kept) > 0 {
			responses = append(responses, kept)
		}
		if closed {
			return responses
		}
	}
	c.t.Fatalf("no close packet in %q", responses)
	return nil
}
