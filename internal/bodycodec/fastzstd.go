package bodycodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// fastEncoder writes a body of at most fastMaxBody bytes as one zstd frame
// (RFC 8878) of one compressed block: raw literals, and sequences coded
// with the dictionary's FSE tables or the format's predefined ones. Matches
// are found greedily, in the body and in the dictionary's content, from a
// hash of 8 bytes, and the last offset is tried again after each literal
// (the format's repeated offset). Any zstd decoder reads its frames; the
// stores decode them with klauspost/compress like every other frame.
//
// It exists for speed. klauspost/compress's encoder, given a dictionary,
// copies a 256 KiB match table and the 64 KiB dictionary into its state
// for every frame, and builds FSE tables for every block: for a body of
// about 3 KB that was two thirds of its time (Benchmark3KB). Here the
// dictionary's match table is built once and only read, the body's own
// table is 8 KiB, and the sequence tables are built once. The price is
// about a tenth more bytes (0.174 of the body against 0.156, TestFast).
type fastEncoder struct {
	dict   []byte // the dictionary's content: the history before every body
	dictID uint32 // 0: none
	// dtab maps the hash of 8 bytes at a dictionary position to that
	// position (less dbase, in the low 16 bits) and a tag of 15 more bits
	// of the hash (the high 16, the lowest of them set); 0: none. A
	// candidate whose tag differs is not read: under load the dictionary's
	// bytes are a cache miss, and most candidates are not matches.
	dtab  []uint32
	dbase int // the dictionary position of entry position 0
	// The dictionary's sequence tables (nil: none), which a frame's
	// block uses (Repeat_Mode) when they code every symbol it needs:
	// fitted to Stripe events, they take fewer bits than the predefined.
	ll, of, ml *fseTable
	pool       sync.Pool
}

const (
	// fastMaxBody is the largest body written as one block: a block's
	// content is at most 128 KiB. Larger bodies go to klauspost/compress.
	fastMaxBody = 128 << 10
	// fastDictBits and fastBodyBits size the match tables.
	fastDictBits = 14
	fastBodyBits = 11
	fastPrime    = 0x9e3779b97f4a7c15 // 2^64 / the golden ratio (Fibonacci hashing)
)

// fastScratch is one encoding's working memory, pooled.
type fastScratch struct {
	btab [1 << fastBodyBits]uint32 // hash -> body position+1
	lits []byte
	seqs []fastSeq
}

// fastSeq is a sequence: lit literals, then a match of ml bytes at the
// offset that off codes: the offset plus 3, or 1 for the last offset again
// (lit is then never 0, where 1 would name another).
type fastSeq struct {
	lit, ml, off  uint32
	llc, mlc, ofc uint8 // their codes
}

// newFastEncoder returns an encoder without a dictionary, or with dict's
// content and tables when dict (a zstd dictionary) is not nil.
func newFastEncoder(dict []byte) (*fastEncoder, error) {
	e := &fastEncoder{}
	e.pool.New = func() any { return &fastScratch{} }
	if dict == nil {
		return e, nil
	}
	d, err := parseDict(dict)
	if err != nil {
		return nil, err
	}
	content := d.content
	e.dict, e.dictID, e.ll, e.of, e.ml = content, d.id, d.ll, d.of, d.ml
	e.index()
	return e, nil
}

// index builds the dictionary's match table (dtab). Positions fit 16
// bits: a larger dictionary's last 64 KiB are indexed (the nearest to the
// body, the shortest offsets).
func (e *fastEncoder) index() {
	content := e.dict
	if len(content) < 8 {
		return
	}
	e.dtab = make([]uint32, 1<<fastDictBits)
	e.dbase = max(0, len(content)-1<<16)
	for p := e.dbase; p+8 <= len(content); p++ {
		h, tag := fastDictHash(binary.LittleEndian.Uint64(content[p:]))
		e.dtab[h] = tag | uint32(p-e.dbase)
	}
}

func fastHash(v uint64, bits uint) uint32 {
	return uint32((v * fastPrime) >> (64 - bits))
}

