package main

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookbox/hookbox/stripesig"
)

// The shipped deployment files; deploy/ checks their shape, these tests
// run serve with the environment they give it.
const (
	systemdUnit        = "../../deploy/systemd/hookbox.service"
	systemdEnvFile     = "../../deploy/systemd/hookbox.env"
	kubernetesDeploy   = "../../deploy/kubernetes/deployment.yaml"
	deployAdminToken   = "admin-token-from-a-credential-0123456789"
	deployStripeAPIKey = "rk_test_from_a_credential"
)

// credentialValue is what each credential file holds in these tests, as an
// operator writes it: one value and a newline.
func credentialValue(t *testing.T, fileVar string) string {
	t.Helper()
	switch fileVar {
	case "STRIPE_WEBHOOK_SECRET_FILE":
		return testSecret1 + "\n"
	case "HOOKBOX_ADMIN_TOKEN_FILE":
		return deployAdminToken + "\n"
	case "HOOKBOX_FORWARD_SECRET_FILE":
		return forwardSecret + "\n"
	case "STRIPE_API_KEY_FILE":
		return deployStripeAPIKey + "\n"
	}
	t.Fatalf("no test value for %s", fileVar)
	return ""
}

// unitSetting matches a unit's Key=value line, also one offered commented
// out ("#Key=value").
var unitSetting = regexp.MustCompile(`^#?(Environment|LoadCredential)=(.*)$`)

