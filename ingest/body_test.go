package ingest

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// TestReadBody ensures the body reader returns every byte whatever the
// announced length and however the bytes arrive, and that an honest
// Content-Length ends in a buffer of exactly that size.
func TestReadBody(t *testing.T) {
	for _, size := range []int{0, 1, 511, 512, 513, 1000, 4096, 70000} {
		want := bytes.Repeat([]byte("abcdefg"), size/7+1)[:size]
		for _, tc := range []struct {
			name      string
			announced int64
			r         io.Reader
		}{
			{"Exact", int64(size), bytes.NewReader(want)},
			{"ExactOneByteReads", int64(size), iotest.OneByteReader(bytes.NewReader(want))},
			{"ExactDataErrEOF", int64(size), iotest.DataErrReader(bytes.NewReader(want))},
			{"Unknown", -1, iotest.HalfReader(bytes.NewReader(want))},
			{"Understated", int64(size / 2), bytes.NewReader(want)},
		} {
			got, err := readBody(tc.r, tc.announced)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s %d: got %d bytes, %v; want %d bytes", tc.name, size, len(got), err, size)
			}
			if tc.name == "ExactDataErrEOF" && cap(got) != size {
				t.Errorf("%s %d: buffer of %d bytes, want exactly %d", tc.name, size, cap(got), size)
			}
			if limit := max(2*size, firstRead); cap(got) > limit {
				t.Errorf("%s %d: buffer of %d bytes, want at most %d", tc.name, size, cap(got), limit)
			}
		}
	}
}

// TestReadBody_GrowsWithArrivedBytes ensures a body that stops arriving
// holds a buffer sized by what arrived, not by what was announced.
func TestReadBody_GrowsWithArrivedBytes(t *testing.T) {
	for _, arrived := range []int{0, 1, 600, 5000} {
		r := io.MultiReader(bytes.NewReader(make([]byte, arrived)), iotest.ErrReader(io.ErrUnexpectedEOF))
		got, err := readBody(r, DefaultMaxBody)
		if err == nil {
			t.Fatalf("%d arrived: no error", arrived)
		}
		if limit := max(2*arrived, firstRead); cap(got) > limit {
			t.Errorf("%d of %d announced bytes arrived: buffer of %d, want at most %d", arrived, DefaultMaxBody, cap(got), limit)
		}
	}
}
