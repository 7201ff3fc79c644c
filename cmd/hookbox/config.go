package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// envFlags binds flags to HOOKBOX_* environment variables: a variable that
// is set becomes the flag's default, so an explicit flag still wins. Bad
// values in the environment are reported like bad flags.
type envFlags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

func (e *envFlags) lookup(env string) (string, bool) {
	if env == "" {
		return "", false
	}
	v := e.getenv(env)
	return v, v != ""
}

func (e *envFlags) str(name, env, def, usage string) *string {
	if v, ok := e.lookup(env); ok {
		def = v
	}
	return e.fs.String(name, def, withEnv(usage, env))
}

func (e *envFlags) boolean(name, env string, def bool, usage string) *bool {
	if v, ok := e.lookup(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a boolean", env, v))
		} else {
			def = b
		}
	}
	return e.fs.Bool(name, def, withEnv(usage, env))
}

func (e *envFlags) integer(name, env string, def int, usage string) *int {
	if v, ok := e.lookup(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	return e.fs.Int(name, def, withEnv(usage, env))
}

func (e *envFlags) duration(name, env string, def time.Duration, usage string) *time.Duration {
	if v, ok := e.lookup(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a duration (e.g. 300s, 5m)", env, v))
		} else {
			def = d
		}
	}
	return e.fs.Duration(name, def, withEnv(usage, env))
}

func (e *envFlags) size(name, env string, def int64, usage string) *byteSize {
	s := byteSize(def)
	if v, ok := e.lookup(env); ok {
		if err := s.Set(v); err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: %v", env, v, err))
		}
	}
	e.fs.Var(&s, name, withEnv(usage, env))
	return &s
}

func (e *envFlags) parse(args []string) error {
	if err := e.fs.Parse(args); err != nil {
		return err
	}
	return errors.Join(e.errs...)
}

func withEnv(usage, env string) string {
	if env == "" {
		return usage
	}
	return usage + " (env " + env + ")"
}

// byteSize is a flag value accepting 1048576, 1MiB, 512KiB, 1MB, 64KB.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("not a positive size (e.g. 1048576, 1MiB, 512KiB)")
	}
	*b = byteSize(n * mult)
	return nil
}

// readSecrets returns the secrets named by NAME (comma-separated, for
// rotation) or NAME_FILE (a file holding the same). Values are never
// included in errors.
func readSecrets(getenv func(string) string, name string) ([]string, error) {
	val, file := getenv(name), getenv(name+"_FILE")
	if val != "" && file != "" {
		return nil, fmt.Errorf("both %s and %s_FILE are set: use one", name, name)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			// The *PathError names the path and the cause, never
			// the file's content.
			return nil, fmt.Errorf("read %s_FILE: %w", name, err)
		}
		val = string(b)
	}
	if strings.TrimSpace(val) == "" {
		return nil, nil
	}
	var out []string
	for _, s := range strings.FieldsFunc(val, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// longDuration is a flag value accepting Go durations plus a "d" (24 h)
// unit, e.g. 30d, 72h, 1d12h.
type longDuration time.Duration

func (d *longDuration) String() string { return formatLong(time.Duration(*d)) }

func (d *longDuration) Set(s string) error {
	v, err := parseLongDuration(s)
	if err != nil {
		return err
	}
	*d = longDuration(v)
	return nil
}

// parseLongDuration parses a duration that may use whole days ("30d",
// "1d12h").
func parseLongDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %q: want e.g. 30d, 72h, 15m", s)
		}
		days, s = n, s[i+1:]
		if s == "" {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 30d, 72h, 15m", s)
	}
	return time.Duration(days)*24*time.Hour + v, nil
}

func formatLong(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (e *envFlags) longDur(name, env string, def time.Duration, usage string) *longDuration {
	d := longDuration(def)
	if v, ok := e.lookup(env); ok {
		if err := d.Set(v); err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: %v", env, err))
		}
	}
	e.fs.Var(&d, name, withEnv(usage, env))
	return &d
}
