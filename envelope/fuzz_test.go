package envelope_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookbox/hookbox/envelope"
)

// reference is Parse's specification written with encoding/json: json.Valid
// for the syntax, a token stream for the top-level keys (unescaped by
// encoding/json, compared exactly), json.Unmarshal for each value.
func reference(body []byte) (envelope.Fields, error) {
	var f envelope.Fields
	if !json.Valid(body) {
		return f, errors.New("not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return f, errors.New("not an object")
	}
	vals := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return f, err
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return f, err
		}
		switch key {
		case "id", "type", "object", "created", "livemode", "account", "api_version":
			if _, dup := vals[key]; dup {
				return f, fmt.Errorf("duplicate %s", key)
			}
			vals[key] = raw
		}
	}
	str := func(key string, required bool) (string, error) {
		raw, ok := vals[key]
		if !ok || string(raw) == "null" {
			if required {
				return "", fmt.Errorf("missing %s", key)
			}
			return "", nil
		}
		if raw[0] != '"' {
			return "", fmt.Errorf("%s not a string", key)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		if len(s) > envelope.MaxFieldLen || required && s == "" {
			return "", fmt.Errorf("%s has a bad length", key)
		}
		return s, nil
	}
	var err error
	if f.ID, err = str("id", true); err != nil {
		return envelope.Fields{}, err
	}
	if f.Type, err = str("type", true); err != nil {
		return envelope.Fields{}, err
	}
	if f.Object, err = str("object", false); err != nil {
		return envelope.Fields{}, err
	}
	if f.Account, err = str("account", false); err != nil {
		return envelope.Fields{}, err
	}
	if f.APIVersion, err = str("api_version", false); err != nil {
		return envelope.Fields{}, err
	}
	if raw, ok := vals["created"]; ok {
		switch {
		case string(raw) == "null":
		case raw[0] == '"':
			s, err := str("created", false)
			if err != nil {
				return envelope.Fields{}, err
			}
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return envelope.Fields{}, err
			}
			f.Created = t.Unix()
		case raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9':
			if err := json.Unmarshal(raw, &f.Created); err != nil {
				return envelope.Fields{}, err
			}
		default:
			return envelope.Fields{}, errors.New("created not a number or string")
		}
	}
	if raw, ok := vals["livemode"]; ok && string(raw) != "null" {
		if raw[0] != 't' && raw[0] != 'f' {
			return envelope.Fields{}, errors.New("livemode not a boolean")
		}
		f.Livemode = raw[0] == 't'
	}
	return f, nil
}

// FuzzParse ensures that Parse agrees with encoding/json on every input: it
// accepts exactly the bodies the reference accepts, with the same fields,
// rejects the others with ErrInvalid, and never panics.
func FuzzParse(f *testing.F) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(fixtures) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range fixtures {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"id":"evt_1","type":"t"}`,
		`{"\u0069d":"evt_\ud83d\ude00","type":"a\u0000","ID":"x"}`,
		`{"id":"evt_1","type":"t","created":"2024-09-17T06:20:52.246Z","object":"v2.core.event"}`,
		`{"id":"evt_1","type":"t","created":-9223372036854775808,"livemode":null,"account":null}`,
		`{"id":"evt_1","type":"t","id":"evt_2"}`,
		`{"id":"evt_1","type":"t","d":[1.5e+3,{"a":[true,false,null]},"\/"]}`,
		"{\"id\":\"\xff\",\"type\":\"t\"}",
		`[] `,
		`{"id":"evt_1","type":"t"} x`,
		// Fragments, for the positions inside an event that the fuzz
		// function also tries.
		`"evt_\u00e9\ud800"`,
		`9223372036854775807`,
		`"2024-09-17T08:20:52.246+02:00"`,
		`"account":"acct_1","api_version":null,"livemode":true`,
		`"\u0074ype":"u"`,
		`[{"id":"x"},[[]],-0.5E-2]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// Random bytes rarely form an acceptable event, so in is also tried
		// in each position of one.
		for _, body := range [][]byte{
			in,
			wrap(`{"id":"evt_1","type":"t","data":`, in, `}`),
			wrap(`{"id":"evt_1","type":"t",`, in, `}`),
			wrap(`{"id":`, in, `,"type":"t"}`),
			wrap(`{"id":"evt_1","type":"t","created":`, in, `}`),
		} {
			checkParse(t, body)
		}
	})
}

func wrap(prefix string, in []byte, suffix string) []byte {
	return append(append([]byte(prefix), in...), suffix...)
}

func checkParse(t *testing.T, body []byte) {
	t.Helper()
	got, err := envelope.Parse(body)
	want, wantErr := reference(body)
	switch {
	case err != nil && !errors.Is(err, envelope.ErrInvalid):
		t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", body, err)
	case err != nil && wantErr == nil:
		t.Fatalf("Parse(%q) rejects a body the reference accepts as %+v: %v", body, want, err)
	case err == nil && wantErr != nil:
		t.Fatalf("Parse(%q) accepts as %+v a body the reference rejects: %v", body, got, wantErr)
	case got != want:
		t.Fatalf("Parse(%q):\n got %+v\nwant %+v", body, got, want)
	}
}
