package httpserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestConfigure serves with a configured server both ways a TLS server is
// started (ServeTLS, as the acceptance page does, and Serve on a TLS
// listener), and asks for h2 and http/1.1: the server answers http/1.1
// unless HTTP/2 is enabled, even when its TLS configuration offered h2
// before the rule was applied.
func TestConfigure(t *testing.T) {
	cert, pool := certificate(t)
	for _, enable := range []bool{false, true} {
		for _, mode := range []string{"ServeTLS", "Serve on a TLS listener"} {
			t.Run(fmt.Sprintf("enableHTTP2=%v/%s", enable, mode), func(t *testing.T) {
				shared := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
				srv := &http.Server{
					Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Proto) }),
					TLSConfig: shared,
				}
				Configure(srv, enable)
				if !slices.Equal(shared.NextProtos, []string{"h2", "http/1.1"}) {
					t.Errorf("Configure changed the caller's TLS configuration: %v", shared.NextProtos)
				}
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				go func() {
					if mode == "ServeTLS" {
						_ = srv.ServeTLS(ln, "", "")
					} else {
						_ = srv.Serve(tls.NewListener(ln, srv.TLSConfig))
					}
				}()
				t.Cleanup(func() { _ = srv.Close() })

				want := "http/1.1"
				if enable {
					want = "h2"
				}
				conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if got := conn.ConnectionState().NegotiatedProtocol; got != want {
					t.Errorf("ALPN chose %q, want %q", got, want)
				}
			})
		}
	}
}

func TestTLSOptionOverridesControllerRuntimesDefault(t *testing.T) {
	for enable, want := range map[bool][]string{false: {"http/1.1"}, true: {"h2", "http/1.1"}} {
		c := &tls.Config{NextProtos: []string{"h2"}} // what controller-runtime's metrics server starts from
		TLSOption(enable)(c)
		if !slices.Equal(c.NextProtos, want) {
			t.Errorf("enableHTTP2=%v: NextProtos %v, want %v", enable, c.NextProtos, want)
		}
	}
}

// certificate is a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func certificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
