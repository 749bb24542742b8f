package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestFormatVersion(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-01T20:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tc := range []struct {
		name string
		set  string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"go install @tag", "dev", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.4.0"}}, true,
			"rollcall v1.4.0, go1.26.0"},
		{"go build in a clone", "dev", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20261201200000-0123456789ab+dirty"}, Settings: vcs}, true,
			"rollcall v0.0.0-20261201200000-0123456789ab+dirty (revision 0123456789abcdef0123456789abcdef01234567, 2026-12-01T20:00:00Z, modified), go1.26.0"},
		{"no VCS, devel", "dev", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, true,
			"rollcall dev, go1.26.0"},
		{"-ldflags -X main.version", "v2.0.0", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs[:3]}, true,
			"rollcall v2.0.0 (revision 0123456789abcdef0123456789abcdef01234567, 2026-12-01T20:00:00Z), go1.26.0"},
		{"no build info", "dev", nil, false, "rollcall dev"},
	} {
		if got := formatVersion(tc.set, tc.info, tc.ok); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// TestVersionFromVCS builds the binary from a fresh clone of the committed
// tree, as `go build ./cmd/rollcall` in a checkout does, and checks that
// `rollcall version` names a module version and the clone's git revision
// and commit time. (Go stamps VCS information only in a directory with a .git
// folder, not in a git worktree, so the test clones.)
func TestVersionFromVCS(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go is not on PATH")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runIn := func(dir string, env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	root := runIn(".", nil, "git", "rev-parse", "--show-toplevel")
	clone := filepath.Join(t.TempDir(), "src")
	runIn(".", nil, "git", "clone", "--quiet", "--depth", "1", "file://"+root, clone)
	head := runIn(clone, nil, "git", "rev-parse", "HEAD")
	bin := filepath.Join(t.TempDir(), "rollcall")
	// GOFLAGS may say -buildvcs=false (it does on the project's machines).
	runIn(clone, []string{"GOFLAGS="}, gobin, "build", "-buildvcs=true", "-trimpath", "-o", bin, "./cmd/rollcall")
	out := runIn(".", nil, bin, "version")
	want := regexp.MustCompile(`^rollcall v\S+ \(revision ` + head + `, \d{4}-\d\d-\d\dT[0-9:]+Z\), go\S+$`)
	if !want.MatchString(out) {
		t.Fatalf("rollcall version printed %q, want the pseudo-version and revision of %s", out, head)
	}
}
