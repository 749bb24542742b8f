package natsbroker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// RouteTLS returns the configuration of mutual TLS on routes: the node
// presents the certificate in certFile (its key in keyFile) on every route,
// the routes it accepts and those it dials alike, and takes a route only
// from a server whose certificate a CA in caFile signed. A dialled peer's
// certificate must name the address the node dials (an IP SAN for an IP
// peer, a DNS SAN for a host name).
func RouteTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, errors.New("natsbroker: route TLS needs a certificate, its key and a CA")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: route TLS certificate: %w", err)
	}
	pool, err := loadCAs(caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool, // the peers this node dials
		ClientCAs:    pool, // the peers that dial this node
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}

func loadCAs(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: route TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("natsbroker: route TLS CA: no PEM certificate in %s", caFile)
	}
	return pool, nil
}

// routeTLSTimeout bounds a route's TLS handshake, in seconds (nats-server's
// unit).
const routeTLSTimeout = 2.0
