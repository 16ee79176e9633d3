package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"

	"herald"
	"herald/auth"
)

// codeMethodNotAllowed is the code of a 405 answer (a known path with
// another method). It is not a herald code: only routing produces it.
const codeMethodNotAllowed = "method_not_allowed"

// status is the one mapping from error codes to HTTP statuses. Unknown
// codes are 500.
func status(code string) int {
	switch code {
	case herald.EINVALID:
		return http.StatusBadRequest
	case herald.EUNAUTHORIZED, auth.CodeMissing, auth.CodeInvalid, auth.CodeExpired:
		return http.StatusUnauthorized
	case herald.EFORBIDDEN:
		return http.StatusForbidden
	case herald.ENOTFOUND:
		return http.StatusNotFound
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case herald.ECONFLICT:
		return http.StatusConflict
	case herald.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case herald.ERATELIMITED:
		return http.StatusTooManyRequests
	case herald.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON form of every error answer.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers with err as {"error": {code, message}}. Errors that are
// not *herald.Error are internal: they are logged and the client gets a
// generic message.
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var body errorBody
	body.Error.Code = herald.ErrorCode(err)
	body.Error.Message = herald.ErrorMessage(err)
	code := status(body.Error.Code)
	if code == http.StatusInternalServerError {
		a.log.Error("http api", "method", r.Method, "path", r.URL.Path, "err", err)
		body.Error.Code, body.Error.Message = herald.EINTERNAL, "Internal error."
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	a.writeJSON(w, r, code, body)
}

// writeJSON answers with v as JSON. Answers are personal and live, so
// they are not cached.
func (a *api) writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.log.Error("http api: encode answer", "method", r.Method, "path", r.URL.Path, "err", err)
		code, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"Internal error."}}`)
	}
	writeBody(w, code, append(b, '\n'))
}

// writeNotifications answers with {"notifications": ns}, as writeJSON
// would, with each notification written by herald.Notification.AppendJSON:
// the answer of every create, without reflection.
func (a *api) writeNotifications(w http.ResponseWriter, r *http.Request, code int, ns []herald.Notification) {
	if ns == nil {
		writeBody(w, code, []byte("{\"notifications\":null}\n"))
		return
	}
	size := 32
	for i := range ns {
		size += 320 + len(ns[i].Title) + len(ns[i].Message) + len(ns[i].Data)
	}
	b := append(make([]byte, 0, size), `{"notifications":[`...)
	for i := range ns {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = ns[i].AppendJSON(b); err != nil {
			a.writeJSON(w, r, code, struct {
				Notifications []herald.Notification `json:"notifications"`
			}{ns}) // the same failure, answered and logged as writeJSON does
			return
		}
	}
	writeBody(w, code, append(b, "]}\n"...))
}

// writeBody answers with the JSON text b. Answers are personal and live,
// so they are not cached.
func writeBody(w http.ResponseWriter, code int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(b)
}

// decodeBody reads the request body, at most a.maxBody bytes, as exactly one
// JSON value into v. Unknown object fields, malformed or trailing JSON are
// EINVALID; a body over the limit is ETOOLARGE.
func (a *api) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return nil
		}
		if err == nil {
			err = errors.New("unexpected data after the JSON value")
		}
	}
	var tooLarge *http.MaxBytesError
	var wrongType *json.UnmarshalTypeError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return herald.Errorf(herald.EINVALID, "The request body did not arrive in time.")
	case errors.As(err, &tooLarge):
		return herald.Errorf(herald.ETOOLARGE, "The request body exceeds %d bytes.", a.maxBody)
	case err == io.EOF:
		return herald.Errorf(herald.EINVALID, "A JSON request body is required.")
	case errors.As(err, &wrongType) && wrongType.Field == "":
		return herald.Errorf(herald.EINVALID, "The request body must be a JSON object.")
	case errors.As(err, &wrongType):
		return herald.Errorf(herald.EINVALID, "%s must not be a JSON %s.", wrongType.Field, wrongType.Value)
	}
	return herald.Errorf(herald.EINVALID, "Malformed JSON body: %s.", trimJSONPrefix(err.Error()))
}

// trimJSONPrefix drops the "json: " that encoding/json puts on its errors.
func trimJSONPrefix(s string) string {
	if len(s) > 6 && s[:6] == "json: " {
		return s[6:]
	}
	return s
}
