// Command conformance serves the configuration that the published Engine.IO
// v4 and Socket.IO v5 protocol test suites expect: a raw Engine.IO echo
// server at /engine.io/ and a Socket.IO server at /socket.io/ with the
// namespaces / and /custom.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"time"

	"herald/engineio"
	"herald/socketio"
)

func main() {
	pingInterval := flag.Duration("ping-interval", 300*time.Millisecond, "Engine.IO ping interval")
	pingTimeout := flag.Duration("ping-timeout", 200*time.Millisecond, "Engine.IO ping timeout")
	flag.Parse()
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	opts := engineio.Options{
		PingInterval: *pingInterval,
		PingTimeout:  *pingTimeout,
		MaxPayload:   1_000_000,
		CORS:         engineio.CORS{Origins: []string{"*"}, Credentials: true},
	}
	mux := http.NewServeMux()
	echo := opts
	echo.OnSession = func(s *engineio.Session, r *http.Request) engineio.Handler { return echoHandler{} }
	mux.Handle("/engine.io/", engineio.NewServer(echo))

	sio := socketio.NewServer(socketio.Options{Engine: opts, ConnectTimeout: time.Second})
	for _, name := range []string{"/", "/custom"} {
		nsp := sio.Of(name)
		nsp.OnConnection(func(s *socketio.Socket) { s.Emit("auth", s.Auth()) })
		nsp.On("message", func(s *socketio.Socket, e *socketio.Event) {
			s.Emit("message-back", e.Args.Values()...)
		})
		nsp.On("message-with-ack", func(s *socketio.Socket, e *socketio.Event) {
			e.Ack(e.Args.Values()...)
		})
	}
	mux.Handle("/socket.io/", sio)
	log.Printf("conformance server on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, mux))
}

// echoHandler sends every message back as it came.
type echoHandler struct{}

func (echoHandler) OnMessage(s *engineio.Session, data []byte, binary bool) {
	if binary {
		s.Send(engineio.NewBinaryMessage(data))
		return
	}
	s.Send(engineio.NewTextMessage(data))
}

func (echoHandler) OnClose(*engineio.Session, string) {}
