package socketio_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"herald/engineio"
	"herald/internal/nodetest"
	"herald/socketio"
)

// The interop suite runs the real socket.io-client from npm, unchanged,
// against this package's server. Its node side lives in interopDir (relative
// to this package) and reads the server's settings from the environment.
const (
	interopDir           = "../test/interop"
	interopAllowedOrigin = "http://allowed.example"
	interopMaxPayload    = 10_000
	interopToken         = "s3cret"
	// interopAckTimeout bounds the server's acknowledgement requests that
	// the client is expected to leave unanswered.
	interopAckTimeout = 300 * time.Millisecond
	// interopRunTimeout bounds the whole node run.
	interopRunTimeout = 50 * time.Second
)

// TestInteropSocketIOClient serves Socket.IO from an in-process server and
// runs the node test files of test/interop against it, once per transport
// mode (websocket only, polling only, polling upgraded to websocket). See
// test/interop/README.md for what each file covers.
//
// Without node or without test/interop/node_modules (npm ci not run) the
// test is skipped, except in CI (CI=true), which must never pass by skipping.
func TestInteropSocketIOClient(t *testing.T) {
	srv, state := newInteropServer()
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	ts := httptest.NewServer(mux)
	defer ts.Close()

	suite := nodetest.Suite{Dir: interopDir, Concurrency: 4, Timeout: interopRunTimeout}
	t.Log(suite.Run(t,
		"HERALD_URL="+ts.URL,
		"HERALD_ALLOWED_ORIGIN="+interopAllowedOrigin,
		"HERALD_MAX_PAYLOAD="+strconv.Itoa(interopMaxPayload),
		"HERALD_TOKEN="+interopToken,
		"HERALD_ACK_TIMEOUT_MS="+strconv.FormatInt(interopAckTimeout.Milliseconds(), 10),
	))

	if n := state.bigReceived.Load(); n != 0 {
		t.Errorf("handler of an oversize event ran %d times, want 0", n)
	}
	// Every client closed its connection: no session or socket may remain.
	interopCheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if n := srv.Engine().Count(); n != 0 {
			return errors.New(strconv.Itoa(n) + " engine.io sessions still open")
		}
		for _, name := range []string{"/", "/admin"} {
			if n := srv.Of(name).Len(); n != 0 {
				return errors.New(strconv.Itoa(n) + " sockets still in " + name)
			}
		}
		return nil
	})
}

// interopState is what the server remembers for the node tests to query.
type interopState struct {
	bigReceived atomic.Int64 // runs of the "big" handler; oversize events must never arrive
	reasons     sync.Map     // socket id -> server-side disconnect reason
}