// fastDictHash returns the dictionary table's slot of v (fastHash) and
// the tag of its entry: the next 15 bits of the product, shifted to the
// high half, its lowest bit set so that no entry is 0.
func fastDictHash(v uint64) (uint32, uint32) {
	x := v * fastPrime
	return uint32(x >> (64 - fastDictBits)), (uint32(x>>(64-fastDictBits-16))<<16 | 1<<16)
}

// bodySlot is the body table's slot of a hash of fastDictBits bits.
func bodySlot(h uint32) uint32 { return h >> (fastDictBits - fastBodyBits) }

// matchLen returns how many leading bytes a and b share.
func matchLen(a, b []byte) int {
	n := 0
	for len(a) >= 8 && len(b) >= 8 {
		if x := binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b); x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		a, b, n = a[8:], b[8:], n+8
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return n + i
		}
	}
	return n + min(len(a), len(b))
}

// encode appends body's frame to dst and returns it, or returns nil when
// the frame would not be shorter than the body (or body is too large for
// one block): the caller then stores it another way.
func (e *fastEncoder) encode(dst, body []byte) []byte {
	n := len(body)
	if n < 16 || n > fastMaxBody {
		return nil
	}
	s := e.pool.Get().(*fastScratch)
	defer e.pool.Put(s)
	if !e.parse(s, body) {
		return nil
	}
	out := e.frame(dst, body, s.lits, s.seqs)
	if len(out)-len(dst) >= n {
		return nil
	}
	return out
}

// parse fills s with body's literals and sequences, and reports whether
// it found any sequence.
func (e *fastEncoder) parse(s *fastScratch, body []byte) bool {
	clear(s.btab[:])
	s.lits, s.seqs = s.lits[:0], s.seqs[:0]
	n := len(body)
	dict := e.dict
	anchor, i, limit := 0, 0, n-8
	rep := 0 // the last offset, once a sequence has set it
	for i <= limit {
		cv := binary.LittleEndian.Uint64(body[i:])
		// The last offset again, after at least one literal: the
		// decoder's repeated offset 1 (offset value 1), which costs no
		// offset bits. A Stripe event is mostly the dictionary's text with
		// other values in it, so the text after a value continues at the
		// offset before it.
		if rep > 0 && i > anchor {
			if ml := e.matchAt(body, i, rep, uint32(cv)); ml > 0 {
				i = s.emit(body, anchor, i, ml, 1)
				anchor = i
				continue
			}
		}
		h := fastHash(cv, fastDictBits)
		hb := bodySlot(h)
		cand := int(s.btab[hb]) - 1
		s.btab[hb] = uint32(i + 1)
		var off, ml int
		if cand >= 0 && binary.LittleEndian.Uint32(body[cand:]) == uint32(cv) {
			ml = 4 + matchLen(body[cand+4:], body[i+4:])
			for i > anchor && cand > 0 && body[i-1] == body[cand-1] {
				i, cand, ml = i-1, cand-1, ml+1
			}
			off = i - cand
		} else if d := e.dictCand(cv); d >= 0 && binary.LittleEndian.Uint32(dict[d:]) == uint32(cv) {
			ml = 4 + matchLen(dict[d+4:], body[i+4:])
			for i > anchor && d > 0 && body[i-1] == dict[d-1] {
				i, d, ml = i-1, d-1, ml+1
			}
			off = len(dict) - d + i
		} else {
			// No match: step further the longer the run of literals, up
			// to 16 bytes (bytes that do not compress cost less time, and
			// a match after them is still found).
			i += 1 + min((i-anchor)>>5, 15)
			continue
		}
		i = s.emit(body, anchor, i, ml, uint32(off)+3)
		rep = off
		anchor = i
		// Index a position inside the match, for the next body match.
		if p := i - 2; p <= limit {
			s.btab[bodySlot(fastHash(binary.LittleEndian.Uint64(body[p:]), fastDictBits))] = uint32(p + 1)
		}
	}
	s.lits = append(s.lits, body[anchor:]...)
	return len(s.seqs) > 0
}

