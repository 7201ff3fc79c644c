package bodycodec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/hookbox/hookbox/stripefixture"
)

// fastEncoders are the encoders under test: with the dictionary, and
// without one, each with the Codec that decodes its frames.
func fastEncoders(t testing.TB) []struct {
	name string
	enc  *fastEncoder
	dec  *Codec
} {
	t.Helper()
	withDict, err := newFastEncoder(Dict)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := newFastEncoder(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Dict)
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		enc  *fastEncoder
		dec  *Codec
	}{{"Dict", withDict, c}, {"Plain", plain, Plain}}
}

// checkEncoded ensures frame, which the encoder made of body, is shorter
// than body, and checkFrame.
func checkEncoded(t testing.TB, e *fastEncoder, dec *Codec, body, frame []byte) {
	t.Helper()
	if len(frame) >= len(body) {
		t.Fatalf("a %d-byte frame of a %d-byte body", len(frame), len(body))
	}
	checkFrame(t, e, dec, body, frame)
}

// checkFrame ensures frame is a well-formed zstd frame of body: a
// single-segment frame with body's size, its content checksum and the
// encoder's dictionary id in its header, which klauspost/compress's
// decoder turns back into body.
func checkFrame(t testing.TB, e *fastEncoder, dec *Codec, body, frame []byte) {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(frame); err != nil {
		t.Fatalf("frame header: %v", err)
	}
	if !h.SingleSegment || !h.HasFCS || h.FrameContentSize != uint64(len(body)) || !h.HasCheckSum || h.DictionaryID != e.dictID {
		t.Fatalf("frame header %+v, want single segment, size %d, checksum, dictionary %d", h, len(body), e.dictID)
	}
	got, err := dec.Decode(Zstd, frame)
	if err != nil {
		t.Fatalf("decoding a %d-byte body: %v", len(body), err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("decoded %d bytes that differ from the %d-byte body", len(got), len(body))
	}
}

// TestFast ensures Stripe events of every type come back byte for byte
// from the fast encoder's frames, and that they cost at most a fifth more
// bytes than klauspost/compress's encoder with the same dictionary.
func TestFast(t *testing.T) {
	for _, tc := range fastEncoders(t) {
		t.Run(tc.name, func(t *testing.T) {
			var in, fast, ref int
			for _, b := range DictSamples(1, 300) {
				f := tc.enc.encode(nil, b)
				if f == nil {
					t.Fatalf("a %d-byte event was not compressed", len(b))
				}
				checkEncoded(t, tc.enc, tc.dec, b, f)
				in, fast, ref = in+len(b), fast+len(f), ref+len(tc.dec.enc.EncodeAll(b, nil))
			}
			t.Logf("300 events, %d bytes: %d (%.3f) here, %d (%.3f) with klauspost/compress",
				in, fast, float64(fast)/float64(in), ref, float64(ref)/float64(in))
			if fast*5 > ref*6 {
				t.Errorf("%d bytes against klauspost/compress's %d: more than a fifth more", fast, ref)
			}
		})
	}
}

// DictSamples are the dictionary's training events (TestDict) and the
// events the codec's tests compress: every type stripefixture generates,
// live and test mode, from seed. Exported for the package's external
// tests; it exists only in test builds.
func DictSamples(seed int64, n int) [][]byte {
	g := stripefixture.New(seed)
	types := stripefixture.Types()
	out := make([][]byte, 0, n)
	for i := range n {
		out = append(out, g.Event(types[i%len(types)], i%2 == 0))
	}
	return out
}

var edgeEvent = stripefixture.New(5).Event("invoice.paid", true)

// edgeBodies are bodies at the format's bounds: sizes where the frame
// content size and the literals header change width, the largest body
// the fast encoder takes, overlapping matches (runs), bodies with no match
// at all, and matches that reach the dictionary's first and last bytes.
func edgeBodies() map[string][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	random := func(n, alphabet int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(alphabet))
		}
		return b
	}
	repeat := func(n int) []byte { return bytes.Repeat(edgeEvent, n/len(edgeEvent)+1)[:n] }
	d, err := parseDict(Dict)
	if err != nil {
		panic(err)
	}
	out := map[string][]byte{
		"DictStart":    append(append([]byte{}, d.content[:300]...), random(40, 256)...),
		"DictEnd":      append(random(40, 256), d.content[len(d.content)-300:]...),
		"WholeDict":    append([]byte{}, d.content...),
		"Zeros":        make([]byte, 5000),
		"Random":       random(5000, 256),
		"FewSymbols":   random(20000, 3),
		"RandomCopied": append(random(3000, 256), random(10, 256)...),
	}
	r := out["RandomCopied"]
	out["RandomCopied"] = append(r, r[:3000]...)
	for _, n := range []int{16, 17, 63, 64, 255, 256, 257, 4095, 4096, 65535, 65791, 65792, 65793, fastMaxBody - 1, fastMaxBody} {
		out[fmt.Sprintf("Event%d", n)] = repeat(n)
		out[fmt.Sprintf("Mixed%d", n)] = append(random(n/2, 256), repeat(n-n/2)...)
	}
	return out
}

