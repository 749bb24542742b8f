package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rollcall/rollcall/presence"
)

// DefaultJWTLeeway is the clock skew allowed on exp and nbf when
// JWTAuth.Leeway is zero.
const DefaultJWTLeeway = 30 * time.Second

// Identity is who a connection authenticated as. It is the server's, not the
// client's: the member the connection joins as takes ID, and Name and Info
// when they are set (see Auth.RefuseNameMismatch). Data stays on the
// connection (presence.Conn.Data) for every hook and event; the connection
// is filed into Groups when it connects.
type Identity struct {
	ID     string // member id; empty: the user name (Basic) or the session id
	Name   string
	Info   string
	Data   any
	Groups []string
}

// Auth turns on authentication of the WebSocket handshake. With Basic and
// JWT both set, either credential is accepted. A request without valid
// credentials gets 401 before any upgrade, and nothing is created in the
// engine. The zero value is an open server.
type Auth struct {
	// Basic checks HTTP Basic credentials (Authorization: Basic), and the
	// credentials sgc's browser client puts in the path
	// (URLAuthPrefix + "<user>/<password>", URL-decoded) of a handshake
	// without an Authorization header. It returns the identity, or an error
	// to refuse (the error is logged at debug level, never sent). Compare
	// passwords in constant time (bcrypt does).
	Basic func(ctx context.Context, r *http.Request, user, password string) (Identity, error)
	// JWT validates bearer tokens, from "Authorization: Bearer <token>" or
	// the "token" query parameter (browsers cannot set headers on a
	// WebSocket).
	JWT *JWTAuth
	// RefuseNameMismatch refuses a member@new whose non-empty name differs
	// from the identity's name with error 48; by default the name is
	// corrected to the identity's.
	RefuseNameMismatch bool
	// AppMemberIDs lets an authenticated connection join under an id of
	// its own choosing (sgc apps pass their own user ids to newmember), as
	// on an open server: any id no member holds, first come, first served,
	// with the name and info it sends. The identity stays the connection's
	// (presence.Conn.Identity and Data) and is logged with the join. By
	// default the member id is the identity's and any other is error 42.
	AppMemberIDs bool
	// FailuresPerMinute is how many failed authentications one remote IP
	// may make in a minute; past it, its handshakes get 429 with
	// Retry-After until the minute is over, right credentials or not.
	// Zero is DefaultAuthFailuresPerMin; NoLimit turns the throttle off.
	FailuresPerMinute int
}

func (a *Auth) enabled() bool { return a.Basic != nil || a.JWT != nil }

// JWTAuth validates JSON Web Tokens. Set exactly one of Secret (HS256) or
// PublicKey (RS256 for an RSA key, ES256/ES384/ES512 for an ECDSA key of the
// matching curve); only that algorithm is accepted, so "none" and tokens
// signed with another family are refused. exp is required; nbf is honoured;
// aud and iss are checked when Audience and Issuer are set. Claims: sub is
// the member id (required), name, info, and groups (array of strings).
type JWTAuth struct {
	Secret    []byte
	PublicKey crypto.PublicKey
	Audience  string
	Issuer    string
	// Leeway is the clock skew allowed on exp, nbf and iat
	// (DefaultJWTLeeway when zero).
	Leeway time.Duration
	// MaxAge, when set, refuses a token issued (iat) longer ago than that,
	// and a token without iat.
	MaxAge time.Duration
	// NameClaim is the claim holding the member's display name ("name"
	// when empty). Its value must be a string.
	NameClaim string
}

// claims are the token's claims rollcall reads.
type claims struct {
	jwt.RegisteredClaims
	Name   string   `json:"name"`
	Info   string   `json:"info"`
	Groups []string `json:"groups"`
}

// LoadPublicKey reads a PEM file holding an RSA or ECDSA public key
// ("PUBLIC KEY", "RSA PUBLIC KEY") or a certificate, for JWTAuth.PublicKey.
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("public key %s: no PEM block found", path)
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("public key %s: PEM block %q is not a public key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return key, nil
	}
	return nil, fmt.Errorf("public key %s: %T is not an RSA or ECDSA key", path, key)
}

