package envelope

import (
	"bytes"
	"unicode/utf8"
)

// objectPath is the path of keys from the top-level object to the id that
// ObjectID returns. Every key is ASCII (keyIs relies on it), and its length
// bounds ObjectID's recursion.
var objectPath = [...]string{"data", "object", "id"}

// ObjectID returns the body's data.object.id: the id of the Stripe object
// the event is about, which orders delivery per object. It reads the body
// as encoding/json reads it into a map[string]any: keys match exactly after
// unescaping, and where a key repeats within an object, at any level of the
// path, the last occurrence wins. The id must be a JSON string that decodes
// to 1 to MaxFieldLen bytes of valid UTF-8 (as Parse requires of its
// strings: no raw invalid byte, no escaped lone surrogate) with no ASCII
// control character (below 0x20, or DEL); otherwise, and when data or
// data.object is absent or not an object (a thin event, invoice.upcoming-like
// bodies), ObjectID returns "", false.
//
// It also returns "", false for a body that is not a single valid JSON
// object (json.Valid's grammar and nesting limit): it scans the whole body
// once, validating as Parse does, without building anything. The returned
// string is the only allocation unless the id needs unescaping.
func ObjectID(body []byte) (string, bool) {
	b := body
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return "", false
	}
	end, id, err := findPath(b, i, 0)
	if err != nil || skipWS(b, end) != len(b) {
		return "", false
	}
	raw, decoded, ok := objectIDOf(b, id)
	if !ok {
		return "", false
	}
	if raw != nil {
		return string(raw), true
	}
	return decoded, true
}

// KnownObjectID returns body's data.object.id as ObjectID reads it, where
// known is what a caller read already in the envelope's pass
// (hookbox.Event.ObjectID): known itself when body's bytes hold it (the
// caller's word, as an event's id and type are), else ObjectID(body) (a
// mistake, or an id the JSON spells with escapes). "" known is read.
func KnownObjectID(body []byte, known string) (string, bool) {
	if known != "" && bytes.Contains(body, []byte(known)) {
		return known, true
	}
	return ObjectID(body)
}

// objectIDOf applies ObjectID's rules to the value at span id of a
// validated body (end 0: none). When they accept it, raw is the id's bytes
// in b if it needs no unescaping, else nil and decoded is the id.
func objectIDOf(b []byte, id span) (raw []byte, decoded string, ok bool) {
	if id.end == 0 || b[id.start] != '"' {
		return nil, "", false
	}
	raw = b[id.start+1 : id.end-1]
	if !utf8.Valid(raw) || id.esc && !validEscapes(raw) {
		return nil, "", false
	}
	if !id.esc {
		if len(raw) == 0 || len(raw) > MaxFieldLen || hasControl(raw) {
			return nil, "", false
		}
		return raw, "", true
	}
	decoded, err := decodeString(b[id.start:id.end])
	if err != nil || decoded == "" || hasControl(decoded) {
		return nil, "", false
	}
	return nil, decoded, true
}

// findPath scans the object starting at b[i], which is nested lvl levels
// below the top-level object, and returns the offset just past it and the
// span of the value that objectPath[lvl:] names inside it (end 0 when none).
// A member named objectPath[lvl] replaces what earlier ones found, as the
// last of duplicate keys wins. The recursion is at most len(objectPath)
// deep, whatever the input.
func findPath(b []byte, i, lvl int) (end int, found span, err error) {
	// The object is at depth lvl+1 counting the top-level object; a
	// container among its values may nest the remaining levels.
	maxDepth := MaxDepth - lvl - 1
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, found, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, span{}, unexpected(b, i, "object key")
		}
		ks := i
		var kesc bool
		if i, kesc, err = scanString(b, i); err != nil {
			return i, span{}, err
		}
		match := keyIs(b[ks:i], kesc, objectPath[lvl])
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ':' {
			return i, span{}, unexpected(b, i, "':' after object key")
		}
		i = skipWS(b, i+1)
		vs := i
		switch {
		case i >= len(b):
			return i, span{}, unexpected(b, i, "value")
		case match && lvl+1 < len(objectPath) && b[i] == '{':
			if maxDepth == 0 {
				return i, span{}, invalid(i, "nesting too deep")
			}
			i, found, err = findPath(b, i, lvl+1)
		case b[i] == '{' || b[i] == '[':
			i, err = skipContainer(b, i, maxDepth)
			if match {
				found = span{} // not an object, or an id that is no string
			}
		default:
			var vesc bool
			i, vesc, err = scanValue(b, i)
			if match {
				found = span{start: vs, end: i, esc: vesc}
				if lvl+1 < len(objectPath) {
					found = span{} // a scalar where an object was wanted
				}
			}
		}
		if err != nil {
			return i, span{}, err
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return i + 1, found, nil
		}
		return i, span{}, unexpected(b, i, "',' or '}' after object member")
	}
}

// keyIs reports whether the validated string token tok decodes to the
// ASCII string name, without allocating: an escape is decoded in place, and
// one that decodes to a rune beyond ASCII cannot be part of name.
func keyIs(tok []byte, esc bool, name string) bool {
	raw := tok[1 : len(tok)-1]
	if !esc {
		return string(raw) == name // does not allocate
	}
	n := 0
	for i := 0; i < len(raw); n++ {
		if n == len(name) {
			return false
		}
		c := raw[i]
		if c != '\\' {
			i++
		} else {
			switch e := raw[i+1]; e {
			case 'u':
				r := hex4(raw[i+2:])
				if r >= utf8.RuneSelf {
					return false
				}
				c = byte(r)
				i += 6
			case 'b':
				c, i = '\b', i+2
			case 'f':
				c, i = '\f', i+2
			case 'n':
				c, i = '\n', i+2
			case 'r':
				c, i = '\r', i+2
			case 't':
				c, i = '\t', i+2
			default: // '"', '\\', '/'
				c, i = e, i+2
			}
		}
		if c != name[n] {
			return false
		}
	}
	return n == len(name)
}
