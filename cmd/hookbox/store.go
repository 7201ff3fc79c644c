package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/postgres"
	"github.com/hookbox/hookbox/sqlite"
)

// dbURL is a parsed --db value.
type dbURL struct {
	Driver string // "sqlite" or "postgres"
	Path   string // sqlite: the file
	DSN    string // postgres: the connection string as given
}

// String is safe to log: a PostgreSQL password is redacted, whether in
// the user info or in the query (?password=, ?sslpassword=, which libpq and
// pgx accept too).
func (u dbURL) String() string {
	if u.Driver == "sqlite" {
		return "sqlite:" + u.Path
	}
	p, err := url.Parse(u.DSN)
	if err != nil {
		return "postgres://(unparseable)"
	}
	if q := p.Query(); q.Has("password") || q.Has("sslpassword") {
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		p.RawQuery = q.Encode()
	}
	return p.Redacted()
}

// parseDB parses sqlite:PATH (also sqlite://PATH) and postgres://... (or
// postgresql://...). The value is never echoed in errors: a mistyped DSN
// may hold a password.
func parseDB(s string) (dbURL, error) {
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			return dbURL{}, errors.New("--db: the PostgreSQL URL does not parse (want postgres://user@host:5432/dbname)")
		}
		return dbURL{Driver: "postgres", DSN: s}, nil
	case strings.HasPrefix(s, "sqlite://"):
		s = strings.TrimPrefix(s, "sqlite://")
	case strings.HasPrefix(s, "sqlite:"):
		s = strings.TrimPrefix(s, "sqlite:")
	default:
		return dbURL{}, errors.New("--db: want sqlite:PATH (e.g. sqlite:hookbox.db) or postgres://user@host/dbname")
	}
	if s == "" {
		return dbURL{}, errors.New("--db: sqlite: needs a file path, e.g. sqlite:hookbox.db")
	}
	return dbURL{Driver: "sqlite", Path: s}, nil
}

// openStore opens the store (applying migrations). With mustExist, a
// missing SQLite file is an error instead of a new empty store: a typo in
// the path of a CLI command must not look like an empty store.
func openStore(ctx context.Context, u dbURL, mustExist bool) (hookbox.Store, error) {
	switch u.Driver {
	case "postgres":
		s, err := postgres.Open(ctx, u.DSN, postgres.Options{})
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", u, err)
		}
		return s, nil
	default:
		if mustExist {
			if _, err := os.Stat(u.Path); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("no database at %s (set --db or HOOKBOX_DB)", u.Path)
			}
		}
		s, err := sqlite.Open(u.Path)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	}
}
