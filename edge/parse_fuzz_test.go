package edge

import "testing"

// FuzzParseList ensures an allowlist source never panics the parser, and
// that what it accepts is a non-empty list of valid prefixes, none of
// which covers every address.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		`{"WEBHOOKS": ["3.18.12.63", "3.130.192.231"]}`,
		"3.18.12.63\n# comment\n\n2001:db8::/32\r\n",
		`{"WEBHOOKS": []}`,
		`{"WEBHOOKS": [1]}`,
		"0.0.0.0/0",
		"::ffff:10.0.0.0/104",
		"<html>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := parseList(data)
		if err != nil {
			return
		}
		if len(list) == 0 || len(list) > MaxAllowlistEntries {
			t.Fatalf("accepted %d entries", len(list))
		}
		for _, p := range list {
			if !p.IsValid() || p.Bits() == 0 || p != p.Masked() || p.Addr().Is4In6() {
				t.Fatalf("accepted %v", p)
			}
		}
	})
}
