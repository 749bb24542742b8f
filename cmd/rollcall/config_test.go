package main

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/server"
)

// readmeConfig returns the YAML example of the README (the block after
// "The same settings in YAML").
func readmeConfig(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i := strings.Index(s, "The same settings in YAML")
	if i < 0 {
		t.Fatal("README: no YAML example")
	}
	s = s[i:]
	start := strings.Index(s, "```yaml\n")
	end := strings.Index(s[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("README: the YAML example is not a ```yaml block")
	}
	return s[start+8 : start+8+end]
}

// yamlKeys lists the YAML keys of a config struct type, nested ones as
// parent.key.
func yamlKeys(typ reflect.Type, prefix string) []string {
	var keys []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("yaml")
		name := strings.Split(tag, ",")[0]
		if strings.HasSuffix(tag, ",inline") {
			keys = append(keys, yamlKeys(f.Type, prefix)...)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		keys = append(keys, prefix+name)
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == "" {
			keys = append(keys, yamlKeys(f.Type, prefix+name+".")...)
		}
	}
	return keys
}

// TestREADMEConfig: the README's YAML example names every key rollcall
// reads, in its section, with the defaults; it loads as copied, and the
// binary runs with it.
func TestREADMEConfig(t *testing.T) {
	example := readmeConfig(t)
	lines := strings.Split(example, "\n")
	section := ""
	seen := map[string]bool{}
	keyRe := regexp.MustCompile(`^(\s*)([a-z_0-9]+):`)
	for _, l := range lines {
		m := keyRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if m[1] == "" {
			section = m[2]
			seen[m[2]] = true
		} else {
			seen[section+"."+m[2]] = true
		}
	}
	for _, k := range yamlKeys(reflect.TypeFor[config](), "") {
		if !seen[k] {
			t.Errorf("the README's YAML example lacks %s", k)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "rollcall.yaml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"--config", path}, io.Discard)
	if err != nil {
		t.Fatalf("the README's example: %v", err)
	}
	if !reflect.DeepEqual(cfg, withoutNil(defaultConfig(), cfg)) {
		t.Errorf("the README's example is not the defaults:\n got %+v\nwant %+v", cfg, defaultConfig())
	}
	_, addr, logs := startBinary(t, nil, "serve", "--config", path, "--addr", "127.0.0.1:0")
	go func() {
		for logs.Scan() {
		}
	}()
	if addr == "" {
		t.Fatal("no address")
	}
}

// withoutNil makes want's nil slices empty where got has empty ones (YAML's
// [] is an empty slice, the default nil).
func withoutNil(want, got config) config {
	if want.AllowedOrigins == nil && got.AllowedOrigins != nil && len(got.AllowedOrigins) == 0 {
		want.AllowedOrigins = []string{}
	}
	if want.PublicOrigins == nil && got.PublicOrigins != nil && len(got.PublicOrigins) == 0 {
		want.PublicOrigins = []string{}
	}
	if want.Pusher.Apps == nil && got.Pusher.Apps != nil && len(got.Pusher.Apps) == 0 {
		want.Pusher.Apps = []pusherApp{}
	}
	if want.Pusher.SgcChannels == nil && got.Pusher.SgcChannels != nil && len(got.Pusher.SgcChannels) == 0 {
		want.Pusher.SgcChannels = []string{}
	}
	if want.Cluster.ClusterPeers == nil && got.Cluster.ClusterPeers != nil && len(got.Cluster.ClusterPeers) == 0 {
		want.Cluster.ClusterPeers = []string{}
	}
	if want.Cluster.NATS == nil && got.Cluster.NATS != nil && len(got.Cluster.NATS) == 0 {
		want.Cluster.NATS = []string{}
	}
	return want
}

// TestConfigRelativePaths: relative paths in the config file are taken from
// its folder, whatever the working directory; absolute ones and paths given
// as flags are left alone.
func TestConfigRelativePaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users.txt"), []byte("alice:"+testHash(t, "pw")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rollcall.yaml")
	yaml := "auth:\n  mode: basic\n  users_file: users.txt\n  jwt_public_key: keys/jwt.pem\ntls_cert: /etc/rollcall/cert.pem\ntls_key: tls/key.pem\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // elsewhere
	cfg, err := loadConfig([]string{"--config", path}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.UsersFile != filepath.Join(dir, "users.txt") || cfg.Auth.JWTPublicKey != filepath.Join(dir, "keys/jwt.pem") ||
		cfg.TLSCert != "/etc/rollcall/cert.pem" || cfg.TLSKey != filepath.Join(dir, "tls/key.pem") {
		t.Fatalf("paths %q %q %q %q", cfg.Auth.UsersFile, cfg.Auth.JWTPublicKey, cfg.TLSCert, cfg.TLSKey)
	}
	if _, err := cfg.authOptions(); err != nil {
		t.Fatalf("the users file next to the config: %v", err)
	}
	cfg, err = loadConfig([]string{"--config", path, "--users", "mine.txt"}, io.Discard)
	if err != nil || cfg.Auth.UsersFile != "mine.txt" {
		t.Fatalf("a flag's path is the working directory's: %q %v", cfg.Auth.UsersFile, err)
	}
}

// TestServeRefusesMeaninglessValues: zero and negative values that would
// silently mean "the default" are refused with the setting's name, from
// flags and from the config file; a duration without a unit says what to
// write; the zeros that mean something are accepted.
func TestServeRefusesMeaninglessValues(t *testing.T) {
	dir := t.TempDir()
	file := func(name, yaml string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "-1"}, "--rate (limits.messages_per_second) must be 0 (no limit) or positive, got -1"},
		{[]string{"--burst", "0"}, "--burst (limits.burst) must be at least 1, got 0"},
		{[]string{"--queue", "0"}, "--queue (limits.queue_length) must be at least 1 (frames), got 0"},
		{[]string{"--max-message-size", "0"}, "--max-message-size (limits.max_message_size) must be at least 1 (bytes)"},
		{[]string{"--max-channels", "-3"}, "--max-channels (limits.max_channels_per_conn) must be at least 1, got -3"},
		{[]string{"--max-channel-members", "-1"}, "--max-channel-members (limits.max_members_per_channel) must be at least 0 (0 = no limit)"},
		{[]string{"--max-channel-name", "0"}, "--max-channel-name (limits.max_channel_name) must be at least 1"},
		{[]string{"--ack-retries", "0"}, "--ack-retries (ack.max_retries) must be at least 1"},
		{[]string{"--count-rate", "-5"}, "--count-rate (count_rate) must be at least 0, got -5"},
		{[]string{"--ping-interval", "0s"}, "--ping-interval (ping_interval) must be positive (a duration such as 5s), got 0s"},
		{[]string{"--idle-timeout", "-1s"}, "--idle-timeout (idle_timeout) must be positive"},
		{[]string{"--write-timeout", "0s"}, "--write-timeout (write_timeout) must be positive"},
		{[]string{"--shutdown-timeout", "0s"}, "--shutdown-timeout (shutdown_timeout) must be positive"},
		{[]string{"--ack-interval", "0s"}, "--ack-interval (ack.interval) must be positive"},
		{[]string{"--ack-timeout", "0s"}, "--ack-timeout (ack.timeout) must be positive"},
		{[]string{"--ping-interval", "5"}, `invalid value "5" for flag -ping-interval: duration "5" has no unit: use e.g. 5s`},
		{[]string{"--idle-timeout", "soon"}, `bad duration "soon": use e.g. 5s, 500ms or 2m`},
		{[]string{"--config", file("bare.yaml", "ping_interval: 25\n")}, `line 1: ping_interval: duration "25" has no unit: use e.g. 25s`},
		{[]string{"--config", file("ack.yaml", "ack: {enabled: true, interval: 2}\n")}, `line 1: ack.interval: duration "2" has no unit: use e.g. 2s`},
		{[]string{"--config", file("heartbeat.yaml", "heartbeat: 2\n")}, `line 1: heartbeat: duration "2" has no unit: use e.g. 2s`},
		{[]string{"--config", file("queue.yaml", "limits:\n  queue_length: 0\n")}, "--queue (limits.queue_length) must be at least 1"},
		{[]string{"--queue", "0", "--rate", "-2"}, "--rate (limits.messages_per_second) must be 0 (no limit) or positive"},
	} {
		var out, errb strings.Builder
		code := run(append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...), nil, &out, &errb)
		// A mistake on the command line is a usage error (2); in the file, 1.
		want := 2
		if tc.args[0] == "--config" && strings.Contains(tc.want, "line ") {
			want = 1
		}
		if code != want || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("serve %s: exit %d, %q; want exit %d and %q", strings.Join(tc.args, " "), code, errb.String(), want, tc.want)
		}
	}

	cfg, err := loadConfig([]string{"--rate", "0", "--max-channel-members", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.serverOptions(nil).Limits.MessagesPerSecond; got != server.NoRateLimit {
		t.Fatalf("--rate 0 gives the server %v, want NoRateLimit", got)
	}
	srv, err := server.New(cfg.serverOptions(nil))
	if err != nil {
		t.Fatalf("--rate 0: %v", err)
	}
	_ = srv.Shutdown(context.Background())
	cfg, err = loadConfig([]string{"--rate", "7.5"}, io.Discard)
	if err != nil || cfg.serverOptions(nil).Limits.MessagesPerSecond != 7.5 {
		t.Fatalf("--rate 7.5: %v", err)
	}
	// --count-rate: the default reaches the engine as such, 0 as no limit.
	for _, tc := range []struct {
		args []string
		want int
	}{{nil, presence.DefaultCountRate}, {[]string{"--count-rate", "0"}, server.NoLimit}, {[]string{"--count-rate", "2000"}, 2000}} {
		cfg, err := loadConfig(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.serverOptions(nil).CountRate; got != tc.want {
			t.Errorf("%v: CountRate %d, want %d", tc.args, got, tc.want)
		}
	}
}

// writeConfig writes a YAML file for a test and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigUnknownKey: an unknown key is named with the file, its line
// and the nearest valid key, never with a Go type.
func TestConfigUnknownKey(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"addr: \":1\"\nlimits:\n  burst: 3\n\n\n\n  max_conection: 5\n", `line 7: unknown key "limits.max_conection" (did you mean "limits.max_connections"?)`},
		{"max_connections: 5\n", `line 1: unknown key "max_connections" (did you mean "limits.max_connections"?)`},
		{"log-level: debug\n", `line 1: unknown key "log-level" (did you mean "log_level"?)`},
		{"ack:\n  enable: true\n", `line 2: unknown key "ack.enable" (did you mean "ack.enabled"?)`},
		{"pusher:\n  apps:\n  - id: a\n    sekret: x\n", `line 4: unknown key "pusher.apps[0].sekret" (did you mean "pusher.apps[0].secret"?)`},
		{"frobnicate: 1\n", `line 1: unknown key "frobnicate"`},
	} {
		path := writeConfig(t, c.yaml)
		_, err := loadConfig([]string{"--config", path}, io.Discard)
		if err == nil || err.Error() != "config file "+path+" "+c.want {
			t.Errorf("%q: %v\nwant config file %s %s", c.yaml, err, path, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "struct") {
			t.Errorf("%q: a Go type in %v", c.yaml, err)
		}
	}
}

// TestConfigPrecedenceAsDocumented: flag > env > file > default, as the
// README says.
func TestConfigPrecedenceAsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(string(readme)), " "),
		"flags given on the command line win over the environment (`ROLLCALL_ADDR`, `ROLLCALL_API_KEY`, `ROLLCALL_JWT_SECRET`), the environment over the file, the file over the defaults") {
		t.Fatal("the README does not state the precedence this test checks")
	}
	path := writeConfig(t, "addr: \":9001\"\napi_key: from-file\nauth:\n  jwt_secret: file-secret\n")
	t.Setenv("ROLLCALL_API_KEY", "from-env")
	t.Setenv("ROLLCALL_JWT_SECRET", "")
	cfg, src, err := loadConfigSources([]string{"--config", path, "--addr", ":9003"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":9003" || cfg.APIKey != "from-env" || cfg.Auth.JWTSecret != "file-secret" || cfg.LogLevel != "info" {
		t.Fatalf("config %+v", cfg)
	}
	want := map[string]string{"addr": "flag --addr", "api_key": "env ROLLCALL_API_KEY", "auth.jwt_secret": "file " + path}
	if !reflect.DeepEqual(src.from, want) {
		t.Fatalf("sources %v, want %v", src.from, want)
	}
}

// TestPrintConfig: --print-config prints YAML that loads back as the same
// configuration (secrets aside), each value commented with its source.
func TestPrintConfig(t *testing.T) {
	path := writeConfig(t, "ack:\n  timeout: 3s\nlimits:\n  burst: 9\n")
	t.Setenv("ROLLCALL_ADDR", "127.0.0.1:9100")
	t.Setenv("ROLLCALL_API_KEY", "")
	t.Setenv("ROLLCALL_JWT_SECRET", "")
	var out, errb strings.Builder
	if code := run([]string{"serve", "--config", path, "--print-config", "--rate", "7", "--api-key", "hush", "--cluster-peers", "127.0.0.1:7301"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	got := out.String()
	for _, line := range []string{
		"addr: 127.0.0.1:9100 # env ROLLCALL_ADDR\n",
		"  timeout: 3s # file " + path + "\n",
		"  burst: 9 # file " + path + "\n",
		"  messages_per_second: 7 # flag --rate\n",
		"api_key: (set) # flag --api-key\n",
		"cluster_peers: # flag --cluster-peers\n",
		"ping_interval: 25s # default\n",
		"allowed_origins: [] # default\n",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("no %q in\n%s", line, got)
		}
	}
	if strings.Contains(got, "hush") {
		t.Error("the API key is printed")
	}
	out.Reset()
	if code := run([]string{"serve", "--print-config", "--nats", "nats://u:pw-secret@127.0.0.1:4222"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String(), "pw-secret") || !strings.Contains(out.String(), "nats://(user and password set)@127.0.0.1:4222") {
		t.Errorf("a NATS password printed:\n%s", out.String())
	}
	// What it prints loads back as the configuration it describes.
	back := writeConfig(t, strings.Replace(got, "(set)", "hush", 1))
	want, err := loadConfig([]string{"--config", path, "--rate", "7", "--api-key", "hush", "--cluster-peers", "127.0.0.1:7301"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadConfig([]string{"--config", back}, io.Discard)
	if err != nil {
		t.Fatalf("the printed config: %v\n%s", err, got)
	}
	if !reflect.DeepEqual(again, withoutNil(want, again)) {
		t.Fatalf("printed config loads as\n%+v\nwant\n%+v", again, want)
	}
}

// TestFlagsNameTheirKeys: every flag of serve says its YAML key in its
// help, but the few that have none.
func TestFlagsNameTheirKeys(t *testing.T) {
	noKey := map[string]bool{"config": true, "print-config": true, "pusher-app": true, "pusher-webhook": true, "pusher-client-events": true}
	var errb strings.Builder
	if code := run([]string{"serve", "-h"}, nil, io.Discard, &errb); code != 0 {
		t.Fatalf("serve -h: %d", code)
	}
	cfg := defaultConfig()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	cfg.flags(fs)
	keys := flagKeys(&cfg, fs)
	valid := map[string]bool{}
	for _, k := range allKeys {
		valid[k] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		k, ok := keys[f.Name]
		switch {
		case noKey[f.Name]:
		case !ok:
			t.Errorf("--%s has no YAML key", f.Name)
		case !valid[k]:
			t.Errorf("--%s: key %q is not in the file", f.Name, k)
		}
	})
	if !strings.Contains(errb.String(), "(YAML limits.max_connections)") || !strings.Contains(errb.String(), "(YAML auth.jwt_secret)") {
		t.Fatalf("serve -h does not name the keys:\n%s", errb.String())
	}
}