// emit records the literals body[anchor:i] and then a match of ml bytes
// whose offset off codes, and returns where the match ends.
func (s *fastScratch) emit(body []byte, anchor, i, ml int, off uint32) int {
	s.lits = append(s.lits, body[anchor:i]...)
	s.seqs = append(s.seqs, fastSeq{lit: uint32(i - anchor), ml: uint32(ml), off: off})
	return i + ml
}

// frame appends to dst the frame of body as lits and seqs (at least one
// sequence; the literals left after the last are at the end of lits) and
// returns it.
func (e *fastEncoder) frame(dst, body, lits []byte, seqs []fastSeq) []byte {
	out := e.frameHeader(dst, len(body))
	bh := len(out)
	out = append(out, 0, 0, 0) // the block header, once its size is known
	out = appendRawLiterals(out, lits)
	out = e.appendSequences(out, seqs)
	h := uint32(1 | 2<<1 | (len(out)-bh-3)<<3) // last block, compressed, its size
	out[bh], out[bh+1], out[bh+2] = byte(h), byte(h>>8), byte(h>>16)
	return binary.LittleEndian.AppendUint32(out, uint32(xxhash.Sum64(body)))
}

// matchAt returns the length of the match at body[i:] off bytes back, in
// the body or wholly in the dictionary, whose first four bytes are cv; 0
// when there is none.
func (e *fastEncoder) matchAt(body []byte, i, off int, cv uint32) int {
	if c := i - off; c >= 0 {
		if binary.LittleEndian.Uint32(body[c:]) != cv {
			return 0
		}
		return 4 + matchLen(body[c+4:], body[i+4:])
	}
	d := len(e.dict) + i - off
	if d < 0 || d+4 > len(e.dict) || binary.LittleEndian.Uint32(e.dict[d:]) != cv {
		return 0
	}
	return 4 + matchLen(e.dict[d+4:], body[i+4:])
}

func (e *fastEncoder) dictCand(cv uint64) int {
	if e.dtab == nil {
		return -1
	}
	h, tag := fastDictHash(cv)
	entry := e.dtab[h]
	if entry&^0xffff != tag {
		return -1
	}
	return int(entry&0xffff) + e.dbase
}

// frameHeader appends the magic number and the header of a single-segment
// frame of n bytes, with a content checksum and the dictionary's id.
func (e *fastEncoder) frameHeader(out []byte, n int) []byte {
	out = append(out, 0x28, 0xb5, 0x2f, 0xfd)
	fhd := byte(1<<5 | 1<<2) // single segment, checksum
	switch {
	case n < 256:
	case n < 65536+256:
		fhd |= 1 << 6
	default:
		fhd |= 2 << 6
	}
	switch id := e.dictID; {
	case id == 0:
	case id < 256:
		fhd |= 1
	case id < 65536:
		fhd |= 2
	default:
		fhd |= 3
	}
	out = append(out, fhd)
	switch fhd & 3 {
	case 1:
		out = append(out, byte(e.dictID))
	case 2:
		out = binary.LittleEndian.AppendUint16(out, uint16(e.dictID))
	case 3:
		out = binary.LittleEndian.AppendUint32(out, e.dictID)
	}
	switch fhd >> 6 {
	case 0:
		out = append(out, byte(n))
	case 1:
		out = binary.LittleEndian.AppendUint16(out, uint16(n-256))
	default:
		out = binary.LittleEndian.AppendUint32(out, uint32(n))
	}
	return out
}

// appendRawLiterals appends a literals section holding lits as they are.
func appendRawLiterals(out, lits []byte) []byte {
	switch n := len(lits); {
	case n < 32:
		out = append(out, byte(n<<3))
	case n < 4096:
		out = append(out, byte(1<<2|(n&15)<<4), byte(n>>4))
	default:
		out = append(out, byte(3<<2|(n&15)<<4), byte(n>>4), byte(n>>12))
	}
	return append(out, lits...)
}