// newInteropServer builds the server the node tests expect: namespaces "/"
// and "/admin" with the same auth middleware and event handlers.
func newInteropServer() (*socketio.Server, *interopState) {
	state := &interopState{}
	srv := socketio.NewServer(socketio.Options{
		Engine: engineio.Options{
			// Frequent pings run heartbeats through every test, upgrades
			// included. The timeout stays generous: on a loaded machine a
			// client that gets no ping within interval+timeout gives up
			// ("ping timeout"), and 200ms proved too tight for that.
			PingInterval: 300 * time.Millisecond,
			PingTimeout:  2 * time.Second,
			MaxPayload:   interopMaxPayload,
			CORS:         engineio.CORS{Origins: []string{interopAllowedOrigin}, Credentials: true},
		},
		ConnectTimeout: 5 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	for _, name := range []string{"/", "/admin"} {
		registerInteropHandlers(srv.Of(name), state)
	}
	return srv, state
}

func registerInteropHandlers(nsp *socketio.Namespace, state *interopState) {
	nsp.Use(func(s *socketio.Socket) error {
		var auth struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(s.Auth(), &auth); err != nil || auth.Token != interopToken {
			return &socketio.ConnectError{
				Message: "unauthorized",
				Data:    map[string]any{"code": 4001, "hint": "token ✓ required"},
			}
		}
		return nil
	})
	nsp.OnConnection(func(s *socketio.Socket) {
		s.Emit("welcome", map[string]any{"id": s.ID(), "nsp": nsp.Name(), "auth": s.Auth()})
	})
	nsp.OnDisconnect(func(s *socketio.Socket, reason string) {
		state.reasons.Store(s.ID(), reason)
	})

	// echo sends the arguments back as received (binary included), in the
	// ack when asked for one, else as an "echo-back" event.
	nsp.On("echo", func(s *socketio.Socket, e *socketio.Event) {
		if e.WantsAck() {
			e.Ack(e.Args.Values()...)
			return
		}
		s.Emit("echo-back", e.Args.Values()...)
	})
	// inspect acks with what the Go side decoded from argument 0: bytes as
	// hex, strings with their rune count, so the client can check that
	// binary arrived as []byte and text as the same UTF-8.
	nsp.On("inspect", func(s *socketio.Socket, e *socketio.Event) {
		e.Ack(interopDescribe(e.Args.Value(0)))
	})
	nsp.On("send-binary", func(s *socketio.Socket, e *socketio.Event) {
		s.Emit("binary", map[string]any{
			"text": "héllo wörld ✓ 日本語 🎉",
			"blob": []byte{0, 1, 2, 253, 254, 255},
			"nested": []any{
				[]byte("héllo"),
				map[string]any{"deep": []byte{0xca, 0xfe}, "n": 7},
			},
		}, []byte{0xde, 0xad, 0xbe, 0xef})
	})
	// burst emits "tick" 0..n-1 as fast as the socket takes them.
	nsp.On("burst", func(s *socketio.Socket, e *socketio.Event) {
		var n int
		e.Args.Decode(0, &n)
		for i := range min(n, 10_000) {
			s.Emit("tick", i)
		}
	})
	nsp.On("transport", func(s *socketio.Socket, e *socketio.Event) {
		e.Ack(s.Transport())
	})
	// ask makes the server request an ack from the client and report what
	// came back as an "answer" event.
	nsp.On("ask", func(s *socketio.Socket, e *socketio.Event) {
		s.EmitWithAck(5*time.Second, func(a socketio.Args, err error) {
			if err != nil {
				s.Emit("answer", map[string]any{"error": err.Error()})
				return
			}
			s.Emit("answer", map[string]any{"values": a.Values()})
		}, "question", "what is 6×7? ✓", []byte{0xde, 0xad, 0xbe, 0xef})
	})
	// ask-timeout requests an ack the client never gives; the callback must
	// run exactly once, with ErrAckTimeout.
	nsp.On("ask-timeout", func(s *socketio.Socket, e *socketio.Event) {
		start := time.Now()
		var calls atomic.Int32
		s.EmitWithAck(interopAckTimeout, func(a socketio.Args, err error) {
			n := calls.Add(1)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			s.Emit("ack-timeout", map[string]any{
				"error":     msg,
				"isTimeout": errors.Is(err, socketio.ErrAckTimeout),
				"elapsedMs": time.Since(start).Milliseconds(),
				"calls":     n,
			})
		}, "ignored-question", "please do not answer")
	})
	nsp.On("kick", func(s *socketio.Socket, e *socketio.Event) {
		var opts struct {
			Close bool `json:"close"`
		}
		e.Args.Decode(0, &opts)
		s.Disconnect(opts.Close)
	})
	nsp.On("reason-of", func(s *socketio.Socket, e *socketio.Event) {
		var id string
		e.Args.Decode(0, &id)
		reason, _ := state.reasons.Load(id)
		e.Ack(reason)
	})
	nsp.On("join", func(s *socketio.Socket, e *socketio.Event) {
		var room string
		e.Args.Decode(0, &room)
		s.Join(room)
		e.Ack(s.Rooms())
	})
	// shout emits "news" to a room of this namespace only.
	nsp.On("shout", func(s *socketio.Socket, e *socketio.Event) {
		var room string
		e.Args.Decode(0, &room)
		err := nsp.To(room).Emit("news", nsp.Name(), e.Args.Value(1))
		e.Ack(err == nil)
	})
	nsp.On("big", func(s *socketio.Socket, e *socketio.Event) {
		state.bigReceived.Add(1)
	})
	nsp.On("stats", func(s *socketio.Socket, e *socketio.Event) {
		e.Ack(map[string]any{"bigReceived": state.bigReceived.Load()})
	})
}

// interopDescribe renders a decoded argument so that its Go types are visible in JSON.
func interopDescribe(v any) any {
	switch x := v.(type) {
	case []byte:
		return map[string]any{"bytes": hex.EncodeToString(x)}
	case string:
		return map[string]any{"string": x, "runes": utf8.RuneCountInString(x), "validUTF8": utf8.ValidString(x)}
	case json.Number:
		return map[string]any{"number": x.String()}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = interopDescribe(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = interopDescribe(e)
		}
		return out
	}
	return v
}

// interopCheckFor calls fn every sleep until it returns nil, failing the test with
// fn's last error once total has passed.
func interopCheckFor(t *testing.T, total, sleep time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(sleep)
	}
}
