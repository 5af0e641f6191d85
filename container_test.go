package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// containerEnv reads the VIGIL_* settings of the Dockerfile (ENV NAME=value)
// or the compose example (NAME: value), without comments and quotes.
func containerEnv(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)(?:^|\s)(VIGIL_[A-Z0-9_]+)(?:=|:[ \t]*)("[^"]*"|[^\s#\\]*)`)
	env := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(withoutComments(string(b)), -1) {
		env[m[1]] = strings.Trim(m[2], `"`)
	}
	if len(env) == 0 {
		t.Fatalf("%s sets no VIGIL_* variable", file)
	}
	return env
}

// withoutComments drops the lines of a Dockerfile or YAML file that are
// comments.
func withoutComments(s string) string {
	var keep []string
	for line := range strings.Lines(s) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

// TestContainerEnvIsServeConfig checks what no container engine here can:
// every VIGIL_* variable that the Dockerfile and the compose example set is
// a flag of vigil serve (or a secret it reads), and together they make a
// valid serve configuration. A misspelt name would otherwise be ignored.
func TestContainerEnvIsServeConfig(t *testing.T) {
	for _, file := range []string{"Dockerfile", "deploy/compose.yaml", "deploy/compose-cluster.yaml"} {
		t.Run(file, func(t *testing.T) {
			env := containerEnv(t, file)
			for name, value := range env {
				if name == "VIGIL_ADMIN_PASSWORD_FILE" || name == "VIGIL_ADMIN_PASSWORD" {
					continue
				}
				flagName := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "VIGIL_")), "_", "-")
				if _, err := parseServeConfig([]string{"--" + flagName + "=" + value}); err != nil &&
					strings.Contains(err.Error(), "not defined") {
					t.Errorf("%s sets %s, which is no flag of vigil serve: %v", file, name, err)
				}
			}
			for name, value := range env {
				if name != "VIGIL_ADMIN_PASSWORD_FILE" {
					t.Setenv(name, value)
				}
			}
			cfg, err := parseServeConfig(nil)
			if err != nil {
				t.Fatalf("the environment of %s is not a valid serve configuration: %v", file, err)
			}
			if cfg.DataDir != "/data" || !strings.HasPrefix(cfg.HTTPAddr, "0.0.0.0:") {
				t.Errorf("%s: data %q, http %q: the container must keep data in /data and listen on all interfaces", file, cfg.DataDir, cfg.HTTPAddr)
			}
			if cluster := strings.Contains(file, "cluster"); cluster != strings.HasPrefix(cfg.Database, "postgres://") {
				t.Errorf("%s: database %q: the cluster's nodes share PostgreSQL, the others keep SQLite in /data", file, cfg.Database)
			}
		})
	}
}

// TestDockerfileBuildsWithMakeRelease keeps the image's build identical to
// what CI tests: the build stage runs make release and the image checks
// its health with vigil healthcheck.
func TestDockerfileBuildsWithMakeRelease(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := withoutComments(string(b))
	for _, want := range []string{"RUN make release", "USER 65532", "VOLUME /data", `CMD ["/usr/local/bin/vigil", "healthcheck"]`, "EXPOSE 8080/tcp 5514/tcp 5514/udp 6514/tcp"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Contains(df, "go build") {
		t.Error("Dockerfile runs go build itself; it must build only through make release")
	}
}

func TestHealthcheck(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{":8080", "http://127.0.0.1:8080/healthz"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080/healthz"},
		{"[::]:8080", "http://[::1]:8080/healthz"},
		{"10.1.2.3:80", "http://10.1.2.3:80/healthz"},
	} {
		if got, err := healthzURL(tc.addr); err != nil || got != tc.want {
			t.Errorf("healthzURL(%q) = %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	addrs, stop := serveArgs(t, "--data", dir, "--http", "127.0.0.1:0", "--syslog-udp", "", "--syslog-tcp", "")
	t.Run("Up", func(t *testing.T) {
		code, out, errOut := vigil(t, "", "healthcheck", "--http", addrs["http"])
		if code != 0 || !strings.Contains(out, `"status":"ok"`) {
			t.Fatalf("healthcheck of a running serve: %d %q %q", code, out, errOut)
		}
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Run("Down", func(t *testing.T) {
		code, _, errOut := vigil(t, "", "healthcheck", "--http", addrs["http"], "--timeout", "2s")
		if code != 1 || !strings.Contains(errOut, "unhealthy") {
			t.Fatalf("healthcheck of a stopped serve: %d %q", code, errOut)
		}
	})
	t.Run("BadAddress", func(t *testing.T) {
		if code, _, errOut := vigil(t, "", "healthcheck", "--http", "localhost"); code != 2 {
			t.Fatalf("healthcheck --http localhost: %d %q", code, errOut)
		}
	})
}