// appendSequences appends a sequences section of seqs (at least one),
// each length coded with the dictionary's table when it has every code
// seqs use, else with the predefined one.
func (e *fastEncoder) appendSequences(out []byte, seqs []fastSeq) []byte {
	switch n := len(seqs); {
	case n < 128:
		out = append(out, byte(n))
	case n < 0x7f00:
		out = append(out, byte(n>>8+0x80), byte(n))
	default:
		out = append(out, 0xff, byte(n-0x7f00), byte((n-0x7f00)>>8))
	}
	// A dictionary table is used when it codes every symbol and costs
	// fewer bits than the predefined one.
	var llCost, mlCost, ofCost int // the dictionary's minus the predefined
	llOK, mlOK, ofOK := e.ll != nil, e.ml != nil, e.of != nil
	for k := range seqs {
		q := &seqs[k]
		q.llc, q.mlc, q.ofc = seqCodes(*q)
		if llOK = llOK && e.ll.has(q.llc); llOK {
			llCost += int(e.ll.cost[q.llc]) - int(predefLL.cost[q.llc])
		}
		if mlOK = mlOK && e.ml.has(q.mlc); mlOK {
			mlCost += int(e.ml.cost[q.mlc]) - int(predefML.cost[q.mlc])
		}
		if ofOK = ofOK && e.of.has(q.ofc); ofOK {
			ofCost += int(e.of.cost[q.ofc]) - int(predefOF.cost[q.ofc])
		}
	}
	llOK, mlOK, ofOK = llOK && llCost < 0, mlOK && mlCost < 0, ofOK && ofCost < 0
	llT, mlT, ofT := predefLL, predefML, predefOF
	var modes byte // 0: predefined; 3: repeat (the dictionary's)
	if llOK {
		llT, modes = e.ll, modes|3<<6
	}
	if ofOK {
		ofT, modes = e.of, modes|3<<4
	}
	if mlOK {
		mlT, modes = e.ml, modes|3<<2
	}
	out = append(out, modes)

	w := bitWriter{out: out}
	var ll, ml, of fseState
	last := seqs[len(seqs)-1]
	ml.init(mlT, last.mlc)
	of.init(ofT, last.ofc)
	ll.init(llT, last.llc)
	w.add(last.lit, llBits[last.llc])
	w.add(last.ml-3, mlBits[last.mlc])
	w.flush()
	w.add(last.off, last.ofc)
	w.flush()
	for k := len(seqs) - 2; k >= 0; k-- {
		s := &seqs[k]
		of.encode(&w, s.ofc)
		ml.encode(&w, s.mlc)
		ll.encode(&w, s.llc)
		w.add(s.lit, llBits[s.llc])
		w.flush()
		w.add(s.ml-3, mlBits[s.mlc])
		w.add(s.off, s.ofc)
		w.flush()
	}
	ml.flush(&w)
	of.flush(&w)
	ll.flush(&w)
	w.add(1, 1)
	w.flush()
	if w.n > 0 {
		w.out = append(w.out, byte(w.c))
	}
	return w.out
}

// seqCodes returns the literal length, match length and offset codes of s.
func seqCodes(s fastSeq) (llc, mlc, ofc uint8) {
	if s.lit < 64 {
		llc = llCodes[s.lit]
	} else {
		llc = uint8(bits.Len32(s.lit)-1) + 19
	}
	if b := s.ml - 3; b < 128 {
		mlc = mlCodes[b]
	} else {
		mlc = uint8(bits.Len32(b)-1) + 36
	}
	ofc = uint8(bits.Len32(s.off) - 1)
	return llc, mlc, ofc
}

// bitWriter writes zstd's backward bit stream: bits fill from the least
// significant end and whole bytes go out in order.
type bitWriter struct {
	out []byte
	c   uint64
	n   uint8
}

// add adds the nb low bits of v; at most 56-n bits fit before a flush.
func (w *bitWriter) add(v uint32, nb uint8) {
	w.c |= (uint64(v) & (1<<nb - 1)) << w.n
	w.n += nb
}

func (w *bitWriter) flush() {
	for w.n >= 8 {
		w.out = append(w.out, byte(w.c))
		w.c >>= 8
		w.n -= 8
	}
}

// fseTable is an FSE coding table built from a normalized distribution.
type fseTable struct {
	log   uint8
	state []uint16
	sym   []fseSym
	norm  []int16
	cost  []uint16 // bits to code each symbol, in sixteenths
}

