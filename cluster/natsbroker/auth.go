package natsbroker

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
)

// MinSecretLen is the shortest cluster secret accepted, in bytes.
const MinSecretLen = 32

// The labels under which RouteCredentials derives a route's user and
// password from the cluster secret. They are part of the protocol between
// nodes: a node with other labels cannot route to the others.
const (
	routeUserLabel     = "rollcall cluster route user v1"
	routePasswordLabel = "rollcall cluster route password v1"
)

// RouteCredentials derives the user and password every route of a cluster
// presents and requires from the cluster's shared secret:
//
//	user     = "rollcall-" + hex(HMAC-SHA256(secret, "rollcall cluster route user v1"))[:16]
//	password = base64url(HMAC-SHA256(secret, "rollcall cluster route password v1"))
//
// So the secret itself never crosses the wire, and the password (which
// does, in the route's CONNECT; encrypted when routes use TLS) tells
// nothing of it. Both are safe in a nats-route:// URL.
func RouteCredentials(secret []byte) (user, password string) {
	mac := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	user = "rollcall-" + hex.EncodeToString(mac(routeUserLabel))[:16]
	password = base64.RawURLEncoding.EncodeToString(mac(routePasswordLabel))
	return user, password
}

// ReadSecretFile reads a cluster secret: the file's content without the
// white space around it, at least MinSecretLen bytes. One way to make one:
//
//	head -c 32 /dev/urandom | base64 > cluster.secret
func ReadSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: cluster secret: %w", err)
	}
	b = bytes.TrimSpace(b)
	if err := checkSecret(b); err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return b, nil
}

func checkSecret(secret []byte) error {
	if len(secret) < MinSecretLen {
		return fmt.Errorf("natsbroker: the cluster secret has %d bytes, want at least %d (make one with: head -c 32 /dev/urandom | base64 > cluster.secret)", len(secret), MinSecretLen)
	}
	return nil
}
