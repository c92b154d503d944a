package tlstest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

// A server certificate verifies against the CA, from the pool and from the
// CA file, for each of its hosts; its files load as a key pair; and a
// client sees the protocol the server picked from its offer.
func TestCA(t *testing.T) {
	ca := NewCA(t)
	cert := ca.ServerCert(t, "127.0.0.1", "::1", "localhost")
	pem, err := os.ReadFile(ca.CertFile(t))
	if err != nil {
		t.Fatal(err)
	}
	fromFile := x509.NewCertPool()
	if !fromFile.AppendCertsFromPEM(pem) {
		t.Fatal("the CA file holds no certificate")
	}
	for _, pool := range []*x509.CertPool{ca.Pool(), fromFile} {
		for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
			opts := x509.VerifyOptions{Roots: pool, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			if _, err := cert.Leaf.Verify(opts); err != nil {
				t.Errorf("%s: %v", host, err)
			}
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: NewCA(t).Pool()}); err == nil {
		t.Error("another CA trusts the certificate")
	}
	if _, err := tls.LoadX509KeyPair(ca.ServerFiles(t)); err != nil {
		t.Errorf("ServerFiles: %v", err)
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t)}, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	client := &tls.Config{RootCAs: ca.Pool()}
	for _, offer := range [][]string{{"h2", "http/1.1"}, {"http/1.1"}} {
		if got := NegotiatedProtocol(t, ln.Addr().String(), client, offer...); got != offer[0] {
			t.Errorf("offering %v: NegotiatedProtocol = %q, want %q", offer, got, offer[0])
		}
	}
}