// has reports whether the table codes sym (its probability is not 0).
func (t *fseTable) has(sym uint8) bool {
	return int(sym) < len(t.norm) && t.norm[sym] != 0
}

type fseSym struct {
	deltaNbBits    uint32
	deltaFindState int32
}

// fseState is an FSE encoder's state over one table.
type fseState struct {
	t     *fseTable
	value uint32
}

func (s *fseState) init(t *fseTable, sym uint8) {
	s.t = t
	tt := t.sym[sym]
	nb := (tt.deltaNbBits + 1<<15) >> 16
	v := nb<<16 - tt.deltaNbBits
	s.value = uint32(t.state[int32(v>>nb)+tt.deltaFindState])
}

func (s *fseState) encode(w *bitWriter, sym uint8) {
	tt := s.t.sym[sym]
	nb := uint8((s.value + tt.deltaNbBits) >> 16)
	w.add(s.value, nb)
	s.value = uint32(s.t.state[int32(s.value>>nb)+tt.deltaFindState])
}

func (s *fseState) flush(w *bitWriter) {
	w.add(s.value, s.t.log)
	w.flush()
}

// newFSETable builds the coding table of the normalized counts norm
// (-1: a low-probability symbol) at accuracy log, spreading symbols as
// RFC 8878 section 4.1.1 does (the decoder's table must be the same).
func newFSETable(norm []int16, log uint8) *fseTable {
	size := 1 << log
	t := &fseTable{log: log, state: make([]uint16, size), sym: make([]fseSym, len(norm)), norm: norm, cost: make([]uint16, len(norm))}
	for u, v := range norm {
		p := float64(max(v, 1)) / float64(size)
		t.cost[u] = uint16(math.Round(-math.Log2(p) * 16))
	}
	symbol := make([]uint8, size)
	cumul := make([]int, len(norm)+1)
	high := size - 1
	for u, v := range norm {
		if v == -1 {
			cumul[u+1] = cumul[u] + 1
			symbol[high] = uint8(u)
			high--
		} else {
			cumul[u+1] = cumul[u] + int(v)
		}
	}
	step := size>>1 + size>>3 + 3
	pos := 0
	for u, v := range norm {
		for range v {
			symbol[pos] = uint8(u)
			pos = (pos + step) & (size - 1)
			for pos > high {
				pos = (pos + step) & (size - 1)
			}
		}
	}
	for u := range size {
		sym := symbol[u]
		t.state[cumul[sym]] = uint16(size + u)
		cumul[sym]++
	}
	total := int32(0)
	for u, v := range norm {
		switch v {
		case 0:
		case -1, 1:
			t.sym[u] = fseSym{deltaNbBits: uint32(log)<<16 - uint32(size), deltaFindState: total - 1}
			total++
		default:
			maxOut := uint32(log) - uint32(bits.Len32(uint32(v-1))-1)
			minPlus := uint32(v) << maxOut
			t.sym[u] = fseSym{deltaNbBits: maxOut<<16 - minPlus, deltaFindState: total - int32(v)}
			total += int32(v)
		}
	}
	return t
}

// The predefined distributions (RFC 8878 section 3.1.1.3.2.2).
var (
	predefLL = newFSETable([]int16{
		4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1,
		2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1,
		-1, -1, -1, -1}, 6)
	predefML = newFSETable([]int16{
		1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1,
		-1, -1, -1, -1, -1}, 6)
	predefOF = newFSETable([]int16{
		1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1}, 5)
)

// The codes of literal and match lengths and their extra bits (RFC 8878
// section 3.1.1.3.2.1.1).
var (
	llCodes = [64]uint8{
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 20, 20, 21, 21, 21, 21,
		22, 22, 22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 23, 23, 23, 23,
		24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24}
	llBits = [36]uint8{
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12,
		13, 14, 15, 16}
	mlCodes = func() (c [128]uint8) {
		for b := range 32 {
			c[b] = uint8(b)
		}
		// Codes 32 and up cover ranges of 2, 2, 2, 2, 4, 4, 8, 8, 16,
		// 16 and 32 values from 32.
		b := 32
		for code, width := range []int{2, 2, 2, 2, 4, 4, 8, 8, 16, 16, 32} {
			for range width {
				c[b] = uint8(32 + code)
				b++
			}
		}
		return c
	}()
	mlBits = [53]uint8{
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11,
		12, 13, 14, 15, 16}
)

