// Package envelope extracts the top-level envelope fields of a Stripe event
// (id, type, object, created, livemode, account, api_version) from a raw,
// already verified body, without a reflective decode.
//
// Ingest stores the body byte for byte and needs only these few fields;
// encoding/json costs about 20 us for a 3 KB event just to find id and type.
// Parse makes one pass over the body: it validates the whole of it exactly as
// json.Valid does (so a body it accepts is one every JSON consumer accepts),
// remembers where the top-level envelope keys' values are, skips everything
// else without building anything, and decodes only those values at the end.
//
// Every field Parse returns is read exactly as stripe-go (v85) reads it with
// encoding/json into stripe.Event (or stripe.V2CoreEventNotification for a
// thin event), or the body is refused: hookbox stores, deduplicates and
// routes by what Parse reads, and a consumer decodes the same body with
// stripe-go. The choices, each enforced by the tests and by a fuzz target
// that compares Parse with encoding/json on every body Parse accepts:
//
//   - Keys match exactly after unescaping ("\u0069d" is id). A top-level key
//     that encoding/json would match to an envelope field only
//     case-insensitively ("ID", "Livemode", "api_ver\u017fion" with a long s)
//     is refused as ambiguous, whether or not the exact key is also present:
//     encoding/json matches struct fields with Unicode case folding and lets
//     the last match win, so such a key would change what a consumer reads.
//   - A body that repeats an envelope key is refused as ambiguous, even when
//     both values agree or one is null. JSON parsers disagree on which
//     duplicate wins (encoding/json takes the last, others the first) and
//     id is the dedupe key. Other top-level keys may repeat, as json.Valid
//     allows.
//   - Only top-level keys count: an id inside data.object is never taken
//     for the event's id. Parse also reads data.object.id in the same pass
//     (Fields.ObjectID, exactly as ObjectID reads it: to order delivery per
//     object, and for the stores' search by object id); it decides nothing
//     about storage or deduplication, and a body without one is accepted.
//   - A string field that is not valid UTF-8 (a raw invalid byte sequence,
//     or a \u escape of a lone surrogate) is refused: encoding/json replaces
//     each such sequence by U+FFFD, so two different ids would read as the
//     same event and the second would be acknowledged as a duplicate
//     without being stored. U+FFFD itself, raw or escaped, is kept.
//     Otherwise strings decode exactly as encoding/json decodes them into a
//     Go string.
//   - A created string is read as time.Time's UnmarshalJSON reads it (what
//     stripe-go's thin events use): strict RFC 3339, escapes not decoded.
//   - Every string value Parse reads must decode to at most MaxFieldLen
//     bytes. Stripe's ids, types and versions are far shorter; a longer one
//     is not a Stripe event and must not reach a database index.
//   - Nesting deeper than MaxDepth is rejected, as json.Valid rejects it;
//     skipping is iterative, so no input can exhaust the stack.
package envelope

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits. A body that exceeds one is rejected with ErrInvalid.
const (
	// MaxFieldLen is the longest string, in bytes after decoding, that Parse
	// accepts for id, type, object, account, api_version or a string created.
	MaxFieldLen = 255
	// MaxDepth is the deepest nesting of objects and arrays accepted,
	// counting the top-level object; it is encoding/json's limit, so Parse
	// and json.Valid agree on every body.
	MaxDepth = 10000
)

// ErrInvalid is returned, wrapped with detail, for every body Parse rejects.
// Some rejections also wrap a more precise error below; Reason names them.
var ErrInvalid = errors.New("envelope: invalid event payload")

var (
	// ErrAmbiguousKey: an envelope key appears twice, or a key differs from
	// one only in letter case (as encoding/json folds it), so JSON readers
	// could disagree on the field's value.
	ErrAmbiguousKey = errors.New("ambiguous key")
	// ErrInvalidUTF8: a string field is not valid UTF-8, so encoding/json
	// would read it with U+FFFD in place of what was sent.
	ErrInvalidUTF8 = errors.New("string is not valid UTF-8")
)

// Reason names why Parse rejected a body, for logs and metrics:
// "ambiguous_key", "invalid_utf8", or "invalid_payload" for any other
// error; "" for nil.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrAmbiguousKey):
		return "ambiguous_key"
	case errors.Is(err, ErrInvalidUTF8):
		return "invalid_utf8"
	default:
		return "invalid_payload"
	}
}

