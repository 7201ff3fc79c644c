package envelope

// The scanner accepts exactly the grammar of RFC 8259 that json.Valid
// accepts: no comments, no trailing commas, no leading zeros, strings free of
// raw control characters (but not required to be valid UTF-8), and nesting
// up to MaxDepth.

// plain reports the string bytes that need no attention: all but '"', '\\'
// and the control characters.
var plain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// scanValue scans the value starting at b[i] and returns the offset just past
// it; esc reports a string value holding a backslash escape.
func scanValue(b []byte, i int) (end int, esc bool, err error) {
	if i >= len(b) {
		return i, false, unexpected(b, i, "value")
	}
	switch c := b[i]; c {
	case '"':
		return scanString(b, i)
	case '{', '[':
		// The top-level object is one level already.
		end, err = skipContainer(b, i, MaxDepth-1)
		return end, false, err
	case 't':
		return scanLiteral(b, i, "true")
	case 'f':
		return scanLiteral(b, i, "false")
	case 'n':
		return scanLiteral(b, i, "null")
	default:
		end, err = scanNumber(b, i)
		return end, false, err
	}
}

func scanLiteral(b []byte, i int, lit string) (int, bool, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false, invalid(i, "invalid literal, want "+lit)
	}
	return i + len(lit), false, nil
}

// scanString scans the string starting at the quote b[i] and returns the
// offset just past its closing quote; esc reports a backslash escape.
func scanString(b []byte, i int) (end int, esc bool, err error) {
	start := i
	i++
	for {
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, esc, invalid(start, "unterminated string")
		}
		switch c := b[i]; c {
		case '"':
			return i + 1, esc, nil
		case '\\':
			esc = true
			if i+1 >= len(b) {
				return i, esc, invalid(start, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(b) {
						return j, esc, invalid(start, "unterminated string")
					}
					if !isHex(b[j]) {
						return j, esc, invalid(j, "invalid \\u escape in string")
					}
				}
				i += 6
			default:
				return i, esc, invalid(i, "invalid escape in string")
			}
		default:
			return i, esc, invalid(i, "control character in string")
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
// What follows the number is the caller's to check ("01" fails there).
func scanNumber(b []byte, i int) (int, error) {
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		if i == start {
			return i, unexpected(b, i, "value")
		}
		return i, invalid(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, invalid(start, "invalid number")
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, invalid(start, "invalid number")
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	return i, nil
}

// skipContainer scans the object or array starting at b[i], allowing at most
// maxDepth levels of nesting including its own, and returns the offset just
// past it. It keeps its own stack (one bit a level: set for an object) so
// that no input can make it recurse.
func skipContainer(b []byte, i int, maxDepth int) (int, error) {
	var small [4]uint64 // 256 levels without allocating
	stack := small[:]
	depth := 0
	var err error
	for {
		// b[i] starts a value.
		switch c := b[i]; c {
		case '{', '[':
			if depth == maxDepth {
				return i, invalid(i, "nesting too deep")
			}
			w, bit := depth/64, uint64(1)<<(depth%64)
			if w == len(stack) {
				stack = append(stack, 0)
			}
			if c == '{' {
				stack[w] |= bit
			} else {
				stack[w] &^= bit
			}
			depth++
			i = skipWS(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				i++
				depth--
				break // to the end of a value
			}
			if c == '{' {
				if i, err = scanKey(b, i); err != nil {
					return i, err
				}
			} else if i >= len(b) {
				return i, unexpected(b, i, "value or ']'")
			}
			continue
		case '"':
			i, _, err = scanString(b, i)
		case 't':
			i, _, err = scanLiteral(b, i, "true")
		case 'f':
			i, _, err = scanLiteral(b, i, "false")
		case 'n':
			i, _, err = scanLiteral(b, i, "null")
		default:
			i, err = scanNumber(b, i)
		}
		if err != nil {
			return i, err
		}
		// The end of a value: close containers until one continues.
	next:
		for {
			if depth == 0 {
				return i, nil
			}
			d := depth - 1
			obj := stack[d/64]&(1<<(d%64)) != 0
			i = skipWS(b, i)
			switch {
			case i < len(b) && b[i] == ',':
				i = skipWS(b, i+1)
				if obj {
					if i, err = scanKey(b, i); err != nil {
						return i, err
					}
				} else if i >= len(b) {
					return i, unexpected(b, i, "value")
				}
				break next
			case i < len(b) && obj && b[i] == '}', i < len(b) && !obj && b[i] == ']':
				i++
				depth--
			case obj:
				return i, unexpected(b, i, "',' or '}'")
			default:
				return i, unexpected(b, i, "',' or ']'")
			}
		}
	}
}

// scanKey scans `"key" :` at b[i] and returns the offset of the value that
// follows, which is within b.
func scanKey(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return i, unexpected(b, i, "object key")
	}
	i, _, err := scanString(b, i)
	if err != nil {
		return i, err
	}
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, unexpected(b, i, "':' after object key")
	}
	i = skipWS(b, i+1)
	if i >= len(b) {
		return i, unexpected(b, i, "value")
	}
	return i, nil
}