// zstdDict is what the encoder uses of a zstd dictionary (RFC 8878
// section 5): its id, its sequence tables and its content.
type zstdDict struct {
	id         uint32
	ll, of, ml *fseTable
	content    []byte
}

// parseDict reads a zstd dictionary: magic number, id, the literals'
// Huffman table (skipped: literals are stored raw), the offset, match
// length and literal length tables, three repeated offsets, content.
func parseDict(b []byte) (*zstdDict, error) {
	if len(b) < 8 || binary.LittleEndian.Uint32(b) != 0xec30a437 {
		return nil, errors.New("not a zstd dictionary")
	}
	d := &zstdDict{id: binary.LittleEndian.Uint32(b[4:])}
	b = b[8:]
	if len(b) == 0 {
		return nil, errors.New("zstd dictionary: no literals table")
	}
	huff := int(b[0]) // the weights' size, FSE-coded below 128, else 4 bits each
	if huff >= 128 {
		huff = (huff - 127 + 1) / 2
	}
	if 1+huff > len(b) {
		return nil, errors.New("zstd dictionary: short literals table")
	}
	b = b[1+huff:]
	var err error
	for _, t := range []struct {
		dst    **fseTable
		maxSym int
		maxLog uint8
	}{{&d.of, 31, 8}, {&d.ml, 52, 9}, {&d.ll, 35, 9}} {
		var norm []int16
		var log uint8
		var n int
		if norm, log, n, err = readNCount(b, t.maxSym, t.maxLog); err != nil {
			return nil, fmt.Errorf("zstd dictionary: %w", err)
		}
		*t.dst, b = newFSETable(norm, log), b[n:]
	}
	if len(b) < 12 {
		return nil, errors.New("zstd dictionary: short repeated offsets")
	}
	d.content = b[12:]
	return d, nil
}

// readNCount reads an FSE table description (RFC 8878 section 4.1.1):
// the normalized counts, the accuracy log and the bytes it took.
func readNCount(b []byte, maxSym int, maxLog uint8) ([]int16, uint8, int, error) {
	pos := 0 // in bits
	peek := func(n int) int {
		v := 0
		for k := 0; k < n; k++ {
			if i := (pos + k) >> 3; i < len(b) && b[i]>>((pos+k)&7)&1 != 0 {
				v |= 1 << k
			}
		}
		return v
	}
	log := peek(4) + 5
	pos += 4
	if log > int(maxLog) {
		return nil, 0, 0, fmt.Errorf("table accuracy log %d over %d", log, maxLog)
	}
	remaining, threshold, nb := 1<<log+1, 1<<log, log+1
	var norm []int16
	prev0 := false
	for remaining > 1 && len(norm) <= maxSym {
		if prev0 {
			// 2-bit repeat flags: each 3 adds three zeros and another flag
			// follows.
			n0 := len(norm)
			for peek(2) == 3 {
				n0, pos = n0+3, pos+2
			}
			n0, pos = n0+peek(2), pos+2
			if n0 > maxSym {
				return nil, 0, 0, errors.New("table: too many symbols")
			}
			for len(norm) < n0 {
				norm = append(norm, 0)
			}
		}
		max := 2*threshold - 1 - remaining
		v := peek(nb)
		var count int
		if v&(threshold-1) < max {
			count, pos = v&(threshold-1), pos+nb-1
		} else {
			count, pos = v, pos+nb
			if count >= threshold {
				count -= max
			}
		}
		count--
		if count < 0 {
			remaining--
		} else {
			remaining -= count
		}
		norm = append(norm, int16(count))
		prev0 = count == 0
		for remaining < threshold {
			nb--
			threshold >>= 1
		}
	}
	if remaining != 1 || (pos+7)>>3 > len(b) {
		return nil, 0, 0, errors.New("table: bad counts")
	}
	return norm, uint8(log), (pos + 7) >> 3, nil
}