// TestFastEdges ensures bodies at the format's bounds round-trip, that
// bodies with long matches compress, and that a body nothing matches in is
// left to the caller (stored Raw).
func TestFastEdges(t *testing.T) {
	for _, tc := range fastEncoders(t) {
		for name, body := range edgeBodies() {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				f := tc.enc.encode(nil, body)
				if f == nil {
					// With the dictionary everything but random bytes
					// matches; without it, what repeats within itself.
					must := name != "Random" && len(body) >= 64 && !(strings.HasPrefix(name, "Mixed") && len(body) < 256)
					if tc.name == "Plain" {
						must = name == "Zeros" || name == "FewSymbols" || name == "WholeDict" ||
							strings.HasPrefix(name, "Event") && len(body) > 2*len(edgeEvent)
					}
					if must {
						t.Fatalf("a %d-byte body was not compressed", len(body))
					}
					return
				}
				if name == "Random" {
					t.Fatal("random bytes compressed")
				}
				checkEncoded(t, tc.enc, tc.dec, body, f)
			})
		}
	}
	big := bytes.Repeat([]byte("x"), fastMaxBody+1)
	if fastEncoders(t)[0].enc.encode(nil, big) != nil {
		t.Fatal("a body over fastMaxBody went to the fast encoder")
	}
}

// TestFastReferenceDecoder ensures the reference implementation (the zstd
// command, libzstd) decodes the frames too, with the dictionary and
// without: not only the decoder the stores use.
func TestFastReferenceDecoder(t *testing.T) {
	zstdCmd, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("no zstd command")
	}
	dir := t.TempDir()
	dictPath := filepath.Join(dir, "stripe.dict")
	if err := os.WriteFile(dictPath, Dict, 0o600); err != nil {
		t.Fatal(err)
	}
	bodies := edgeBodies()
	for i, b := range DictSamples(7, 60) {
		bodies[fmt.Sprintf("Sample%d", i)] = b
	}
	for _, tc := range fastEncoders(t) {
		for name, body := range bodies {
			f := tc.enc.encode(nil, body)
			if f == nil {
				continue
			}
			path := filepath.Join(dir, tc.name+name+".zst")
			if err := os.WriteFile(path, f, 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"-q", "-d", "-c", path}
			if tc.enc.dictID != 0 {
				args = append(args, "-D", dictPath)
			}
			got, err := exec.Command(zstdCmd, args...).Output()
			if err != nil {
				t.Fatalf("%s/%s: zstd -d: %v", tc.name, name, err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("%s/%s: zstd -d gave %d bytes that differ from the %d-byte body", tc.name, name, len(got), len(body))
			}
		}
	}
}

