// Package tlstest makes the TLS material tests need and checks what a TLS
// server negotiates: a CA made for one test, server certificates it signs
// for loopback, both written as PEM files where a configuration names files,
// and the ALPN protocol a server picks. Keys are P-256, certificates are
// valid from an hour ago to an hour from now; nothing here is fit for
// anything but a test.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority made for one test.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "partnerops test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{cert: cert, key: key}
}

// Pool is a pool that trusts the CA, for a client's RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// CertFile writes the CA certificate in PEM to ca.crt in a new temporary
// directory and returns its path: what a configuration's caFile names.
func (ca *CA) CertFile(t testing.TB) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ca.crt")
	writePEM(t, file, "CERTIFICATE", ca.cert.Raw)
	return file
}

// ServerCert is a server certificate the CA signed, with its key, for hosts
// (IP addresses or DNS names; 127.0.0.1 when none are given).
func (ca *CA) ServerCert(t testing.TB, hosts ...string) tls.Certificate {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// ServerFiles writes a server certificate the CA signed for hosts (as
// ServerCert) and its key in PEM to tls.crt and tls.key in a new temporary
// directory, and returns their paths: what a configuration's certFile and
// keyFile name.
func (ca *CA) ServerFiles(t testing.TB, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	cert := ca.ServerCert(t, hosts...)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePEM(t, certFile, "CERTIFICATE", cert.Certificate[0])
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

// NegotiatedProtocol connects to addr over TLS with config (its NextProtos
// replaced by protos, the ALPN offer), and returns the protocol the server
// chose ("" for none).
func NegotiatedProtocol(t testing.TB, addr string, config *tls.Config, protos ...string) string {
	t.Helper()
	c := config.Clone()
	c.NextProtos = protos
	conn, err := tls.Dial("tcp", addr, c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().NegotiatedProtocol
}

// HTTP2Client is an HTTP client over TLS with (a copy of) config that
// offers HTTP/2 and HTTP/1.1, as a browser does; its idle connections are
// closed when the test ends.
func HTTP2Client(t testing.TB, config *tls.Config) *http.Client {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: config.Clone(), Protocols: &protos}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// serial is a random serial number, so that no two certificates of a test
// share one.
func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

func writePEM(t testing.TB, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
