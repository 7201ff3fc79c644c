package bodycodec_test

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/hookbox/hookbox/internal/bodycodec"
	"github.com/klauspost/compress/zstd"
)

var update = flag.Bool("update", false, "rebuild stripe.dict from stripefixture's events")

// TestDict ensures the embedded dictionary is a zstd dictionary of id
// DictVersion, and that it pays: events the training never saw (another
// seed) compress to at most half of what they take without it. With
// -update it rebuilds stripe.dict first.
func TestDict(t *testing.T) {
	if *update {
		train := bodycodec.DictSamples(2, 3000)
		var hist []byte
		for _, b := range train {
			if len(hist) >= 64<<10 {
				break
			}
			hist = append(hist, b...)
		}
		dict, err := zstd.BuildDict(zstd.BuildDictOptions{
			ID: bodycodec.DictVersion, Contents: train, History: hist[:64<<10],
			Offsets: [3]int{1, 4, 8}, Level: zstd.SpeedFastest,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("stripe.dict", dict, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote stripe.dict, %d bytes; rebuild to embed it", len(dict))
	}
	if id, ok := bodycodec.DictID(bodycodec.Dict); !ok || id != bodycodec.DictVersion {
		t.Fatalf("Dict: id %d, %v; want %d", id, ok, bodycodec.DictVersion)
	}
	withDict, err := bodycodec.New(bodycodec.Dict)
	if err != nil {
		t.Fatal(err)
	}
	var in, plain, dict int
	for _, b := range bodycodec.DictSamples(1, 300) {
		in += len(b)
		_, p := bodycodec.Plain.Encode(b)
		enc, d := withDict.Encode(b)
		plain, dict = plain+len(p), dict+len(d)
		got, err := withDict.Decode(enc, d)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip with the dictionary: %v", err)
		}
		// Without the dictionary the frame does not decode.
		if _, err := bodycodec.Plain.Decode(enc, d); err == nil {
			t.Fatal("a frame of the dictionary decoded without it")
		}
	}
	t.Logf("300 events, %d bytes: %d without the dictionary (%.3f), %d with it (%.3f)",
		in, plain, float64(plain)/float64(in), dict, float64(dict)/float64(in))
	if dict*2 > plain {
		t.Errorf("with the dictionary %d bytes, without %d: want at most half", dict, plain)
	}
}