// TestFastSequenceCounts ensures the sequences section's count, written in
// one, two or three bytes, is read back: frames built from synthetic
// sequences (five literals, then four bytes from five back at a time, with
// a literal before every 64th) of each width, up to a 128 KiB body.
func TestFastSequenceCounts(t *testing.T) {
	for _, tc := range fastEncoders(t) {
		for _, n := range []int{1, 127, 128, 0x7eff, 0x7f00, 0x7f01, 32000} {
			seqs := make([]fastSeq, n)
			lits := []byte("abcde")
			body := []byte("abcde")
			for i := range seqs {
				seqs[i] = fastSeq{ml: 4, off: 5 + 3}
				if i == 0 {
					seqs[i].lit = 5
				} else if i%64 == 0 {
					seqs[i].lit = 1
					lits = append(lits, byte(i))
					body = append(body, byte(i))
				}
				for range 4 {
					body = append(body, body[len(body)-5])
				}
			}
			if len(body) > fastMaxBody {
				t.Fatalf("%d sequences make a %d-byte body", n, len(body))
			}
			checkFrame(t, tc.enc, tc.dec, body, tc.enc.frame(nil, body, lits, seqs))
		}
	}
}

// TestParseDict ensures the dictionary is read as klauspost/compress reads
// it (the same id and content: the tables in between were read to their
// last byte), that its tables are whole distributions, and that a
// truncated or damaged dictionary is an error or a shorter content, never
// a panic.
func TestParseDict(t *testing.T) {
	d, err := parseDict(Dict)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := zstd.InspectDictionary(Dict)
	if err != nil {
		t.Fatal(err)
	}
	if d.id != ref.ID() || !bytes.Equal(d.content, ref.Content()) {
		t.Fatalf("id %d and %d content bytes; klauspost/compress reads %d and %d", d.id, len(d.content), ref.ID(), len(ref.Content()))
	}
	for name, tab := range map[string]*fseTable{"ll": d.ll, "ml": d.ml, "of": d.of} {
		sum := 0
		for _, v := range tab.norm {
			sum += max(int(v), -int(v))
		}
		if sum != 1<<tab.log {
			t.Errorf("%s: counts sum to %d, want %d", name, sum, 1<<tab.log)
		}
	}
	for n := range 200 {
		parseDict(Dict[:n])
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		b := append([]byte{}, Dict[:200]...)
		b[8+rng.IntN(192)] = byte(rng.IntN(256))
		parseDict(b)
	}
}

// FuzzFast ensures any body the fast encoder compresses comes back byte
// for byte, with the dictionary and without.
func FuzzFast(f *testing.F) {
	for _, b := range DictSamples(9, 5) {
		f.Add(b)
	}
	f.Add(make([]byte, 300))
	f.Add([]byte(`{"id": "evt_1", "object": "event", "data": {"object": {"id": "pi_1"}}}`))
	encs := fastEncoders(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, tc := range encs {
			if fr := tc.enc.encode(nil, body); fr != nil {
				checkEncoded(t, tc.enc, tc.dec, body, fr)
			}
		}
	})
}

// Ensures the dictionary's match table finds a position by its 8 bytes,
// in a dictionary of up to 64 KiB and in the last 64 KiB of a larger one
// (positions are 16 bits), and that a tag that differs is no candidate.
func TestFastDictIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{8, 1000, 1 << 16, 1<<16 + 1, 100_000} {
		content := make([]byte, size)
		for i := range content {
			content[i] = byte(rng.Uint32())
		}
		e := &fastEncoder{dict: content}
		e.index()
		want := max(0, size-1<<16)
		if e.dbase != want {
			t.Errorf("size %d: base %d, want %d", size, e.dbase, want)
		}
		// The last position is indexed last: no later one takes its slot.
		last := size - 8
		if got := e.dictCand(binary.LittleEndian.Uint64(content[last:])); got != last {
			t.Errorf("size %d: candidate %d for the last position, want %d", size, got, last)
		}
		// A value whose slot is the last position's but whose tag is not.
		cv := binary.LittleEndian.Uint64(content[last:])
		h, tag := fastDictHash(cv)
		for other := cv + 1; ; other++ {
			oh, otag := fastDictHash(other)
			if oh == h && otag != tag {
				if got := e.dictCand(other); got != -1 {
					t.Errorf("size %d: candidate %d for another tag, want none", size, got)
				}
				break
			}
		}
	}
	if got := (&fastEncoder{}).dictCand(1); got != -1 {
		t.Errorf("no dictionary: candidate %d, want none", got)
	}
}
