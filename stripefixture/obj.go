package stripefixture

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// obj is a JSON object whose keys keep Stripe's order: "id" and "object"
// first, then the rest alphabetically. encoding/json sorts map keys, which
// would put "id" in the middle of every snapshot; receivers that look for
// the envelope near the start of the body deserve to see Stripe's layout.
type obj []field

type field struct {
	key   string
	value any
}

// o builds an obj from alternating keys and values. The keys are literals
// in this package; an odd argument count or a non-string key is a bug here,
// hence the panic.
func o(kv ...any) obj {
	if len(kv)%2 != 0 {
		panic("stripefixture: o() needs key/value pairs")
	}
	m := make(obj, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			panic(fmt.Sprintf("stripefixture: key %v is not a string", kv[i]))
		}
		m = append(m, field{k, kv[i+1]})
	}
	slices.SortStableFunc(m, func(a, b field) int { return cmpKeys(a.key, b.key) })
	return m
}

func keyRank(k string) int {
	switch k {
	case "id":
		return 0
	case "object":
		return 1
	}
	return 2
}

// cmpKeys orders keys as Stripe does: id, object, then alphabetically.
func cmpKeys(a, b string) int {
	if c := cmp.Compare(keyRank(a), keyRank(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// MarshalJSON writes the object compactly. Event does not go through it
// (it writes indented output directly); it keeps an obj that ends up inside
// a plain value encoding correctly.
func (m obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, m, -1); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeJSON appends v as JSON. With depth >= 0 the output is indented by
// two spaces per level, byte for byte as json.MarshalIndent(v, "", "  ")
// would (Stripe's layout); with depth < 0 it is compact. Objects and arrays
// are walked here, which avoids encoding/json's validate-then-indent passes
// over every nested Marshaler (they tripled the cost); every key and every
// scalar still goes through json.Marshal, so all escaping is encoding/json's.
func writeJSON(b *bytes.Buffer, v any, depth int) error {
	newline := func(d int) {
		if depth >= 0 {
			b.WriteByte('\n')
			for range d {
				b.WriteString("  ")
			}
		}
	}
	switch v := v.(type) {
	case obj:
		if len(v) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteByte('{')
		for i, f := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(depth + 1)
			if err := writeJSON(b, f.key, depth+1); err != nil {
				return err
			}
			b.WriteByte(':')
			if depth >= 0 {
				b.WriteByte(' ')
			}
			if err := writeJSON(b, f.value, next(depth)); err != nil {
				return err
			}
		}
		newline(depth)
		b.WriteByte('}')
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(depth + 1)
			if err := writeJSON(b, e, next(depth)); err != nil {
				return err
			}
		}
		newline(depth)
		b.WriteByte(']')
	default:
		p, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(p)
	}
	return nil
}

// set replaces the value of key in m (m's keys are already ordered).
func (m obj) set(key string, value any) obj {
	for i := range m {
		if m[i].key == key {
			m[i].value = value
			return m
		}
	}
	panic("stripefixture: no key " + key)
}

// get returns the value of key in m; it panics if m has no such key (the
// keys are literals of this package).
func (m obj) get(key string) any {
	for _, f := range m {
		if f.key == key {
			return f.value
		}
	}
	panic("stripefixture: no key " + key)
}

// without returns m minus key (an upcoming invoice has no id).
func (m obj) without(key string) obj {
	out := make(obj, 0, len(m))
	for _, f := range m {
		if f.key != key {
			out = append(out, f)
		}
	}
	return out
}

// next is the depth of a nested value: one deeper, or still compact.
func next(depth int) int {
	if depth < 0 {
		return depth
	}
	return depth + 1
}

// list is Stripe's list object as embedded in snapshots (subscription
// items, invoice lines).
func list(url string, data ...any) obj {
	if data == nil {
		data = []any{}
	}
	return o("object", "list", "data", data, "has_more", false, "total_count", len(data), "url", url)
}
