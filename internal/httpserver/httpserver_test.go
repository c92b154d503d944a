package httpserver

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"testing"

	"github.com/partnerops/partnerops/internal/testpeers/tlstest"
)

// TestConfigure serves with a configured server both ways a TLS server is
// started (ServeTLS, as the acceptance page does, and Serve on a TLS
// listener), and asks for h2 and http/1.1: the server answers http/1.1
// unless HTTP/2 is enabled, even when its TLS configuration offered h2
// before the rule was applied.
func TestConfigure(t *testing.T) {
	ca := tlstest.NewCA(t)
	cert, client := ca.ServerCert(t), &tls.Config{RootCAs: ca.Pool()}
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
				if got := tlstest.NegotiatedProtocol(t, ln.Addr().String(), client, "h2", "http/1.1"); got != want {
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