// Fields are the top-level envelope fields of a Stripe event.
type Fields struct {
	ID, Type, Object string
	Created          int64 // unix seconds; thin events (object "v2.core.event") carry an RFC 3339 string: converted
	Livemode         bool
	Account          string // "" when absent or null
	APIVersion       string // "" when absent or null
	// ObjectID is data.object.id as ObjectID returns it: "" when the body
	// has none (a thin event) or one ObjectID does not accept. It is read
	// in the same pass, so a caller that needs it does not scan the body
	// twice.
	ObjectID string
}

// Parse checks that body is a single valid JSON object (surrounding
// whitespace allowed) whose top-level id and type are non-empty strings, and
// returns its envelope fields. Every rejection wraps ErrInvalid; an
// ambiguous key also wraps ErrAmbiguousKey, and a string field that is not
// valid UTF-8 also wraps ErrInvalidUTF8 (see the package comment).
//
// The optional fields are read as follows; any other JSON type is rejected:
//
//   - object, account, api_version: a string; null or absent gives "".
//   - created: an integer number that fits an int64, or a string that
//     time.Time's UnmarshalJSON accepts (thin events: strict RFC 3339, no
//     escapes), converted to unix seconds (rounded down). Either form is
//     accepted whatever object says.
//     A number with a fraction or exponent (1.0, 1e9) is rejected, as
//     encoding/json rejects it for an int64; null or absent gives 0.
//   - livemode: true or false; null or absent gives false.
//
// The returned strings that need no unescaping (all of them, in Stripe's
// events) share a single allocation; Parse allocates nothing else on a valid
// body. Holding any one of them keeps that allocation (at most 6 x
// MaxFieldLen bytes, with ObjectID) alive.
func Parse(body []byte) (Fields, error) {
	var vals [numKeys]span
	var obj span // data.object.id's value; end 0 when none
	b := body
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		if i >= len(b) {
			return Fields{}, invalid(i, "empty body")
		}
		return Fields{}, invalid(i, "top-level value is not an object")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return Fields{}, unexpected(b, i, "object key")
			}
			ks := i
			var kesc bool
			var err error
			if i, kesc, err = scanString(b, i); err != nil {
				return Fields{}, err
			}
			ke := i
			i = skipWS(b, i)
			if i >= len(b) || b[i] != ':' {
				return Fields{}, unexpected(b, i, "':' after object key")
			}
			i = skipWS(b, i+1)
			vs := i
			var vesc bool
			if keyIs(b[ks:ke], kesc, objectPath[0]) {
				// data: the object id is read in this pass, as ObjectID
				// reads it; a repeated data replaces it (the last wins).
				if i < len(b) && b[i] == '{' {
					i, obj, err = findPath(b, i, 1)
				} else {
					i, vesc, err = scanValue(b, i)
					obj = span{}
				}
			} else {
				i, vesc, err = scanValue(b, i)
			}
			if err != nil {
				return Fields{}, err
			}
			if k, exact := matchKey(b[ks:ke], kesc); k >= 0 {
				if !exact {
					return Fields{}, ambiguous(ks, "a key differs from "+keyNames[k]+" only in letter case")
				}
				if vals[k].end != 0 {
					return Fields{}, ambiguous(ks, "duplicate key "+keyNames[k])
				}
				vals[k] = span{start: vs, end: i, esc: vesc}
			}
			i = skipWS(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			return Fields{}, unexpected(b, i, "',' or '}' after object member")
		}
	}
	if i = skipWS(b, i); i != len(b) {
		return Fields{}, invalid(i, "data after the top-level object")
	}
	return extract(b, &vals, obj)
}

// The envelope keys, indexes into Parse's table of value spans.
const (
	keyID = iota
	keyType
	keyObject
	keyCreated
	keyLivemode
	keyAccount
	keyAPIVersion
	numKeys
)

var keyNames = [numKeys]string{"id", "type", "object", "created", "livemode", "account", "api_version"}

// span locates a top-level value: b[start:end] is its whole token. end is 0
// while the key has not been seen (a value never ends at offset 0).
type span struct {
	start, end int
	esc        bool // a string holding at least one backslash escape
}

