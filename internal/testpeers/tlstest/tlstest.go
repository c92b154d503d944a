// Package tlstest makes the TLS material tests need and checks what a TLS
// server negotiates: a CA made for one test, server certificates it signs
// for loopback, both written as PEM files where a configuration names files,
// and the ALPN protocol a server picks. Keys are P-256, certificates are
// valid from an hour ago to an hour from now; nothing here is fit for
// anything but a test. MakeCA, Issue and WriteFiles return errors (for
// peers started with a context); NewCA, ServerCert, CertFile and
// ServerFiles are their wrappers for a test.
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

// NewCA makes a CA for the test (MakeCA).
func NewCA(t testing.TB) *CA {
	t.Helper()
	ca, err := MakeCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// MakeCA makes a CA.
func MakeCA() (*CA, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "partnerops test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	cert, key, err := sign(tmpl, nil, nil)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key}, nil
}

// sign makes a key and the certificate of tmpl for it, signed by parent
// with parentKey (self-signed when parent is nil), with a random serial
// number so that no two certificates of a test share one.
func sign(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = n.Add(n, big.NewInt(1))
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
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
	if err := writePEM(file, "CERTIFICATE", ca.cert.Raw); err != nil {
		t.Fatal(err)
	}
	return file
}

// ServerCert is a server certificate the CA signed for the test (Issue).
func (ca *CA) ServerCert(t testing.TB, hosts ...string) tls.Certificate {
	t.Helper()
	cert, err := ca.Issue(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// Issue is a server certificate the CA signed, with its key, for hosts
// (IP addresses or DNS names; 127.0.0.1 when none are given).
func (ca *CA) Issue(hosts ...string) (tls.Certificate, error) {
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	leaf, key, err := sign(tmpl, ca.cert, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// ServerFiles writes a server certificate the CA signed for hosts (as
// ServerCert) and its key in PEM to tls.crt and tls.key in a new temporary
// directory, and returns their paths: what a configuration's certFile and
// keyFile name.
func (ca *CA) ServerFiles(t testing.TB, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	_, certFile, keyFile, err := ca.WriteFiles(t.TempDir(), hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// WriteFiles writes, in PEM into dir, the CA certificate to ca.crt and a
// server certificate it signed for hosts (as Issue) and its key to tls.crt
// and tls.key, readable by their owner only, and returns their paths.
func (ca *CA) WriteFiles(dir string, hosts ...string) (caFile, certFile, keyFile string, err error) {
	cert, err := ca.Issue(hosts...)
	if err != nil {
		return "", "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return "", "", "", err
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	for _, f := range []struct {
		file, typ string
		der       []byte
	}{{caFile, "CERTIFICATE", ca.cert.Raw}, {certFile, "CERTIFICATE", cert.Certificate[0]}, {keyFile, "PRIVATE KEY", keyDER}} {
		if err := writePEM(f.file, f.typ, f.der); err != nil {
			return "", "", "", err
		}
	}
	return caFile, certFile, keyFile, nil
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

// CheckHTTP2 checks internal/httpserver's HTTP/2 rule at addr, a TLS server
// whose HTTP/2 flag is enable: a client offering h2 and http/1.1 (config's
// NextProtos replaced) gets h2 when the flag is on, http/1.1 otherwise, and
// a GET of path by a client that prefers HTTP/2 is answered over that
// protocol. It returns the answer's status code.
func CheckHTTP2(t testing.TB, addr string, config *tls.Config, enable bool, path string) int {
	t.Helper()
	wantALPN, wantMajor := "http/1.1", 1
	if enable {
		wantALPN, wantMajor = "h2", 2
	}
	if got := NegotiatedProtocol(t, addr, config, "h2", "http/1.1"); got != wantALPN {
		t.Errorf("ALPN chose %q, want %q", got, wantALPN)
	}
	resp, err := HTTP2Client(t, config).Get("https://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != wantMajor {
		t.Errorf("GET %s: answered over %s, want HTTP/%d", path, resp.Proto, wantMajor)
	}
	return resp.StatusCode
}

func writePEM(file, typ string, der []byte) error {
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
