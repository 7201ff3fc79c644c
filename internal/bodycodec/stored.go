package bodycodec

import (
	"runtime"
	"sync"

	"github.com/hookbox/hookbox"
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
//
// objectID is body's data.object.id as envelope.ObjectID reads it, when
// the caller has read it already (hookbox.Event.ObjectID, read in the
// envelope's pass); "" when not, and Store reads it. It is taken as the
// caller's word, as an event's id and type are, with one cheap guard: an
// id that the body's bytes do not hold at all (a mistake, or an id the
// JSON spells with escapes, which the column's rule refuses anyway) is
// read from the body instead (see ObjectID).
func (c *Codec) Store(body []byte, objectID string) *Stored {
	enc, data := c.Encode(body)
	if data == nil {
		data = []byte{} // a nil slice would bind as NULL
	}
	return &Stored{Enc: enc, Data: data, ObjectID: objectIDColumn(body, objectID), codec: c, src: body}
}

// StoreEvent is Store of ev's Body and ObjectID; a nil ev gets the form
// of an empty body.
func (c *Codec) StoreEvent(ev *hookbox.Event) *Stored {
	if ev == nil {
		return c.Store(nil, "")
	}
	return c.Store(ev.Body, ev.ObjectID)
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

// StoreAll returns the stored form of each event's body (StoreEvent):
// its Prepared where that is this codec's of its Body (Prepared), else
// computed here, on up to GOMAXPROCS goroutines when many are left.
func (c *Codec) StoreAll(events []*hookbox.Event) []*Stored {
	out := make([]*Stored, len(events))
	var todo []int
	for i, ev := range events {
		if ev != nil {
			out[i] = c.Prepared(ev.Prepared, ev.Body)
		}
		if out[i] == nil {
			todo = append(todo, i)
		}
	}
	encode := func(idx []int) {
		for _, i := range idx {
			out[i] = c.StoreEvent(events[i])
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