// matchKey returns the envelope key that the string token tok names after
// unescaping, as encoding/json matches it to a struct field (exactly, or else
// case-insensitively with Unicode simple folding), and whether the match is
// exact; -1 for none.
func matchKey(tok []byte, esc bool) (k int, exact bool) {
	raw := tok[1 : len(tok)-1]
	if !esc {
		if k := lookupKey(raw); k >= 0 {
			return k, true
		}
		// Only ASCII bytes and a few runes fold to an envelope key's
		// letters; invalid UTF-8 decodes to U+FFFD and folds to none.
		return foldKey(raw), false
	}
	// Each rune of a key that folds to ASCII takes at most 6 escaped bytes
	// (\u0069).
	if len(raw) > 6*len("api_version") {
		return -1, false
	}
	var s string
	if json.Unmarshal(tok, &s) != nil {
		return -1, false // cannot happen: tok was validated
	}
	if k := lookupKey([]byte(s)); k >= 0 {
		return k, true
	}
	return foldKey([]byte(s)), false
}

// foldKey returns the envelope key that name equals under encoding/json's
// case folding (ASCII letters, and each other rune mapped to the smallest
// rune of its unicode.SimpleFold orbit, so that the long s U+017F is an s),
// or -1.
func foldKey(name []byte) int {
	var buf [len("api_version")]byte
	n := 0
	for i := 0; i < len(name); {
		r := rune(name[i])
		if r < utf8.RuneSelf {
			i++
		} else {
			var size int
			r, size = utf8.DecodeRune(name[i:])
			i += size
			r = foldRune(r)
		}
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		if r >= utf8.RuneSelf || n == len(buf) {
			return -1 // every envelope key is ASCII, at most len(buf) long
		}
		buf[n] = byte(r)
		n++
	}
	return lookupKey(buf[:n])
}

// foldRune returns the smallest rune of r's case-folding orbit, as
// encoding/json does.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

func lookupKey(name []byte) int {
	switch string(name) { // does not allocate
	case "id":
		return keyID
	case "type":
		return keyType
	case "object":
		return keyObject
	case "created":
		return keyCreated
	case "livemode":
		return keyLivemode
	case "account":
		return keyAccount
	case "api_version":
		return keyAPIVersion
	}
	return -1
}

// extract interprets the values of the envelope keys of a validated body,
// and obj, the span of its data.object.id (end 0: none).
func extract(b []byte, vals *[numKeys]span, obj span) (Fields, error) {
	// Strings first. Those that need no unescaping are gathered into one
	// allocation and sliced from it.
	var (
		strs  [numKeys]string
		fast  [numKeys]bool
		total int
	)
	for _, k := range [...]int{keyID, keyType, keyObject, keyAccount, keyAPIVersion} {
		v := vals[k]
		required := k == keyID || k == keyType
		if v.end == 0 || b[v.start] == 'n' {
			if required {
				return Fields{}, invalid(v.start, "missing or null "+keyNames[k])
			}
			continue
		}
		if b[v.start] != '"' {
			return Fields{}, invalid(v.start, keyNames[k]+" is not a string")
		}
		raw := b[v.start+1 : v.end-1]
		if !utf8.Valid(raw) || v.esc && !validEscapes(raw) {
			return Fields{}, fmt.Errorf("%w: %w: %s at offset %d", ErrInvalid, ErrInvalidUTF8, keyNames[k], v.start)
		}
		if !v.esc {
			if len(raw) > MaxFieldLen {
				return Fields{}, invalid(v.start, keyNames[k]+": "+errTooLong.Error())
			}
			fast[k] = true
			total += len(raw)
		} else {
			s, err := decodeString(b[v.start:v.end])
			if err != nil {
				return Fields{}, invalid(v.start, keyNames[k]+": "+err.Error())
			}
			strs[k] = s
		}
	}
	// The object id shares that allocation too; one that ObjectID's rules
	// refuse is "" and fails nothing.
	objRaw, objID, _ := objectIDOf(b, obj)
	total += len(objRaw)
	if total > 0 {
		var sb strings.Builder
		sb.Grow(total)
		var off [numKeys]int
		for k := range fast {
			if fast[k] {
				off[k] = sb.Len()
				sb.Write(b[vals[k].start+1 : vals[k].end-1])
			}
		}
		objOff := sb.Len()
		sb.Write(objRaw)
		all := sb.String()
		for k := range fast {
			if fast[k] {
				strs[k] = all[off[k] : off[k]+vals[k].end-vals[k].start-2]
			}
		}
		if objRaw != nil {
			objID = all[objOff:]
		}
	}
	if strs[keyID] == "" {
		return Fields{}, invalid(vals[keyID].start, "empty id")
	}
	if strs[keyType] == "" {
		return Fields{}, invalid(vals[keyType].start, "empty type")
	}
	f := Fields{
		ID:         strs[keyID],
		Type:       strs[keyType],
		Object:     strs[keyObject],
		Account:    strs[keyAccount],
		APIVersion: strs[keyAPIVersion],
		ObjectID:   objID,
	}

	if v := vals[keyCreated]; v.end != 0 {
		var err error
		switch c := b[v.start]; {
		case c == 'n':
		case c == '"':
			f.Created, err = parseTime(b[v.start:v.end])
		case c == '-' || '0' <= c && c <= '9':
			f.Created, err = parseInt(b[v.start:v.end])
		default:
			err = errors.New("not a number or string")
		}
		if err != nil {
			return Fields{}, invalid(v.start, "created: "+err.Error())
		}
	}

	if v := vals[keyLivemode]; v.end != 0 {
		switch b[v.start] {
		case 't':
			f.Livemode = true
		case 'f', 'n':
		default:
			return Fields{}, invalid(v.start, "livemode is not a boolean")
		}
	}
	return f, nil
}

