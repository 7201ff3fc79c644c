package main

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookbox/hookbox/receiver"
)

// composePath is the shipped compose file.
const composePath = "../../deploy/compose.yaml"

// composeFile is what the test reads of a compose file.
type composeFile struct {
	Services map[string]composeService
	Secrets  map[string]struct{ File string }
}

type composeService struct {
	Image           string
	PullPolicy      string `yaml:"pull_policy"`
	Environment     map[string]string
	Secrets         []string
	Ports           []string
	StopGracePeriod string                                `yaml:"stop_grace_period"`
	DependsOn       map[string]struct{ Condition string } `yaml:"depends_on"`
	Healthcheck     struct{ Test []string }
}

// secretMount is where compose mounts a service's secrets.
const secretMount = "/run/secrets/"

// TestCompose ensures deploy/compose.yaml runs two hookbox replicas on one
// PostgreSQL service, waits for it, health-checks them with "hookbox
// healthcheck", hands them every secret as a file, publishes distinct host
// ports on loopback, and gives each an environment serve accepts.
func TestCompose(t *testing.T) {
	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	var replicas []string
	for name, s := range c.Services {
		if s.Image == "hookbox" {
			replicas = append(replicas, name)
		}
	}
	slices.Sort(replicas)
	if len(replicas) != 2 {
		t.Fatalf("hookbox services %q, want 2 replicas", replicas)
	}

	db := c.Services[replicas[0]].Environment["HOOKBOX_DB"]
	checkComposeDB(t, c, db)
	hostPorts := map[string]string{}
	for _, name := range replicas {
		s := c.Services[name]
		if got := s.Environment["HOOKBOX_DB"]; got != db {
			t.Errorf("%s: HOOKBOX_DB %q, want the same database as %s (%q)", name, got, replicas[0], db)
		}
		if !slices.Equal(s.Healthcheck.Test, []string{"CMD", "/hookbox", "healthcheck"}) {
			t.Errorf("%s: healthcheck %q, want [CMD /hookbox healthcheck] (the image has no shell)", name, s.Healthcheck.Test)
		}
		if s.PullPolicy != "never" {
			t.Errorf("%s: pull_policy %q, want never (the image is built locally)", name, s.PullPolicy)
		}
		if s.DependsOn["postgres"].Condition != "service_healthy" {
			t.Errorf("%s: depends_on %v, want postgres: service_healthy", name, s.DependsOn)
		}
		if d, err := time.ParseDuration(s.StopGracePeriod); err != nil || d <= receiver.DefaultShutdownGrace {
			t.Errorf("%s: stop_grace_period %q, want more than serve's shutdown grace (%v)", name, s.StopGracePeriod, receiver.DefaultShutdownGrace)
		}
		for _, p := range s.Ports {
			host, _, _ := strings.Cut(p, ":") // "127.0.0.1:8080:8080"
			if host != "127.0.0.1" {
				t.Errorf("%s: port %q published off the host's loopback", name, p)
			}
			if other, ok := hostPorts[p[:strings.LastIndex(p, ":")]]; ok {
				t.Errorf("%s: host port of %q taken by %s too", name, p, other)
			}
			hostPorts[p[:strings.LastIndex(p, ":")]] = name
		}
		checkComposeSecrets(t, c, name)
		checkComposeServe(t, s)
	}
	for _, name := range replicas {
		if !slices.ContainsFunc(c.Services[name].Ports, func(p string) bool { return strings.HasSuffix(p, ":8080") }) {
			t.Errorf("%s: the webhook port 8080 is not published", name)
		}
	}
}

// checkComposeDB ensures db names the compose file's PostgreSQL service,
// its user and database, and holds no password.
func checkComposeDB(t *testing.T, c composeFile, db string) {
	t.Helper()
	u, err := url.Parse(db)
	if err != nil || u.Scheme != "postgres" {
		t.Fatalf("HOOKBOX_DB %q: want a postgres:// URL (%v)", db, err)
	}
	if _, ok := u.User.Password(); ok {
		t.Errorf("HOOKBOX_DB holds a password: give it as a file (PGPASSFILE)")
	}
	pg, ok := c.Services[u.Hostname()]
	if !ok || !strings.Contains(pg.Image, "postgres") {
		t.Fatalf("HOOKBOX_DB host %q is not a postgres service of the compose file", u.Hostname())
	}
	if u.User.Username() != pg.Environment["POSTGRES_USER"] || strings.TrimPrefix(u.Path, "/") != pg.Environment["POSTGRES_DB"] {
		t.Errorf("HOOKBOX_DB %q: user or database differs from the postgres service's %v", db, pg.Environment)
	}
	if pg.Environment["POSTGRES_PASSWORD"] != "" || !strings.HasPrefix(pg.Environment["POSTGRES_PASSWORD_FILE"], secretMount) {
		t.Errorf("postgres: the password must come from a secret file (POSTGRES_PASSWORD_FILE)")
	}
	checkComposeSecrets(t, c, u.Hostname())
}

// secretName matches an environment variable that would hold a secret
// inline.
var secretName = regexp.MustCompile(`(SECRET|TOKEN|PASSWORD|KEY)$`)

// checkComposeSecrets ensures service gets secrets only as files, each one
// of the compose file's secrets, read from a file beside it.
func checkComposeSecrets(t *testing.T, c composeFile, service string) {
	t.Helper()
	s := c.Services[service]
	for k, v := range s.Environment {
		if secretName.MatchString(k) {
			t.Errorf("%s: %s holds a secret inline; use %s_FILE", service, k, k)
		}
		if !strings.HasSuffix(k, "_FILE") && k != "PGPASSFILE" {
			continue
		}
		name, ok := strings.CutPrefix(v, secretMount)
		if !ok || !slices.Contains(s.Secrets, name) {
			t.Errorf("%s: %s=%q is not one of the service's secrets %q", service, k, v, s.Secrets)
		}
	}
	for _, name := range s.Secrets {
		f := c.Secrets[name].File
		if !strings.HasPrefix(f, "./secrets/") {
			t.Errorf("%s: secret %q: file %q, want one under ./secrets/", service, name, f)
		}
	}
}

// checkComposeServe ensures serve accepts the service's environment, its
// secret files standing in temp files, and that healthcheck then asks
// /readyz on loopback.
func checkComposeServe(t *testing.T, s composeService) {
	t.Helper()
	dir := t.TempDir()
	content := map[string]string{
		"stripe_webhook_secret": "whsec_" + strings.Repeat("a", 32),
		"admin_token":           strings.Repeat("t", 24),
		"pgpass":                "postgres:5432:hookbox:hookbox:" + strings.Repeat("p", 24),
	}
	for _, name := range s.Secrets {
		v, ok := content[name]
		if !ok {
			t.Fatalf("secret %q: the test has no stand-in for it", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{}
	for k, v := range s.Environment {
		vars[k] = strings.Replace(v, secretMount, dir+"/", 1)
	}
	env, _, _ := testEnv(vars)
	if _, err := parseServeConfig(env, nil); err != nil {
		t.Errorf("serve refuses the environment: %v", err)
	}
	if u, err := readyzURL(vars["HOOKBOX_ADMIN_LISTEN"]); err != nil || !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Errorf("healthcheck asks %q (%v), want loopback", u, err)
	}
}
