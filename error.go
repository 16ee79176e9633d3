package herald

import (
	"errors"
	"fmt"
)

// Application error codes. They are stable strings that reach API clients in
// {error: {code, message}}; only the HTTP and socket layers map them to
// statuses. Any error that is not an *Error counts as EINTERNAL.
const (
	ECONFLICT     = "conflict"     // the request conflicts with the current state
	EFORBIDDEN    = "forbidden"    // authenticated, but not allowed
	EINTERNAL     = "internal"     // a bug or an unavailable dependency; details are logged, not shown
	EINVALID      = "invalid"      // the input is malformed or breaks a limit of a field
	ENOTFOUND     = "not_found"    // absent, or not the caller's (ownership is never revealed)
	ERATELIMITED  = "rate_limited" // too many requests; try again later
	ETOOLARGE     = "too_large"    // a request body or payload exceeds its byte limit
	EUNAUTHORIZED = "unauthorized" // missing or bad credentials
	EUNAVAILABLE  = "unavailable"  // a dependency (the store) cannot be reached now; retry later
)

// Error is an application error: a code from the list above and a message
// that is safe to show to the client. Errors of other types are internal and
// their text must not reach clients.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("herald: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for a nil
// error and EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of the first *Error in err's
// chain, "" for a nil error and a generic text for any other error, so that
// internal details never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