var errTooLong = fmt.Errorf("longer than %d bytes", MaxFieldLen)

// decodeString decodes the string token tok as encoding/json does and
// enforces MaxFieldLen.
func decodeString(tok []byte) (string, error) {
	// A decoded byte takes at most 6 bytes of tok (\u0041), so a longer raw
	// string cannot decode to MaxFieldLen bytes or fewer.
	if len(tok)-2 > 6*MaxFieldLen {
		return "", errTooLong
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return "", err // cannot happen: tok was validated
	}
	if len(s) > MaxFieldLen {
		return "", errTooLong
	}
	return s, nil
}

// validEscapes reports whether the escapes of the validated string content
// raw decode without replacement: encoding/json decodes a \u escape of a
// surrogate to U+FFFD unless it is a high surrogate followed at once by a \u
// escape of a low one, which together make one rune.
func validEscapes(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // past the escaped byte, which may be a backslash
			continue
		}
		r := hex4(raw[i+2:])
		i += 5
		if r < 0xd800 || r > 0xdfff {
			continue
		}
		if r >= 0xdc00 || i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
			return false
		}
		if r2 := hex4(raw[i+3:]); r2 < 0xdc00 || r2 > 0xdfff {
			return false
		}
		i += 6
	}
	return true
}

// hex4 decodes the four validated hex digits at the start of b.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// parseTime converts the string token tok to unix seconds as stripe-go's
// thin events read it into a time.Time: time.Time's UnmarshalJSON, which
// takes the token's bytes as they are (an escape is not decoded, and is
// rejected) and accepts only strict RFC 3339.
func parseTime(tok []byte) (int64, error) {
	if len(tok)-2 > MaxFieldLen {
		return 0, errTooLong
	}
	var t time.Time
	if err := t.UnmarshalJSON(tok); err != nil {
		return 0, errors.New("not an RFC 3339 time")
	}
	return t.Unix(), nil
}

// parseInt converts a validated JSON number token to an int64, rejecting
// fractions, exponents and values out of range.
func parseInt(tok []byte) (int64, error) {
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	const limit = 1 << 63 // magnitude of math.MinInt64
	var n uint64
	for _, c := range tok {
		if c < '0' || c > '9' {
			return 0, errors.New("not an integer")
		}
		if n > limit/10 {
			return 0, errors.New("out of int64 range")
		}
		n = n*10 + uint64(c-'0')
		if n > limit {
			return 0, errors.New("out of int64 range")
		}
	}
	if neg {
		return int64(-n), nil // -(1<<63) wraps to math.MinInt64, as wanted
	}
	if n == limit {
		return 0, errors.New("out of int64 range")
	}
	return int64(n), nil
}

func invalid(off int, msg string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalid, msg, off)
}

func ambiguous(off int, msg string) error {
	return fmt.Errorf("%w: %w: %s at offset %d", ErrInvalid, ErrAmbiguousKey, msg, off)
}

func unexpected(b []byte, i int, want string) error {
	if i >= len(b) {
		return invalid(i, "unexpected end of input, want "+want)
	}
	return invalid(i, fmt.Sprintf("unexpected %q, want %s", b[i], want))
}