// method is the one signing algorithm j accepts.
func (j *JWTAuth) method() (string, error) {
	if (len(j.Secret) > 0) == (j.PublicKey != nil) {
		return "", errors.New("server: JWT auth needs exactly one of Secret and PublicKey")
	}
	if len(j.Secret) > 0 {
		return "HS256", nil
	}
	switch k := j.PublicKey.(type) {
	case *rsa.PublicKey:
		return "RS256", nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
	}
	return "", fmt.Errorf("server: JWT public key %T is not an RSA or ECDSA (P-256/384/521) key", j.PublicKey)
}

// verify checks a token and returns the identity it carries.
func (j *JWTAuth) verify(token string) (Identity, error) {
	alg, err := j.method()
	if err != nil {
		return Identity{}, err
	}
	leeway := j.Leeway
	if leeway <= 0 {
		leeway = DefaultJWTLeeway
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{alg}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
	}
	if j.Audience != "" {
		opts = append(opts, jwt.WithAudience(j.Audience))
	}
	if j.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(j.Issuer))
	}
	var c claims
	_, err = jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		if len(j.Secret) > 0 {
			return j.Secret, nil
		}
		return j.PublicKey, nil
	}, opts...)
	if err != nil {
		return Identity{}, err
	}
	if c.Subject == "" {
		return Identity{}, errors.New("token has no sub claim")
	}
	raw, err := payloadClaims(token)
	if err != nil {
		return Identity{}, err
	}
	for _, k := range []string{"exp", "nbf", "iat"} {
		if v, ok := raw[k]; ok && !isJSONNumber(v) {
			return Identity{}, fmt.Errorf("token claim %s is not a number", k)
		}
	}
	if j.MaxAge > 0 {
		if c.IssuedAt == nil {
			return Identity{}, errors.New("token has no iat claim (the server limits the age of tokens)")
		}
		if age := time.Since(c.IssuedAt.Time); age > j.MaxAge+leeway {
			return Identity{}, fmt.Errorf("token is too old: issued %v ago, at most %v allowed", age.Round(time.Second), j.MaxAge)
		}
	}
	name := c.Name
	if j.NameClaim != "" && j.NameClaim != "name" {
		name = ""
		if v, ok := raw[j.NameClaim]; ok {
			if err := json.Unmarshal(v, &name); err != nil {
				return Identity{}, fmt.Errorf("token claim %s (the display name) is not a string", j.NameClaim)
			}
		}
	}
	return Identity{ID: c.Subject, Name: name, Info: c.Info, Groups: c.Groups}, nil
}

// payloadClaims decodes the claims of a token whose signature was
// checked, each as its raw JSON.
func payloadClaims(token string) (map[string]json.RawMessage, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("token is not three segments")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("token claims: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("token claims: %w", err)
	}
	return m, nil
}

// isJSONNumber reports whether v is a JSON number (jwt reads a string
// holding digits as a NumericDate too; RFC 7519 wants a number).
func isJSONNumber(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}

// authError is a refused handshake: the message goes to the client, the
// cause to the debug log.
type authError struct {
	msg   string
	cause error
}

func (e *authError) Error() string { return e.msg }

// errThrottled refuses the handshake of an address that failed to
// authenticate too often (429).
type errThrottled struct{ retryAfter time.Duration }

func (e *errThrottled) Error() string {
	return "too many failed authentications from your address; try again later"
}

// authenticate checks the handshake's credentials, unless its address
// failed too often (Auth.FailuresPerMinute), and counts the failures.
func (s *Server) authenticate(r *http.Request) (Identity, error) {
	ip := remoteIP(r)
	if wait, ok := s.authThrottle.blocked(ip); ok {
		return Identity{}, &errThrottled{retryAfter: wait}
	}
	id, err := s.credentials(r)
	if err != nil {
		s.authThrottle.failed(ip)
	}
	return id, err
}

// credentials checks the handshake's credentials.
func (s *Server) credentials(r *http.Request) (Identity, error) {
	a := &s.opts.Auth
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch {
	case a.Basic != nil && strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return Identity{}, &authError{msg: "malformed Basic credentials"}
		}
		return s.basicIdentity(r, user, pass)
	case a.Basic != nil && h == "" && strings.HasPrefix(r.URL.Path, URLAuthPrefix):
		return s.urlAuth(r)
	case a.JWT != nil && strings.EqualFold(scheme, "Bearer") && cred != "":
		return s.verifyToken(cred)
	case a.JWT != nil && h == "" && r.URL.Query().Get("token") != "":
		return s.verifyToken(r.URL.Query().Get("token"))
	}
	var want []string
	if a.Basic != nil {
		want = append(want, "Authorization: Basic", URLAuthPrefix+"<user>/<password>")
	}
	if a.JWT != nil {
		want = append(want, "Authorization: Bearer <token>", "?token=<token>")
	}
	return Identity{}, &authError{msg: "missing credentials: send " + strings.Join(want, " or ")}
}

