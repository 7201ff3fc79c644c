package migration_test

import (
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/hookbox/hookbox/internal/migration"
)

// Ensures Load returns the .sql files of the directory in version order
// (not name order), and refuses badly named files, shared versions and an
// empty directory.
func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []migration.File
		err   string
	}{
		{
			name: "OK",
			files: map[string]string{
				"m/0002_queue.sql":  "CREATE TABLE q ();",
				"m/10_late.sql":     "SELECT 10;",
				"m/0001_events.sql": "CREATE TABLE e ();",
				"m/README":          "not a migration",
				"other/0003_x.sql":  "not in dir",
			},
			want: []migration.File{
				{Version: 1, Name: "0001_events.sql", SQL: "CREATE TABLE e ();"},
				{Version: 2, Name: "0002_queue.sql", SQL: "CREATE TABLE q ();"},
				{Version: 10, Name: "10_late.sql", SQL: "SELECT 10;"},
			},
		},
		{
			name:  "ErrNoUnderscore",
			files: map[string]string{"m/0001events.sql": ""},
			err:   "migration 0001events.sql: name must start with a positive version and '_'",
		},
		{
			name:  "ErrNotANumber",
			files: map[string]string{"m/first_events.sql": ""},
			err:   "migration first_events.sql: name must start with a positive version and '_'",
		},
		{
			name:  "ErrZero",
			files: map[string]string{"m/0000_events.sql": ""},
			err:   "migration 0000_events.sql: name must start with a positive version and '_'",
		},
		{
			name:  "ErrNegative",
			files: map[string]string{"m/-1_events.sql": ""},
			err:   "migration -1_events.sql: name must start with a positive version and '_'",
		},
		{
			name:  "ErrSharedVersion",
			files: map[string]string{"m/0001_a.sql": "", "m/1_b.sql": ""},
			err:   "migrations 0001_a.sql and 1_b.sql share a version",
		},
		{
			name:  "ErrEmpty",
			files: map[string]string{"m/README": ""},
			err:   "no migrations embedded",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, data := range tc.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			got, err := migration.Load(fsys, "m")
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("Load: %v, %+v; want error %q", err, got, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Load:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
