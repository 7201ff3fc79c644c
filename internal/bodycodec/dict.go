package bodycodec

import (
	"bytes"
	_ "embed"
	"fmt"
)

// Dict is the dictionary new bodies are compressed with: a zstd dictionary
// (id DictVersion) built by TestDict -update from Stripe-shaped events of
// every type stripefixture generates, live and test mode. A new dictionary
// takes the next id: rows written with the old one name its id and stay
// readable, since each store keeps every dictionary it used.
//
//go:embed stripe.dict
var Dict []byte

// DictVersion is Dict's id.
const DictVersion = 1

// ForStore returns the Codec of a store whose database holds the
// dictionaries stored (by id, as the store keeps them): it encodes with
// Dict and decodes frames of any of them. The store adds Dict to its
// dictionaries under DictVersion before it writes with it. It fails when
// the database holds another dictionary under Dict's id (a build that
// reused the id), which would decode rows wrong.
func ForStore(stored map[int64][]byte) (*Codec, error) {
	known := make([][]byte, 0, len(stored))
	for id, d := range stored {
		if id == DictVersion {
			if !bytes.Equal(d, Dict) {
				return nil, fmt.Errorf("bodycodec: the database's dictionary %d differs from this build's", id)
			}
			continue
		}
		if got, ok := DictID(d); !ok || int64(got) != id {
			return nil, fmt.Errorf("bodycodec: the database's dictionary %d is not a zstd dictionary of that id", id)
		}
		known = append(known, d)
	}
	return New(Dict, known...)
}