// systemdEnv returns the environment hookbox.service gives serve, its
// optional settings uncommented, with its example environment file: each
// Environment= with %S (the state
// directory's parent) and %d (the credentials directory,
// $CREDENTIALS_DIRECTORY) expanded, and each LoadCredential= file written
// into credDir as systemd copies it there.
func systemdEnv(t *testing.T, stateRoot, credDir string) map[string]string {
	t.Helper()
	f, err := os.Open(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{"CREDENTIALS_DIRECTORY": credDir}
	creds := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := unitSetting.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		if m[1] == "LoadCredential" {
			name, _, _ := strings.Cut(m[2], ":")
			creds[name] = true
			continue
		}
		for _, w := range strings.Fields(m[2]) {
			k, v, _ := strings.Cut(w, "=")
			vars[k] = strings.NewReplacer("%S", stateRoot, "%d", credDir).Replace(v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// EnvironmentFile= settings win over Environment= ones.
	b, err := os.ReadFile(systemdEnvFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vars[k] = v
		}
	}
	for k, v := range vars {
		name, ok := strings.CutPrefix(v, credDir+"/")
		if !ok || !strings.HasSuffix(k, "_FILE") {
			continue
		}
		if !creds[name] {
			t.Fatalf("%s=%s: no LoadCredential=%s", k, v, name)
		}
		// systemd copies credentials read-only for the service's user.
		if err := os.WriteFile(filepath.Join(credDir, name), []byte(credentialValue(t, k)), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	return vars
}

// TestDeploy_SystemdCredentials ensures serve runs on the environment
// hookbox.service and its example environment file give it: the store lands in the state directory, and
// the secrets that LoadCredential= copies into $CREDENTIALS_DIRECTORY reach
// hookbox through the *_FILE variables: the webhook secret verifies
// Stripe's signature, the forward secret signs the delivery the app
// verifies, the admin token opens the API.
func TestDeploy_SystemdCredentials(t *testing.T) {
	stateRoot, credDir := t.TempDir(), t.TempDir()
	vars := systemdEnv(t, stateRoot, credDir)
	for _, k := range []string{"STRIPE_WEBHOOK_SECRET_FILE", "HOOKBOX_ADMIN_TOKEN_FILE", "HOOKBOX_FORWARD_SECRET_FILE"} {
		if vars[k] == "" {
			t.Fatalf("the unit offers no %s", k)
		}
	}
	// StateDirectory=hookbox: systemd creates %S/hookbox before the start.
	if err := os.Mkdir(filepath.Join(stateRoot, "hookbox"), 0o700); err != nil {
		t.Fatal(err)
	}
	a := newApp(t, 0)
	vars["HOOKBOX_LISTEN"], vars["HOOKBOX_ADMIN_LISTEN"] = "127.0.0.1:0", "127.0.0.1:0"
	vars["HOOKBOX_FORWARD_TO"] = a.srv.URL
	m, logs := mustRunMain(t, vars)

	if _, err := os.Stat(filepath.Join(stateRoot, "hookbox", "hookbox.db")); err != nil {
		t.Fatalf("store not in the state directory: %v", err)
	}
	body := e2eEvent("evt_systemd_1", "invoice.paid")
	if status, resp := postEvent(t, "http://"+m.PublicAddr()+"/webhooks/stripe", body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 {
		t.Fatalf("webhook signed with the credential's secret: %d %s", status, resp)
	}
	waitFor(t, "the forward", 10*time.Second, func() bool { _, d := a.counts("evt_systemd_1"); return d == 1 })
	a.check(t)
	for token, want := range map[string]int{deployAdminToken: 200, "": 401} {
		if got := adminGet(t, "http://"+m.AdminAddr()+"/api/events", "", token); got != want {
			t.Errorf("/api/events with token %q: %d, want %d", token, got, want)
		}
	}
	for _, s := range []string{testSecret1, forwardSecret, deployAdminToken} {
		if strings.Contains(logs.String(), s) {
			t.Fatal("a credential in the logs")
		}
	}
}

// adminGet GETs url naming host (when set) with token (when set) and
// returns the status.
func adminGet(t *testing.T, url, host, token string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDeploy_KubernetesProbes ensures the Deployment's environment starts
// serve with its admin listener on every interface and the token from the
// mounted Secret, and that the kubelet's probes pass there: /readyz and
// /healthz answer 200 to a request naming the pod IP, without a token,
// while the API on the same listener still wants the token.
func TestDeploy_KubernetesProbes(t *testing.T) {
	b, err := os.ReadFile(kubernetesDeploy)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct {
							Name      string    `yaml:"name"`
							Value     string    `yaml:"value"`
							ValueFrom yaml.Node `yaml:"valueFrom"`
						} `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	secrets := t.TempDir() // stands for the Secret volume
	vars := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		v := e.Value
		switch {
		case e.Name == "HOOKBOX_DB":
			// The PostgreSQL DSN of the Secret; the probes do not depend
			// on the store's kind.
			v = "sqlite:" + filepath.Join(t.TempDir(), "hookbox.db")
		case strings.HasSuffix(e.Name, "_FILE"):
			v = filepath.Join(secrets, filepath.Base(e.Value))
			if err := os.WriteFile(v, []byte(credentialValue(t, e.Name)), 0o440); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(e.Name, "LISTEN"):
			host, _, err := net.SplitHostPort(v)
			if err != nil {
				t.Fatalf("%s=%q: %v", e.Name, v, err)
			}
			v = net.JoinHostPort(host, "0") // every interface, as in the pod
		}
		vars[e.Name] = v
	}
	m, _ := mustRunMain(t, vars)
	_, port, _ := net.SplitHostPort(m.AdminAddr())
	admin := "http://127.0.0.1:" + port
	podIP := net.JoinHostPort("10.244.1.7", port) // the Host the kubelet sends
	for path, want := range map[string]int{"/readyz": 200, "/healthz": 200, "/api/events": 401} {
		if got := adminGet(t, admin+path, podIP, ""); got != want {
			t.Errorf("GET %s, Host %s, no token: %d, want %d", path, podIP, got, want)
		}
	}
	if got := adminGet(t, admin+"/api/events", podIP, deployAdminToken); got != 200 {
		t.Errorf("GET /api/events, Host %s, the Secret's token: %d, want 200", podIP, got)
	}
}
