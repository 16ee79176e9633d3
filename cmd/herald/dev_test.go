package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"herald"
	"herald/auth"
	"herald/sqlite"
)

// devServer is newServer with --dev on a temp store.
func devServer(t *testing.T, dev bool) (http.Handler, []byte) {
	t.Helper()
	secret := []byte("dev-test-secret")
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	verifier, err := auth.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	cfg := serveConfig{JWTSecret: string(secret), Dev: dev, CORSOrigins: []string{"http://localhost:3000"}, PingInterval: time.Second, PingTimeout: time.Second, MaxPayload: 1 << 20}
	srv := newServer(cfg, store, verifier, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(srv.close)
	return srv.handler, secret
}

func devRequest(h http.Handler, method, path, remote, authz, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = remote
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestDevEndpoints(t *testing.T) {
	h, secret := devServer(t, true)
	const local, remote = "127.0.0.1:5000", "192.0.2.7:5000"

	if w := devRequest(h, "GET", "/", local, "", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `<div id="root">`) {
		t.Fatalf("GET /: %d %.100s", w.Code, w.Body)
	}
	if w := devRequest(h, "GET", "/openapi.json", remote, "", ""); w.Code != 200 || !json.Valid(w.Body.Bytes()) {
		t.Fatalf("GET /openapi.json: %d", w.Code)
	}
	w := devRequest(h, "GET", "/dev/session", local, "", "")
	var s struct{ Token, UserID string }
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &s) != nil || s.UserID != "dev-user" {
		t.Fatalf("GET /dev/session: %d %s", w.Code, w.Body)
	}
	v, _ := auth.NewVerifier(secret)
	if id, _, err := v.Verify(s.Token); err != nil || id.UserID != "dev-user" {
		t.Fatalf("dev token: %v %v", id, err)
	}
	if w := devRequest(h, "GET", "/dev/session", remote, "", ""); w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), "token") {
		t.Fatalf("GET /dev/session from another host: %d %s", w.Code, w.Body)
	}

	other, _ := auth.Mint(secret, herald.Identity{UserID: "u9"}, time.Hour)
	body := `{"title":"T","message":"M"}`
	if w := devRequest(h, "POST", "/dev/notify", local, "", body); w.Code != http.StatusUnauthorized {
		t.Fatalf("POST /dev/notify without a token: %d", w.Code)
	}
	if w := devRequest(h, "POST", "/dev/notify", remote, "Bearer "+other, body); w.Code != http.StatusForbidden {
		t.Fatalf("POST /dev/notify from another host: %d", w.Code)
	}
	if w := devRequest(h, "POST", "/dev/notify", local, "Bearer "+other, `{"title":""}`); w.Code != http.StatusBadRequest {
		t.Fatalf("POST /dev/notify with no title: %d %s", w.Code, w.Body)
	}
	w = devRequest(h, "POST", "/dev/notify", local, "Bearer "+other, body)
	var created struct{ Notifications []herald.Notification }
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &created) != nil || len(created.Notifications) != 1 || created.Notifications[0].UserID != "u9" || created.Notifications[0].Type != "info" {
		t.Fatalf("POST /dev/notify: %d %s", w.Code, w.Body)
	}
}

func TestNoDevEndpointsWithoutDev(t *testing.T) {
	h, _ := devServer(t, false)
	for _, p := range []string{"/", "/dev/session", "/assets/x.js"} {
		if w := devRequest(h, "GET", p, "127.0.0.1:5000", "", ""); w.Code != http.StatusNotFound {
			t.Errorf("GET %s without --dev: %d, want 404", p, w.Code)
		}
	}
}