// URLAuthPrefix is the path under which sgc's browser client sends
// credentials, since a browser cannot set an Authorization header on a
// WebSocket: it opens URLAuthPrefix + "<user>/<password>" (each segment
// URL-escaped by the page). With Auth.Basic set, such a path is checked
// like Basic credentials, by the same callback; on an open server it is an
// ordinary upgrade path.
const URLAuthPrefix = "/sgc/auth/url/"

// urlAuth checks the credentials in an URLAuthPrefix path: exactly two
// non-empty segments (a trailing slash is allowed), each URL-decoded. The
// path is never logged.
func (s *Server) urlAuth(r *http.Request) (Identity, error) {
	bad := &authError{msg: "malformed URL credentials: want " + URLAuthPrefix + "<user>/<password>, each URL-escaped"}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), URLAuthPrefix)
	if !ok {
		return Identity{}, bad
	}
	rest = strings.TrimSuffix(rest, "/")
	rawUser, rawPass, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(rawPass, "/") {
		return Identity{}, bad
	}
	user, err1 := url.PathUnescape(rawUser)
	pass, err2 := url.PathUnescape(rawPass)
	if err1 != nil || err2 != nil || user == "" || pass == "" {
		return Identity{}, bad
	}
	return s.basicIdentity(r, user, pass)
}

// basicIdentity asks Auth.Basic about user and password (from the header or
// the URL) and fills in the identity's defaults.
func (s *Server) basicIdentity(r *http.Request, user, pass string) (Identity, error) {
	id, err := s.opts.Auth.Basic(r.Context(), r, user, pass)
	if err != nil {
		return Identity{}, &authError{msg: "wrong user name or password", cause: err}
	}
	if id.ID == "" {
		id.ID = user
	}
	if id.Name == "" {
		id.Name = user
	}
	return id, nil
}

func (s *Server) verifyToken(token string) (Identity, error) {
	id, err := s.opts.Auth.JWT.verify(token)
	if err != nil {
		// jwt's errors name the failed check, never the token.
		return Identity{}, &authError{msg: "invalid token: " + err.Error(), cause: err}
	}
	return id, nil
}

// refuseAuth answers a failed authentication with 401, and a throttled
// address with 429 and Retry-After.
func (s *Server) refuseAuth(w http.ResponseWriter, r *http.Request, err error) {
	if te, ok := errors.AsType[*errThrottled](err); ok {
		secs := int64(math.Ceil(te.retryAfter.Seconds()))
		s.log.Debug("websocket authentication throttled", "remote", r.RemoteAddr, "retry_after", secs)
		s.refusals.refused(r, http.StatusTooManyRequests, te.Error())
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		http.Error(w, "rollcall: "+te.Error(), http.StatusTooManyRequests)
		return
	}
	var ae *authError
	msg := "authentication failed"
	if errors.As(err, &ae) {
		msg = ae.msg
		if ae.cause != nil {
			s.log.Debug("websocket authentication refused", "remote", r.RemoteAddr, "reason", ae.msg, "err", ae.cause)
		} else {
			s.log.Debug("websocket authentication refused", "remote", r.RemoteAddr, "reason", ae.msg)
		}
	}
	s.refusals.refused(r, http.StatusUnauthorized, msg)
	if s.opts.Auth.Basic != nil {
		w.Header().Add("WWW-Authenticate", `Basic realm="rollcall", charset="UTF-8"`)
	}
	if s.opts.Auth.JWT != nil {
		w.Header().Add("WWW-Authenticate", `Bearer realm="rollcall"`)
	}
	http.Error(w, "rollcall: "+msg, http.StatusUnauthorized)
}

// identityMember is the engine's view of an identity.
func identityMember(id *Identity) *presence.Member {
	if id == nil {
		return nil
	}
	return &presence.Member{ID: id.ID, Name: id.Name, Info: []byte(id.Info)}
}
