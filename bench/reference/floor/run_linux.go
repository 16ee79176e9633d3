package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func run() error {
	secret := os.Getenv("JWT_SECRET")
	if secret == "" {
		return errors.New("JWT_SECRET is not set")
	}
	f, err := newFloor(secret, os.Getenv("HERALD_API_KEY"))
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(env("HOST", "127.0.0.1"), env("PORT", "3000"))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "floor listening on", ln.Addr())
	srv := &http.Server{Handler: f.handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	return srv.Serve(ln)
}
