package console

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hookbox/hookbox"
)

// DefaultSkipReason is the reason recorded for a skip by hand that gives
// none (as `hookbox events skip` records it).
const DefaultSkipReason = "skipped by hand"

// MaxSkipReason is the longest skip reason accepted, in bytes.
const MaxSkipReason = 200

// skipEvent skips one event (POST /events/{id}/skip, an optional form
// field reason) and goes back to its page, which says the result.
func (s *Server) skipEvent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id := r.PathValue("id")
	n, err := s.skip(r.Context(), id, r.PostForm.Get("reason"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, eventURL(id)+"?skipped="+strconv.Itoa(n), http.StatusSeeOther)
}

// skip settles the event id without sending it (hookbox.Queue.SkipEvents)
// with reason (DefaultSkipReason when blank), logs it, and wakes delivery,
// so that the later events of its Stripe object go at once. It returns 1,
// or 0 when the event cannot be skipped: it is not dead nor pending with
// a delivery, or it is being delivered right now. ENOTFOUND when the
// event does not exist; EINVALID for a reason too long or not printable
// text.
func (s *Server) skip(ctx context.Context, id, reason string) (int, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		reason = DefaultSkipReason
	case len(reason) > MaxSkipReason:
		return 0, hookbox.Errorf(hookbox.EINVALID, "the reason is longer than %d bytes", MaxSkipReason)
	case !utf8.ValidString(reason) || strings.ContainsFunc(reason, unicode.IsControl):
		return 0, hookbox.Errorf(hookbox.EINVALID, "the reason must be printable text")
	}
	if _, err := s.store.FindEventByID(ctx, id); err != nil {
		return 0, err
	}
	n, err := s.store.SkipEvents(ctx, []string{id}, reason, s.now())
	if err != nil {
		return 0, err
	}
	s.log.Info("console: skipped event", "id", id, "skipped", n, "reason", reason)
	if n > 0 && s.wake != nil {
		s.wake()
	}
	return n, nil
}

// errNotSkipped answers a skip that settled nothing.
var errNotSkipped = hookbox.Errorf(hookbox.ECONFLICT,
	"not skipped: only dead events, and pending events some destination has tried, can be skipped (not delivered ones, nor events never tried or being delivered right now)")
