package hookbox

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes. HTTPStatus maps each to a status; an error without a code is
// internal.
const (
	EINVALID     = "invalid"
	ENOTFOUND    = "not_found"
	ECONFLICT    = "conflict"
	EUNAVAILABLE = "unavailable"
	EINTERNAL    = "internal"

	// EUNAUTHORIZED: the request lacks a valid credential (the admin
	// token, a console session).
	EUNAUTHORIZED = "unauthorized"
	// EFORBIDDEN: the request is refused whatever its credential (a
	// cross-origin request to the console).
	EFORBIDDEN = "forbidden"
	// EMISDIRECTED: the request names a host this server does not answer
	// for (a DNS-rebinding page's own name reaching a loopback listener).
	EMISDIRECTED = "misdirected"
	// ERATELIMITED: the client failed too often and is refused for a while.
	ERATELIMITED = "rate_limited"
)

// httpStatus is the one table from error code to HTTP status.
var httpStatus = map[string]int{
	EINVALID:      http.StatusBadRequest,
	ENOTFOUND:     http.StatusNotFound,
	ECONFLICT:     http.StatusConflict,
	EUNAVAILABLE:  http.StatusServiceUnavailable,
	EINTERNAL:     http.StatusInternalServerError,
	EUNAUTHORIZED: http.StatusUnauthorized,
	EFORBIDDEN:    http.StatusForbidden,
	EMISDIRECTED:  http.StatusMisdirectedRequest,
	ERATELIMITED:  http.StatusTooManyRequests,
}

// HTTPStatus returns the HTTP status of an error code: the one table every
// HTTP layer answers with. An unknown code, like an error without one, is
// internal (500); the empty code (no error) is 200.
func HTTPStatus(code string) int {
	if code == "" {
		return http.StatusOK
	}
	if s, ok := httpStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an error with a code and a message safe to show a user. The
// wrapped Err carries internal detail for logs only.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil,
// and EINTERNAL for an error without a code.
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

// ErrorMessage returns the user-safe message of err: the message of its
// *Error, or a generic text for an internal error.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}
