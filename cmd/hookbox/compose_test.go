package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/stripesig"
)

// composeFile is the shipped compose file; deploy/ checks its shape.
const composeFile = "../../deploy/compose.yaml"

// composeSecretMount is where compose mounts a service's secrets.
const composeSecretMount = "/run/secrets/"

// TestDeploy_ComposeReplicas ensures serve runs on the environment
// deploy/compose.yaml gives each hookbox replica, the secrets it mounts
// standing in a directory of files and its database a fresh schema on the
// test server: both replicas start (the admin listener on every interface
// with the token), "hookbox healthcheck" passes on each from the
// replica's own HOOKBOX_ADMIN_LISTEN, as the container runs it, and they
// share one store: an event sent to one is a duplicate on the other.
func TestDeploy_ComposeReplicas(t *testing.T) {
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string
			Environment map[string]string
		}
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.SchemaDSN(t) // stands for the postgres service
	secrets := t.TempDir()     // stands for /run/secrets
	var publics []string
	for _, name := range []string{"hookbox-1", "hookbox-2"} {
		s, ok := c.Services[name]
		if !ok || s.Image != "hookbox" {
			t.Fatalf("no hookbox service %s in %s", name, composeFile)
		}
		vars := map[string]string{}
		for k, v := range s.Environment {
			switch {
			case k == "HOOKBOX_DB":
				v = dsn
			case k == "PGPASSFILE":
				// The test server trusts local connections: the file is
				// read, its password not needed.
				v = filepath.Join(secrets, strings.TrimPrefix(v, composeSecretMount))
				if err := os.WriteFile(v, []byte("*:*:*:*:unused\n"), 0o444); err != nil {
					t.Fatal(err)
				}
			case strings.HasSuffix(k, "_FILE"):
				v = filepath.Join(secrets, strings.TrimPrefix(v, composeSecretMount))
				if err := os.WriteFile(v, []byte(credentialValue(t, k)), 0o444); err != nil {
					t.Fatal(err)
				}
			case strings.HasSuffix(k, "LISTEN"):
				host, _, err := net.SplitHostPort(v)
				if err != nil {
					t.Fatalf("%s: %s=%q: %v", name, k, v, err)
				}
				v = net.JoinHostPort(host, "0")
			}
			vars[k] = v
		}
		if _, ok := vars["HOOKBOX_LISTEN"]; !ok {
			vars["HOOKBOX_LISTEN"] = "127.0.0.1:0" // the image's is 0.0.0.0:8080
		}
		m, _ := mustRunMain(t, vars)
		publics = append(publics, "http://"+m.PublicAddr()+"/webhooks/stripe")

		_, port, _ := net.SplitHostPort(m.AdminAddr())
		host, _, _ := net.SplitHostPort(vars["HOOKBOX_ADMIN_LISTEN"])
		env, out, errb := testEnv(map[string]string{"HOOKBOX_ADMIN_LISTEN": net.JoinHostPort(host, port)})
		if err := run(context.Background(), env, []string{"healthcheck"}); err != nil {
			t.Errorf("%s: hookbox healthcheck: %v\n%s%s", name, err, out, errb)
		}
	}

	body := e2eEvent("evt_compose_1", "invoice.paid")
	for i, want := range []string{`{"received":true}`, `{"received":true,"duplicate":true}`} {
		if status, resp := postEvent(t, publics[i], body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 || resp != want {
			t.Errorf("hookbox-%d: %d %s, want 200 %s", i+1, status, resp, want)
		}
	}
}
