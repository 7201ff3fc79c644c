package bodycodec

import (
	"runtime"
	"sync"
)

// Stored is a body in the form a store writes it: its encoding, the bytes
// to keep, and the object id of its column.
type Stored struct {
	Enc      Encoding
	Data     []byte // never nil: the columns are NOT NULL
	ObjectID string

	codec *Codec
	src   []byte // the body it was computed from
}

// Store returns body's stored form. It is most of a store's CPU per event
// outside the database (compression, then the object id), which is why
// a store offers it ahead of the insert (hookbox.Preparer).
func (c *Codec) Store(body []byte) *Stored {
	enc, data := c.Encode(body)
	if data == nil {
		data = []byte{} // a nil slice would bind as NULL
	}
	return &Stored{Enc: enc, Data: data, ObjectID: ObjectID(body), codec: c, src: body}
}

// Prepared returns v as body's stored form when it is a *Stored that c
// computed from body itself (the same slice, not an equal copy), and nil
// otherwise: one computed by another store's codec, or before the body
// was replaced, is not used.
func (c *Codec) Prepared(v any, body []byte) *Stored {
	s, ok := v.(*Stored)
	if !ok || s == nil || s.codec != c || len(s.src) != len(body) {
		return nil
	}
	if len(body) > 0 && &s.src[0] != &body[0] {
		return nil
	}
	return s
}

// StoreAll returns the stored form of each body: prepared[i] where it is
// bodies[i]'s (Prepared), else computed here, on up to GOMAXPROCS
// goroutines when many are left. prepared may be shorter than bodies.
func (c *Codec) StoreAll(bodies [][]byte, prepared []any) []*Stored {
	out := make([]*Stored, len(bodies))
	var todo []int
	for i, b := range bodies {
		if i < len(prepared) {
			out[i] = c.Prepared(prepared[i], b)
		}
		if out[i] == nil {
			todo = append(todo, i)
		}
	}
	encode := func(idx []int) {
		for _, i := range idx {
			out[i] = c.Store(bodies[i])
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(todo)/parallelMin)
	if workers <= 1 {
		encode(todo)
		return out
	}
	var wg sync.WaitGroup
	per := (len(todo) + workers - 1) / workers
	for lo := 0; lo < len(todo); lo += per {
		wg.Go(func() { encode(todo[lo:min(lo+per, len(todo))]) })
	}
	wg.Wait()
	return out
}

// parallelMin is the fewest bodies per goroutine StoreAll starts.
const parallelMin = 8
