package main

import (
	"strings"
	"testing"
)

// TestDBURL_Redacted ensures the form of --db that is logged (at start, in
// open errors) hides a PostgreSQL password wherever the URL carries it:
// the user info or the ?password= / ?sslpassword= query parameters.
func TestDBURL_Redacted(t *testing.T) {
	for _, dsn := range []string{
		"postgres://hookbox:S3cretPW@db.internal:5432/hookbox",
		"postgres://db.internal/hookbox?user=hookbox&password=S3cretPW&sslmode=require",
		"postgresql://db.internal/hookbox?sslpassword=S3cretPW&sslkey=/etc/key.pem",
	} {
		u, err := parseDB(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if s := u.String(); strings.Contains(s, "S3cretPW") || !strings.Contains(s, "db.internal") {
			t.Errorf("%s logged as %s", dsn, s)
		}
	}
}
