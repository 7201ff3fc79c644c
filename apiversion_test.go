package hookbox_test

import (
	"testing"

	"github.com/hookbox/hookbox"
)

// TestParseAPIVersion ensures exact versions and bare trains parse, and
// that versions without a train, a bare preview and garbage are refused
// with EINVALID.
func TestParseAPIVersion(t *testing.T) {
	ok := map[string]hookbox.APIVersion{
		"":                    "",
		" 2026-07-29.dahlia ": "2026-07-29.dahlia",
		"dahlia":              "dahlia",
		"2025-01-01.preview":  "2025-01-01.preview",
		"2024-09-30.acacia":   "2024-09-30.acacia",
	}
	for in, want := range ok {
		got, err := hookbox.ParseAPIVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseAPIVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"2023-10-16", "preview", "Dahlia", "2026-7-29.dahlia", "2026-07-29.", ".dahlia", "dahlia basil", "2026-07-29.dahlia.x"} {
		if _, err := hookbox.ParseAPIVersion(in); hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Errorf("ParseAPIVersion(%q): err %v, want EINVALID", in, err)
		}
	}
}

// TestAPIVersion_Compatible ensures compatibility by release train, exact
// match for previews, and nothing for versions without a train.
func TestAPIVersion_Compatible(t *testing.T) {
	tests := []struct {
		v     hookbox.APIVersion
		other string
		want  bool
	}{
		{"", "2022-11-15", true},
		{"dahlia", "2026-07-29.dahlia", true},
		{"dahlia", "2026-08-26.dahlia", true},
		{"dahlia", "2026-03-25.clover", false},
		{"2026-07-29.dahlia", "2026-08-26.dahlia", true},
		{"2026-07-29.dahlia", "2026-03-25.clover", false},
		{"dahlia", "2022-11-15", false},
		{"dahlia", "", false},
		{"2025-01-01.preview", "2025-01-01.preview", true},
		{"2025-01-01.preview", "2025-02-01.preview", false},
	}
	for _, tt := range tests {
		if got := tt.v.Compatible(tt.other); got != tt.want {
			t.Errorf("%q.Compatible(%q) = %v, want %v", tt.v, tt.other, got, tt.want)
		}
	}
	if hookbox.APIVersion("2026-07-29.dahlia").Train() != "dahlia" || hookbox.APIVersion("dahlia").Train() != "dahlia" {
		t.Error("Train")
	}
}
