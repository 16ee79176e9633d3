// Command zishang is a reference server for herald's benchmarks: the seed's gateway on
// github.com/zishang520/socket.io, a Go port of socket.io. Same contract as herald: JWT (HS256) from
// the CONNECT auth token or ?token=, room user:<sub>, `authenticated` on connect, and the backend HTTP
// API POST /v1/emit and GET /v1/stats.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

const maxBody = 1 << 20

func main() {
	port := envOr("PORT", "3000")
	secret := []byte(envOr("JWT_SECRET", "dev-secret"))
	apiKey := os.Getenv("HERALD_API_KEY")

	opts := socket.DefaultServerOptions()
	opts.SetTransports(types.NewSet(socket.Polling, socket.WebSocket))
	opts.SetCors(&types.Cors{
		Origin:      strings.Split(envOr("CORS_ORIGIN", "http://localhost:3000,http://localhost:5173"), ","),
		Methods:     []string{"GET", "POST"},
		Credentials: true,
	})
	io := socket.NewServer(nil, opts)
	users := &userCounter{sockets: map[string]int{}}

	io.Use(func(s *socket.Socket, next func(*socket.ExtendedError)) {
		token, _ := s.Handshake().Auth["token"].(string)
		if token == "" {
			token = s.Request().Query().Peek("token")
		}
		if token == "" {
			next(socket.NewExtendedError("missing token", map[string]any{"code": "token_missing"}))
			return
		}
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return secret, nil },
			jwt.WithValidMethods([]string{"HS256"}))
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			next(socket.NewExtendedError(err.Error(), map[string]any{"code": "token_expired"}))
			return
		case err != nil:
			next(socket.NewExtendedError(err.Error(), map[string]any{"code": "token_invalid"}))
			return
		}
		sub, _ := claims["sub"].(string)
		if sub == "" {
			next(socket.NewExtendedError("token has no sub", map[string]any{"code": "token_invalid"}))
			return
		}
		email, _ := claims["email"].(string)
		s.SetData(identity{UserID: sub, Email: email})
		next(nil)
	})

	io.On("connection", func(args ...any) {
		s := args[0].(*socket.Socket)
		id := s.Data().(identity)
		s.Join(socket.Room("user:" + id.UserID))
		users.add(id.UserID, 1)
		s.Emit("authenticated", map[string]any{
			"success": true, "userId": id.UserID, "email": id.Email, "socketId": string(s.Id()),
		})
		s.On("disconnect", func(...any) { users.add(id.UserID, -1) })
	})

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io.ServeHandler(nil))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{"ok": true})
	})
	mux.HandleFunc("GET /v1/stats", authorized(apiKey, func(w http.ResponseWriter, r *http.Request) {
		connected, sockets := users.stats()
		reply(w, http.StatusOK, map[string]any{"connectedUsers": connected, "sockets": sockets})
	}))
	mux.HandleFunc("POST /v1/emit", authorized(apiKey, func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Event     string         `json:"event"`
			Data      map[string]any `json:"data"`
			UserID    string         `json:"userId"`
			UserIDs   []string       `json:"userIds"`
			Room      string         `json:"room"`
			Broadcast bool           `json:"broadcast"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&body); err != nil || body.Event == "" {
			fail(w, http.StatusBadRequest, "invalid", "body must be JSON with an event")
			return
		}
		payload := make(map[string]any, len(body.Data)+1)
		for k, v := range body.Data {
			payload[k] = v
		}
		payload["timestamp"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
		var err error
		switch {
		case body.Broadcast:
			err = io.Sockets().Emit(body.Event, payload)
		case body.Room != "":
			err = io.To(socket.Room(body.Room)).Emit(body.Event, payload)
		case body.UserID != "":
			err = io.To(socket.Room("user:"+body.UserID)).Emit(body.Event, payload)
		case len(body.UserIDs) > 0:
			rooms := make([]socket.Room, len(body.UserIDs))
			for i, u := range body.UserIDs {
				rooms[i] = socket.Room("user:" + u)
			}
			err = io.To(rooms...).Emit(body.Event, payload)
		default:
			fail(w, http.StatusBadRequest, "invalid", "one of userId, userIds, room, broadcast is required")
			return
		}
		if err != nil {
			fail(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		reply(w, http.StatusAccepted, map[string]any{"accepted": true})
	}))

	srv := &http.Server{Addr: ":" + port, Handler: mux}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		srv.Close()
	}()
	log.Printf("zishang reference listening on :%s", port)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

type identity struct {
	UserID string
	Email  string
}

// userCounter counts the sockets of each connected user, for /v1/stats.
type userCounter struct {
	mu      sync.Mutex
	sockets map[string]int
}

func (u *userCounter) add(userID string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.sockets[userID] += n; u.sockets[userID] <= 0 {
		delete(u.sockets, userID)
	}
}

func (u *userCounter) stats() (users, sockets int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, n := range u.sockets {
		sockets += n
	}
	return len(u.sockets), sockets
}

func authorized(apiKey string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if apiKey != "" && r.Header.Get("Authorization") != "Bearer "+apiKey {
			fail(w, http.StatusUnauthorized, "unauthorized", "bad API key")
			return
		}
		h(w, r)
	}
}

func fail(w http.ResponseWriter, status int, code, message string) {
	reply(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(body); err != nil {
		fmt.Fprintln(os.Stderr, "reply:", err)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
