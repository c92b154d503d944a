// Package httpserver holds the one rule for which HTTP versions the
// manager's own servers speak: the metrics endpoint (served by
// controller-runtime, configured in main.go) and the acceptance page
// (internal/acceptance). Both follow --enable-http2, and this file is the
// only place that says why.
//
// HTTP/2 is off unless --enable-http2 is given. HTTP/2 multiplexes many
// streams over one connection, which the "rapid reset" attacks
// (CVE-2023-44487, and Go's own CVE-2023-39325) turned into a cheap way to
// make a server start and abandon work without limit; Go has mitigated
// them since 1.21.3, but the per-connection bounds these servers rely on
// (read and write timeouts, the acceptance page's per-request limits) are
// weaker when one connection carries many requests at once. Neither server
// gains from HTTP/2: Prometheus scrapes one request at a time, and a
// partner's browser loads one small page and posts one form (an Ingress in
// front of the page speaks HTTP/2 to browsers whatever the page speaks).
//
// Off means both forms: no "h2" in TLS's ALPN, and no HTTP/2 with prior
// knowledge on a plain port (h2c). On means HTTP/2 over TLS, and, on the
// acceptance page's plain port, h2c with prior knowledge, for an Ingress or
// Gateway that speaks HTTP/2 to its backends; HTTP/1.1 is always served.
package httpserver

import (
	"crypto/tls"
	"net/http"
)

// ALPN protocol ids.
const (
	protoHTTP1 = "http/1.1"
	protoHTTP2 = "h2"
)

// Protocols is the set of protocols a net/http server speaks under the
// rule: HTTP/1.1 always; HTTP/2 over TLS and h2c only when enableHTTP2.
func Protocols(enableHTTP2 bool) *http.Protocols {
	p := &http.Protocols{}
	p.SetHTTP1(true)
	if enableHTTP2 {
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
	}
	return p
}

// NextProtos is what a TLS server offers in ALPN under the rule, most
// preferred first.
func NextProtos(enableHTTP2 bool) []string {
	if enableHTTP2 {
		return []string{protoHTTP2, protoHTTP1}
	}
	return []string{protoHTTP1}
}

// TLSOption applies the rule to a TLS configuration, for servers built by
// someone else (controller-runtime's metrics server, whose TLSOpts run
// after it set its own NextProtos of "h2"): only the ALPN list decides
// there, since a connection that never negotiates "h2" never speaks it.
func TLSOption(enableHTTP2 bool) func(*tls.Config) {
	return func(c *tls.Config) { c.NextProtos = NextProtos(enableHTTP2) }
}

// Configure applies the rule to a server of our own, before it serves:
// its Protocols (which net/http also uses to fix the ALPN list of
// ServeTLS), its TLS configuration's ALPN list when it has one (for a
// server handed a TLS listener instead), and, when HTTP/2 is off, an empty
// TLSNextProto so that nothing can install an "h2" handler behind it.
func Configure(srv *http.Server, enableHTTP2 bool) {
	srv.Protocols = Protocols(enableHTTP2)
	if srv.TLSConfig != nil {
		srv.TLSConfig = srv.TLSConfig.Clone()
		TLSOption(enableHTTP2)(srv.TLSConfig)
	}
	if !enableHTTP2 {
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
}
