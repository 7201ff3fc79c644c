package console

import (
	"bytes"
	"encoding/json"
	"io"
)

// Indentation grows with nesting depth times the number of values: a 20 KB
// body of arrays nested 10,000 deep indents to 200 MB. Every view of a body
// (the event page, the API, `hookbox events show`) indents only when the
// result stays within MaxIndentRatio times the input plus MaxIndentSlack
// bytes; otherwise it shows the input as it is, and says so where a person
// reads it. Real Stripe events, a few levels deep, indent to well under the
// bound.
const (
	MaxIndentRatio = 4
	MaxIndentSlack = 64 << 10
)

// maxIndented is the largest indented form of src that is produced.
func maxIndented(src []byte) int { return MaxIndentRatio*len(src) + MaxIndentSlack }

// IndentJSON appends to dst the JSON text src indented as json.Indent does
// (each element on a new line beginning with prefix and one copy of indent
// per nesting level), and reports true; or, when src is not valid JSON or its
// indented form would exceed MaxIndentRatio*len(src)+MaxIndentSlack bytes,
// leaves dst as it was and reports false. Time and memory are linear in
// len(src): the size is counted first, in one pass, before anything is
// written.
func IndentJSON(dst *bytes.Buffer, src []byte, prefix, indent string) bool {
	n, ok := indentedSize(src, len(prefix), len(indent), maxIndented(src))
	if !ok {
		return false
	}
	dst.Grow(n)
	// json.Indent validates as it goes and, on invalid input, writes
	// nothing to dst: no separate json.Valid pass.
	return json.Indent(dst, src, prefix, indent) == nil
}

// indentedSize returns an upper bound of the size of src's indented form
// (exact for compact, valid input: whitespace in src is counted though
// json.Indent drops all but the trailing), or false as soon as it passes
// max. It looks no further than strings, brackets, colons and commas.
func indentedSize(src []byte, prefix, indent, max int) (int, bool) {
	n, depth := 0, 0
	open := false // just after '[' or '{': a newline comes unless it closes at once
	inString, esc := false, false
	for _, c := range src {
		if inString {
			n++
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			n++
			continue
		}
		if open && c != ']' && c != '}' {
			depth++
			n += 1 + prefix + depth*indent
		}
		switch c {
		case '"':
			inString = true
			n++
		case '{', '[':
			n++
		case ',':
			n += 2 + prefix + depth*indent
		case ':':
			n += 2
		case '}', ']':
			if !open {
				depth--
				n += 1 + prefix + max0(depth)*indent
			}
			n++
		default:
			n++
		}
		open = c == '{' || c == '['
		if n > max {
			return n, false
		}
	}
	return n, true
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

// WriteJSON writes v as the admin API writes every document, followed by a
// newline: indented by two spaces, or compact when indenting would make it
// more than MaxIndentRatio times larger (the same value either way: only
// whitespace differs). `hookbox events show --json` and `list --json` write
// through it too, so the CLI and the API print the same bytes.
func WriteJSON(w io.Writer, v any) error {
	b, err := marshalJSON(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// marshalJSON returns v as WriteJSON writes it.
func marshalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if !IndentJSON(&buf, b, "", "  ") {
		buf.Reset()
		buf.Write(b)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
