package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"herald/auth"
	"herald/sqlite"
)

// startServe runs herald's HTTP server (the real handler chain on a real
// SQLite store) on a loopback port with the given serve flags and returns
// its address.
func startServe(t *testing.T, flags ...string) string {
	t.Helper()
	cfg, err := parseServe(append([]string{"--jwt-secret", "s", "--api-key", "k"}, flags...))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	verifier, err := auth.NewVerifier([]byte(cfg.JWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := newServer(cfg, store, verifier, log)
	t.Cleanup(srv.close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpSrv := newHTTPServer(cfg, srv.handler, log)
	go httpSrv.Serve(ln)
	t.Cleanup(func() { httpSrv.Close() })
	return ln.Addr().String()
}

// trickle sends the head of a POST announcing a 1,000-byte body, then one
// byte of it every 50ms, and returns how long the server took to answer or
// to close the connection.
func trickle(t *testing.T, addr, path string) time.Duration {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	head := "POST " + path + " HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.Read(make([]byte, 1)) // an answer, or the close
	return time.Since(start)
}

// pollingSid opens an Engine.IO polling session and returns its sid.
func pollingSid(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var open struct {
		Sid string `json:"sid"`
	}
	if len(body) < 2 || json.Unmarshal(body[1:], &open) != nil || open.Sid == "" {
		t.Fatalf("handshake: %q", body)
	}
	return open.Sid
}

// A body trickled byte by byte is cut off at --http-body-timeout, on the
// API and on polling POSTs alike.
func TestTrickledBodyIsCutOff(t *testing.T) {
	addr := startServe(t, "--http-body-timeout", "300ms")
	if d := trickle(t, addr, "/v1/notifications"); d > 2*time.Second {
		t.Fatalf("the API waited %v for a trickled body, want about 300ms", d)
	}
	if d := trickle(t, addr, "/socket.io/?EIO=4&transport=polling&sid="+pollingSid(t, addr)); d > 2*time.Second {
		t.Fatalf("a polling POST waited %v for a trickled body, want about 300ms", d)
	}
}

// An idle keep-alive connection is closed after --http-idle-timeout.
func TestIdleKeepAliveIsClosed(t *testing.T) {
	addr := startServe(t, "--http-idle-timeout", "300ms")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	idle := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF (closed by the server)", err)
	}
	d := time.Since(idle)
	t.Logf("closed after %v", d)
	if d < 200*time.Millisecond || d > 3*time.Second {
		t.Fatalf("idle connection closed after %v, want about 300ms", d)
	}
}

// Long-polls outlive the body timeout: it applies to bodies only.
func TestLongPollOutlivesBodyTimeout(t *testing.T) {
	addr := startServe(t, "--http-body-timeout", "100ms", "--ping-interval", "600ms")
	sid := pollingSid(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/socket.io/?EIO=4&transport=polling&sid="+sid, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if d := time.Since(start); string(body) != "2" || d < 300*time.Millisecond {
		t.Fatalf("long-poll answered %q after %v, want the ping after the 600ms interval", body, d)
	}
	if !strings.HasPrefix(res.Status, "200") {
		t.Fatalf("long-poll status %s", res.Status)
	}
}
