// Package migration reads a store's embedded schema migrations: the
// listing, naming rule and validation that the SQLite and PostgreSQL stores
// share. Applying them stays in each store, since transactions, locking and
// the schema_migrations table differ by dialect.
package migration

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// File is one migration: a file named NNNN_description.sql, NNNN being its
// version.
type File struct {
	Version int    // positive, unique among the files
	Name    string // the file's base name, as schema_migrations records it
	SQL     string
}

// Load returns the migrations in dir of fsys (the files matching *.sql) in
// version order. It fails when a name does not start with a positive
// version and '_', when two files share a version, and when there are none.
func Load(fsys fs.FS, dir string) ([]File, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var ms []File
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and '_'", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, File{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].Name, ms[i].Name)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations embedded")
	}
	return ms, nil
}
