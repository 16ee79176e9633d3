package socketio_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"herald/socketio"
)

// A source address may hold at most MaxPendingPerAddr sessions that have
// not connected to a namespace; one more handshake is refused until one of
// them connects (or ends).
func TestMaxPendingPerAddr(t *testing.T) {
	srv := socketio.NewServer(socketio.Options{MaxPendingPerAddr: 2})
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	base := ts.URL + "/socket.io/?EIO=4&transport=polling"
	handshake := func() (int, string) {
		t.Helper()
		res, err := http.Get(base)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		var open struct {
			Sid string `json:"sid"`
		}
		if res.StatusCode == http.StatusOK {
			json.Unmarshal(body[1:], &open)
		}
		return res.StatusCode, open.Sid
	}
	var sids []string
	for range 2 {
		status, sid := handshake()
		if status != http.StatusOK || sid == "" {
			t.Fatalf("handshake within the bound: status %d", status)
		}
		sids = append(sids, sid)
	}
	if status, _ := handshake(); status != http.StatusForbidden {
		t.Fatalf("handshake over the bound: status %d, want 403", status)
	}
	// One session connects to "/": it no longer counts.
	res, err := http.Post(base+"&sid="+sids[0], "text/plain;charset=UTF-8", strings.NewReader("40"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = http.Get(base + "&sid=" + sids[0]) // the server's CONNECT
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.HasPrefix(string(body), "40") {
		t.Fatalf("CONNECT answered %q", body)
	}
	if status, _ := handshake(); status != http.StatusOK {
		t.Fatalf("handshake after a session connected: status %d, want 200", status)
	}
}
