// Package bodycodec compresses the event bodies the stores keep, and gives
// them back byte for byte.
//
// A stored body is a pair: an Encoding, kept in a column of its own, and
// the stored bytes. The marker is a column and not a prefix of the bytes
// because a body is any bytes (the Store contract stores whatever
// InsertEvents is given, byte for byte): no prefix can be ruled out of the
// rows written before compression, while a column added with DEFAULT 0
// marks every old row Raw without rewriting it.
//
// Compression is zstd with a dictionary trained on Stripe-shaped events
// (Dict): the keys, enums and nulls every event repeats are in the
// dictionary, so a body of about 3 KB is stored in about 550 bytes instead
// of about 1,500 without it. Bodies up to 128 KiB, every Stripe event, are
// written by this package's own encoder of the zstd format (fastEncoder:
// a third of the time of github.com/klauspost/compress's fastest level,
// for about a tenth more bytes); larger ones by klauspost/compress, which
// also decodes every frame. A zstd frame names the dictionary it needs by
// id, and the stores keep
// every dictionary they have written with in the database, so the rows
// written with an older dictionary stay readable by a build that ships a
// newer one. A body that does not shrink, and a body too large to decode
// within MaxDecoded, is stored Raw.
package bodycodec

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"

	"github.com/hookbox/hookbox/envelope"
)

// Encoding says how a stored body's bytes hold the body.
type Encoding int64

const (
	// Raw bytes are the body itself: every row stored before compression,
	// bodies that do not shrink, and bodies emptied by retention.
	Raw Encoding = 0
	// Zstd bytes are one zstd frame of the body.
	Zstd Encoding = 1
)

// MaxDecoded bounds the size a Zstd body decodes to, so a damaged row
// cannot make a reader allocate without limit. Encode stores larger bodies
// Raw, so every body it encodes decodes.
const MaxDecoded = 64 << 20

// minSize is the size below which a body is stored Raw: a frame's header
// and checksum take about a dozen bytes, more than tiny bodies save.
const minSize = 64

// Codec encodes and decodes bodies. Its methods are safe for concurrent
// use.
type Codec struct {
	fast *fastEncoder  // bodies up to fastMaxBody
	enc  *zstd.Encoder // larger bodies
	dec  *zstd.Decoder
}

// New returns a Codec that encodes with the dictionary current (none when
// nil) and decodes frames of current and of each of known (the
// dictionaries of older rows). Dictionaries are in zstd's format, with
// their id in their header (DictID).
func New(current []byte, known ...[]byte) (*Codec, error) {
	eopts := []zstd.EOption{
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		// Bodies are small: a small window keeps each encoder's memory
		// and the frame header small.
		zstd.WithWindowSize(1 << 20),
		zstd.WithLowerEncoderMem(true),
		// Literals are stored without Huffman coding: with the
		// dictionary, few bytes of a Stripe event are literals, and
		// building their table per body cost more than it saved (15%
		// less encoding time and 20% less decoding for 6% more bytes,
		// Benchmark3KB and README "Tried for bodies").
		zstd.WithNoEntropyCompression(true),
	}
	dopts := []zstd.DOption{
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(MaxDecoded),
	}
	fast, err := newFastEncoder(current)
	if err != nil {
		return nil, fmt.Errorf("bodycodec: dictionary: %w", err)
	}
	if current != nil {
		eopts = append(eopts, zstd.WithEncoderDict(current))
		known = append(known, current)
	}
	if len(known) > 0 {
		dopts = append(dopts, zstd.WithDecoderDicts(known...))
	}
	enc, err := zstd.NewWriter(nil, eopts...)
	if err != nil {
		return nil, fmt.Errorf("bodycodec: encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, dopts...)
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("bodycodec: decoder: %w", err)
	}
	return &Codec{fast: fast, enc: enc, dec: dec}, nil
}

// Plain is a Codec without a dictionary.
var Plain = mustNew()

func mustNew() *Codec {
	c, err := New(nil)
	if err != nil {
		panic(err)
	}
	return c
}

// DictID returns the id a zstd dictionary declares, and false when dict is
// not one.
func DictID(dict []byte) (uint32, bool) {
	d, err := zstd.InspectDictionary(dict)
	if err != nil {
		return 0, false
	}
	return d.ID(), true
}

// Encode returns how to store body: its encoding and the bytes to keep.
// The bytes are body itself when the encoding is Raw, else a new slice.
func (c *Codec) Encode(body []byte) (Encoding, []byte) {
	if len(body) < minSize || len(body) > MaxDecoded {
		return Raw, body
	}
	if len(body) <= fastMaxBody {
		if out := c.fast.encode(make([]byte, 0, len(body)/4+32), body); out != nil {
			return Zstd, out
		}
		return Raw, body
	}
	out := c.enc.EncodeAll(body, make([]byte, 0, len(body)/2))
	if len(out) >= len(body) {
		return Raw, body
	}
	return Zstd, out
}

// ErrEncoding is returned for an encoding this version does not know.
var ErrEncoding = errors.New("bodycodec: unknown encoding")

// Decode returns the body that Encode stored as enc and data. For Raw it
// is data itself; for Zstd a new slice. An empty data is an empty body
// whatever the encoding (retention empties bodies).
func (c *Codec) Decode(enc Encoding, data []byte) ([]byte, error) {
	switch {
	case enc == Raw:
		return data, nil
	case len(data) == 0:
		return []byte{}, nil
	case enc == Zstd:
		body, err := c.dec.DecodeAll(data, nil)
		if err != nil {
			return nil, fmt.Errorf("bodycodec: decode: %w", err)
		}
		if body == nil {
			body = []byte{}
		}
		return body, nil
	}
	return nil, fmt.Errorf("%w %d", ErrEncoding, enc)
}

// ObjectID returns the object id a search by object id matches for body,
// which the stores keep in a column since SQL cannot read a compressed
// body: the body's data.object.id (envelope.ObjectID: where a key
// repeats, the last wins) when it is a string whose bytes appear in the
// body as they are (an id the JSON spells with escapes such as "\/" or
// "\u00e9" matches nothing, as before compression); "" otherwise.
func ObjectID(body []byte) string {
	return objectIDColumn(body, "")
}

// objectIDColumn is ObjectID with the id a caller read already
// (envelope.KnownObjectID); one it gives is in body's bytes, so only an id
// read here is checked for them.
func objectIDColumn(body []byte, known string) string {
	id, ok := envelope.KnownObjectID(body, known)
	if !ok || id != known && !bytes.Contains(body, []byte(id)) {
		return ""
	}
	return id
}
