package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/rollcall/rollcall/server"
)

// user is one line of a users file.
type user struct {
	hash   []byte
	name   string
	info   string
	groups []string
}

// parseUsers reads a users file: one user per line,
//
//	login:bcrypt-hash[:display name[:info[:group1,group2]]]
//
// with blank lines and lines starting with # ignored.
func parseUsers(r io.Reader, path string) (map[string]user, error) {
	users := make(map[string]user)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, ":", 5)
		where := fmt.Sprintf("%s:%d", path, n)
		if len(f) < 2 || f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("%s: want login:bcrypt-hash[:display name[:info[:group1,group2]]]", where)
		}
		if _, err := bcrypt.Cost([]byte(f[1])); err != nil {
			return nil, fmt.Errorf("%s: user %q: the password must be a bcrypt hash (make one with rollcall hash-password): %w", where, f[0], err)
		}
		if _, dup := users[f[0]]; dup {
			return nil, fmt.Errorf("%s: user %q is listed twice", where, f[0])
		}
		u := user{hash: []byte(f[1])}
		if len(f) > 2 {
			u.name = f[2]
		}
		if len(f) > 3 {
			u.info = f[3]
		}
		if len(f) > 4 {
			for _, g := range strings.Split(f[4], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.groups = append(u.groups, g)
				}
			}
		}
		users[f[0]] = u
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no users", path)
	}
	return users, nil
}

func loadUsers(path string) (map[string]user, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	return parseUsers(f, path)
}

// decoyHash is the hash an unknown user's password is compared against,
// so that a wrong user name costs as long as a wrong password: bcrypt at
// the highest cost among users.
func decoyHash(users map[string]user) ([]byte, error) {
	cost := bcrypt.MinCost
	for _, u := range users {
		if c, err := bcrypt.Cost(u.hash); err == nil && c > cost {
			cost = c
		}
	}
	h, err := bcrypt.GenerateFromPassword([]byte("rollcall: no such user"), cost)
	if err != nil {
		return nil, fmt.Errorf("decoy hash: %w", err)
	}
	return h, nil
}

// basicAuth checks Basic credentials against users. The login is the
// member id; the display name defaults to the login.
func basicAuth(users map[string]user) (func(context.Context, *http.Request, string, string) (server.Identity, error), error) {
	decoy, err := decoyHash(users)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, _ *http.Request, login, password string) (server.Identity, error) {
		u, ok := users[login]
		hash := u.hash
		if !ok {
			hash = decoy
		}
		if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || !ok {
			return server.Identity{}, errors.New("wrong user name or password")
		}
		name := u.name
		if name == "" {
			name = login
		}
		return server.Identity{ID: login, Name: name, Info: u.info, Groups: u.groups}, nil
	}, nil
}

// authOptions builds the server's Auth from the configuration.
func (c *config) authOptions() (server.Auth, error) {
	a := server.Auth{
		RefuseNameMismatch: c.Auth.RefuseNameMismatch,
		AppMemberIDs:       c.Auth.AppMemberIDs,
		FailuresPerMinute:  orNoLimit(c.Auth.FailuresPerMinute),
	}
	switch c.Auth.Mode {
	case "", "none":
		if c.Auth.UsersFile != "" || c.Auth.JWTSecret != "" || c.Auth.JWTPublicKey != "" {
			return a, usageError{"--users, --jwt-secret and --jwt-public-key need --auth basic or --auth jwt"}
		}
	case "basic":
		if c.Auth.UsersFile == "" {
			return a, usageError{"--auth basic needs --users FILE"}
		}
		users, err := loadUsers(c.Auth.UsersFile)
		if err != nil {
			return a, err
		}
		if a.Basic, err = basicAuth(users); err != nil {
			return a, err
		}
	case "jwt":
		j := &server.JWTAuth{Audience: c.Auth.JWTAudience, Issuer: c.Auth.JWTIssuer, MaxAge: c.Auth.JWTMaxAge, NameClaim: c.Auth.JWTNameClaim}
		switch {
		case (c.Auth.JWTSecret == "") == (c.Auth.JWTPublicKey == ""):
			return a, usageError{"--auth jwt needs one of --jwt-secret (HS256) or --jwt-public-key FILE (RS256/ES256)"}
		case c.Auth.JWTSecret != "":
			j.Secret = []byte(c.Auth.JWTSecret)
		default:
			key, err := server.LoadPublicKey(c.Auth.JWTPublicKey)
			if err != nil {
				return a, err
			}
			j.PublicKey = key
		}
		a.JWT = j
	default:
		return a, usageError{fmt.Sprintf("bad --auth %q: use none, basic or jwt", c.Auth.Mode)}
	}
	return a, nil
}

// authSummary is the auth= field of the startup log line.
func (c *config) authSummary() string {
	switch c.Auth.Mode {
	case "basic":
		return "basic (users from " + c.Auth.UsersFile + ")"
	case "jwt":
		if c.Auth.JWTSecret != "" {
			return "jwt (HS256)"
		}
		return "jwt (public key " + c.Auth.JWTPublicKey + ")"
	}
	return "none (open server: anyone may connect)"
}

// maxPasswordBytes is the most of a password bcrypt reads.
const maxPasswordBytes = 72

// runHashPassword reads a password from stdin (its first line) and prints
// its bcrypt hash, for a users file.
func runHashPassword(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError{"hash-password takes no arguments: it reads the password from stdin"}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return usageError{"hash-password: empty password (write it to stdin)"}
	}
	if len(pw) > maxPasswordBytes {
		return usageError{fmt.Sprintf("hash-password: the password is %d bytes; bcrypt reads at most %d, so the rest would not count: use a shorter one", len(pw), maxPasswordBytes)}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	fmt.Fprintln(stdout, string(hash))
	return nil
}
