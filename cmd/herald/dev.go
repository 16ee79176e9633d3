package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"herald"
	"herald/auth"
	"herald/gateway"
	"herald/web"
)

// devUser is the user of the tokens that --dev hands out and prints.
var devUser = herald.Identity{UserID: "dev-user", Email: "dev@example.com", Role: "user"}

// devTokenTTL is the lifetime of the tokens GET /dev/session mints: short,
// so that the demo also shows its token refresh.
const devTokenTTL = 15 * time.Minute

// devMaxBody bounds the body of POST /dev/notify.
const devMaxBody = 16 << 10

// mountDev adds what only `herald serve --dev` serves: the demo app at /
// and /assets/, and two helpers for it, answered to loopback clients only
// (they mint tokens):
//
//	GET  /dev/session  {token, userId}: a fresh token of the dev user
//	POST /dev/notify   {title, message, type?}, with a user's JWT: a
//	                   notification to that user (the demo's test form)
func mountDev(mux *http.ServeMux, secret []byte, verifier *auth.Verifier, gw *gateway.Gateway) {
	app := web.Handler()
	mux.Handle("GET /{$}", app)
	mux.Handle("GET /assets/", app)
	mux.HandleFunc("GET /dev/session", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		tok, err := auth.Mint(secret, devUser, devTokenTTL)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		devJSON(w, http.StatusOK, map[string]string{"token": tok, "userId": devUser.UserID})
	}))
	mux.HandleFunc("POST /dev/notify", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		id, _, err := verifier.Verify(strings.TrimSpace(tok))
		if !strings.EqualFold(scheme, "Bearer") || err != nil {
			devJSON(w, http.StatusUnauthorized, devError(herald.EUNAUTHORIZED, "A valid user token is required: Authorization: Bearer <jwt>."))
			return
		}
		var req struct{ Title, Message, Type string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, devMaxBody)).Decode(&req); err != nil {
			devJSON(w, http.StatusBadRequest, devError(herald.EINVALID, "The body must be a JSON object {title, message, type}."))
			return
		}
		if req.Type == "" {
			req.Type = "info"
		}
		created, err := gw.CreateNotifications(r.Context(), []herald.NewNotification{{
			TenantID: id.TenantID, UserID: id.UserID, Type: req.Type, Title: req.Title, Message: req.Message,
		}})
		if err != nil {
			devJSON(w, http.StatusBadRequest, devError(herald.ErrorCode(err), herald.ErrorMessage(err)))
			return
		}
		devJSON(w, http.StatusCreated, map[string]any{"notifications": created})
	}))
}

// loopbackOnly answers 403 to clients that are not on this machine.
func loopbackOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			devJSON(w, http.StatusForbidden, devError(herald.EFORBIDDEN, "The dev endpoints answer loopback clients only."))
			return
		}
		next(w, r)
	}
}

func devError(code, msg string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": msg}}
}

func devJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
