package deploy_test

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookbox/hookbox/receiver"
)

const composePath = "compose.yaml"

// composeFile is what the tests read of a compose file.
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

// mustCompose parses compose.yaml (its YAML merge keys applied) and returns
// it with the names of its hookbox services, sorted.
func mustCompose(tb testing.TB) (composeFile, []string) {
	tb.Helper()
	b, err := os.ReadFile(composePath)
	if err != nil {
		tb.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		tb.Fatalf("%s: %v", composePath, err)
	}
	var replicas []string
	for name, s := range c.Services {
		if s.Image == "hookbox" {
			replicas = append(replicas, name)
		}
	}
	slices.Sort(replicas)
	return c, replicas
}

// TestCompose_Replicas ensures compose.yaml runs two hookbox replicas on
// the same database, the compose file's PostgreSQL service (its user and
// database, no password in the URL), started once PostgreSQL is healthy,
// from the locally built image.
func TestCompose_Replicas(t *testing.T) {
	c, replicas := mustCompose(t)
	if len(replicas) != 2 {
		t.Fatalf("hookbox services %q, want 2 replicas", replicas)
	}
	db := c.Services[replicas[0]].Environment["HOOKBOX_DB"]
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
	for _, name := range replicas {
		s := c.Services[name]
		if got := s.Environment["HOOKBOX_DB"]; got != db {
			t.Errorf("%s: HOOKBOX_DB %q, want the same database as %s (%q)", name, got, replicas[0], db)
		}
		if s.DependsOn[u.Hostname()].Condition != "service_healthy" {
			t.Errorf("%s: depends_on %v, want %s: service_healthy", name, s.DependsOn, u.Hostname())
		}
		if s.PullPolicy != "never" {
			t.Errorf("%s: pull_policy %q, want never (the image is built locally, never pulled)", name, s.PullPolicy)
		}
		if d, err := time.ParseDuration(s.StopGracePeriod); err != nil || d <= receiver.DefaultShutdownGrace {
			t.Errorf("%s: stop_grace_period %q, want more than serve's shutdown grace (%v)", name, s.StopGracePeriod, receiver.DefaultShutdownGrace)
		}
	}
}

// TestCompose_Healthchecks ensures every hookbox service is health-checked
// by "hookbox healthcheck" in exec form (the image has no shell).
func TestCompose_Healthchecks(t *testing.T) {
	c, replicas := mustCompose(t)
	for _, name := range replicas {
		if got := c.Services[name].Healthcheck.Test; !slices.Equal(got, []string{"CMD", "/hookbox", "healthcheck"}) {
			t.Errorf("%s: healthcheck %q, want [CMD /hookbox healthcheck]", name, got)
		}
	}
}

// TestCompose_Ports ensures each replica publishes the webhook port, every
// port on the host's loopback (an HTTPS proxy goes in front; the admin
// port wants no wider audience), and no host port twice.
func TestCompose_Ports(t *testing.T) {
	c, replicas := mustCompose(t)
	taken := map[string]string{}
	for _, name := range replicas {
		webhooks := false
		for _, p := range c.Services[name].Ports {
			i := strings.LastIndex(p, ":")
			if i < 0 {
				t.Errorf("%s: port %q published on a random host port", name, p)
				continue
			}
			host, container := p[:i], p[i+1:] // "127.0.0.1:8080", "8080"
			if !strings.HasPrefix(host, "127.0.0.1:") {
				t.Errorf("%s: port %q published off the host's loopback", name, p)
			}
			if other, ok := taken[host]; ok {
				t.Errorf("%s: host port %s taken by %s too", name, host, other)
			}
			taken[host] = name
			webhooks = webhooks || container == "8080"
		}
		if !webhooks {
			t.Errorf("%s: the webhook port 8080 is not published", name)
		}
	}
}

// inlineSecret matches a variable that would hold a secret inline.
var inlineSecret = regexp.MustCompile(`(SECRET|TOKEN|PASSWORD|KEY)$`)

// TestCompose_SecretsAsFiles ensures every service gets its secrets as
// files only: no secret in a variable, each *_FILE (and PGPASSFILE) one of
// the service's compose secrets, each read from a file under ./secrets/.
func TestCompose_SecretsAsFiles(t *testing.T) {
	c, _ := mustCompose(t)
	for name, s := range c.Services {
		for k, v := range s.Environment {
			if inlineSecret.MatchString(k) || contains(secretVars, k) {
				t.Errorf("%s: %s holds a secret inline; use %s_FILE", name, k, k)
			}
			if !strings.HasSuffix(k, "_FILE") && k != "PGPASSFILE" {
				continue
			}
			if secret, ok := strings.CutPrefix(v, secretMount); !ok || !slices.Contains(s.Secrets, secret) {
				t.Errorf("%s: %s=%q is not one of the service's secrets %q", name, k, v, s.Secrets)
			}
		}
		for _, secret := range s.Secrets {
			if f := c.Secrets[secret].File; !strings.HasPrefix(f, "./secrets/") {
				t.Errorf("%s: secret %q: file %q, want one under ./secrets/", name, secret, f)
			}
		}
	}
}
