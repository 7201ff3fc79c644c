package hookbox_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/hookbox/hookbox"
)

// TestHTTPStatus ensures every error code has its HTTP status in the one
// table, and that an error without a code, or with an unknown one, is 500.
func TestHTTPStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, http.StatusOK},
		{hookbox.Errorf(hookbox.EINVALID, "x"), http.StatusBadRequest},
		{hookbox.Errorf(hookbox.ENOTFOUND, "x"), http.StatusNotFound},
		{hookbox.Errorf(hookbox.ECONFLICT, "x"), http.StatusConflict},
		{hookbox.Errorf(hookbox.EUNAVAILABLE, "x"), http.StatusServiceUnavailable},
		{hookbox.Errorf(hookbox.EINTERNAL, "x"), http.StatusInternalServerError},
		{hookbox.Errorf(hookbox.EUNAUTHORIZED, "x"), http.StatusUnauthorized},
		{hookbox.Errorf(hookbox.EFORBIDDEN, "x"), http.StatusForbidden},
		{hookbox.Errorf(hookbox.EMISDIRECTED, "x"), http.StatusMisdirectedRequest},
		{hookbox.Errorf(hookbox.ERATELIMITED, "x"), http.StatusTooManyRequests},
		{fmt.Errorf("wrapped: %w", hookbox.Errorf(hookbox.ENOTFOUND, "x")), http.StatusNotFound},
		{errors.New("no code"), http.StatusInternalServerError},
		{hookbox.Errorf("no_such_code", "x"), http.StatusInternalServerError},
	} {
		if got := hookbox.HTTPStatus(hookbox.ErrorCode(tc.err)); got != tc.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
