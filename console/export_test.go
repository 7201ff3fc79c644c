package console

import "github.com/hookbox/hookbox"

// CursorFor exposes the cursor after ev to the external tests.
func CursorFor(ev *hookbox.Event) string { return Cursor(ev) }
