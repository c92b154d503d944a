package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/partnerops/partnerops/internal/identity"
)

// errTooLarge is wrapped when a response is larger than MaxResponseBytes.
var errTooLarge = fmt.Errorf("response larger than %d bytes", MaxResponseBytes)

// HTTPError is an answer of the service provider with a status outside
// 2xx. It wraps the identity sentinel its status maps to.
type HTTPError struct {
	// Method and Path say which request (Path without the query).
	Method, Path string
	// Status is the HTTP status code.
	Status int
	// ScimType and Detail are those of the SCIM error body (RFC 7644
	// §3.12), when it had one.
	ScimType, Detail string

	sentinel error
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %s %s: HTTP %d", e.sentinel, e.Method, e.Path, e.Status)
	if e.ScimType != "" {
		fmt.Fprintf(&b, " (scimType %s)", e.ScimType)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	return b.String()
}

func (e *HTTPError) Unwrap() error { return e.sentinel }

// httpStatus returns the status of the HTTPError in err, or 0.
func httpStatus(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

// scimType returns the scimType of the HTTPError in err, or "".
func scimType(err error) string {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.ScimType
	}
	return ""
}

// sentinelFor maps an HTTP status outside 2xx to an identity sentinel.
func sentinelFor(status int) error {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return identity.ErrUnauthorized
	case status == http.StatusNotFound:
		return identity.ErrNotFound
	case status == http.StatusConflict || status == http.StatusPreconditionFailed:
		return identity.ErrConflict
	case status == http.StatusTooManyRequests:
		return identity.ErrUnavailable
	case status == http.StatusNotImplemented:
		// The service provider lacks the feature: retrying will not help.
		return identity.ErrRejected
	case status >= 500:
		return identity.ErrUnavailable
	default: // 400, other 4xx, and 3xx (redirects are not followed)
		return identity.ErrRejected
	}
}

type response struct {
	status int
	body   []byte
}

// do sends one request, path relative to the base URL (already escaped),
// body marshalled as SCIM JSON when not nil. It returns the response for a
// 2xx status, else an error wrapping the identity sentinel.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any) (*response, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", identity.ErrUnavailable, method, path, err)
	}
	token, err := c.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the bearer token: %w", identity.ErrUnauthorized, err)
	}
	if strings.TrimSpace(token) == "" {
		return nil, fmt.Errorf("%w: the bearer token is empty", identity.ErrUnauthorized)
	}
	resp, err := c.send(ctx, token, method, path, query, body)
	if err != nil {
		// Belt and braces: nothing above puts the token in an error.
		return nil, redactErr(err, token)
	}
	return resp, nil
}

func (c *Client) send(ctx context.Context, token, method, path string, query url.Values, body any) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	u := *c.base
	u.RawPath = c.base.EscapedPath() + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", identity.ErrRejected, method, path, err)
	}
	u.Path = p
	if query != nil {
		u.RawQuery = encodeQuery(query)
	}
	var r io.Reader
	if body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			return nil, fmt.Errorf("scim: encoding the %s %s body: %w", method, path, err)
		}
		r = &buf
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", identity.ErrRejected, method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", mediaType+", application/json;q=0.9")
	if body != nil {
		req.Header.Set("Content-Type", mediaType)
	}
	req.Header.Set("User-Agent", "partnerops-scim")

	res, err := c.http.Do(req)
	if err != nil {
		// Connection refused, DNS, TLS, timeout: all worth retrying.
		return nil, fmt.Errorf("%w: %s %s: %w", identity.ErrUnavailable, method, path, unwrapURLError(err))
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: reading the response: %w", identity.ErrUnavailable, method, path, unwrapURLError(err))
	}
	if len(data) > MaxResponseBytes {
		if res.StatusCode/100 == 2 {
			return nil, fmt.Errorf("%w: %s %s: %w", identity.ErrRejected, method, path, errTooLarge)
		}
		data = data[:MaxResponseBytes]
	}
	if res.Request != nil && res.Request.URL.String() != req.URL.String() {
		// Only a client that followed a redirect answers from elsewhere;
		// httpClient never does, but a write is done only when the URL it
		// was sent to says so.
		return nil, fmt.Errorf("%w: %s %s: answered by %s, not by the URL called: set baseURL to the final URL",
			identity.ErrRejected, method, path, clean(res.Request.URL.Redacted(), 200, token))
	}
	if res.StatusCode/100 == 2 {
		return &response{status: res.StatusCode, body: data}, nil
	}

	he := &HTTPError{Method: method, Path: path, Status: res.StatusCode, sentinel: sentinelFor(res.StatusCode)}
	he.ScimType, he.Detail = errorBody(res.Header.Get("Content-Type"), data, token)
	if res.StatusCode/100 == 3 {
		he.Detail = strings.TrimSpace(redirectNote(res, token) + " " + he.Detail)
	}
	// Belt and braces: every part above was redacted before it was cut.
	he.Detail = strings.ReplaceAll(he.Detail, token, "[REDACTED]")
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
		if d, ok := parseRetryAfter(res.Header.Get("Retry-After"), c.now()); ok {
			return nil, &identity.RetryAfterError{After: d, Err: he}
		}
	}
	return nil, he
}

// encodeQuery is url.Values.Encode with spaces as %20 rather than "+": both
// are valid, and %20 is what every service provider decodes the same way.
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "+", "%20")
}

// redirectNote says that the service provider redirected, and where to: a
// redirect is never followed, so the fix is the configuration's.
func redirectNote(res *http.Response, token string) string {
	loc := res.Header.Get("Location")
	if u, err := res.Location(); err == nil {
		loc = u.Redacted() // absolute, and without a password
	}
	if strings.TrimSpace(loc) == "" {
		return "the service provider redirected without a Location (partnerops never follows a redirect)."
	}
	return "the service provider redirected to " + clean(loc, 200, token) +
		"; partnerops never follows a redirect: set baseURL to the final URL."
}

// errorBody extracts scimType and detail from a SCIM error body, or a short
// text from a plain-text one, with secrets redacted.
func errorBody(contentType string, data []byte, token string) (scimType, detail string) {
	var e struct {
		ScimType string `json:"scimType"`
		Detail   string `json:"detail"`
	}
	if json.Unmarshal(data, &e) == nil {
		return clean(e.ScimType, 64, token), clean(e.Detail, 512, token)
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "text/plain" {
		return "", clean(string(data), 200, token)
	}
	return "", ""
}

// clean keeps at most n runes of s, printable ones, on one line, with the
// token and any bearer credential redacted. The order matters: dropping
// unprintable runes can join the pieces of a token, so redaction comes
// after it; and a cut through a token leaves a prefix that no longer
// matches it, so the cut comes last.
func clean(s string, n int, token string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	s = redact(s, token)
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// bearerCredential matches an RFC 6750 credential, "Bearer <b64token>"
// (submatch 1): a service provider that echoes an Authorization header may
// echo another token than the current one (an old one, after a rotation).
var bearerCredential = regexp.MustCompile(`(?i)\bbearer(?:\s+|%20|\+)([A-Za-z0-9\-._~+/]+=*)`)

// redact replaces the token, as it is and URL-escaped (a Location may carry
// it in a query), and every bearer credential in s.
func redact(s, token string) string {
	if token != "" {
		for _, t := range []string{token, url.QueryEscape(token), url.PathEscape(token)} {
			s = strings.ReplaceAll(s, t, "[REDACTED]")
		}
	}
	return bearerCredential.ReplaceAllStringFunc(s, func(m string) string {
		cred := bearerCredential.FindStringSubmatch(m)[1]
		if isWord(strings.TrimRight(cred, ".")) {
			return m // "Invalid bearer token." names no credential
		}
		return m[:len(m)-len(cred)] + "[REDACTED]"
	})
}

// isWord tells prose from a credential: a short run of letters only.
// Tokens are long, or hold digits or punctuation.
func isWord(s string) bool {
	if len(s) >= 20 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3), capped at MaxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
		if d < 0 {
			d = 0
		}
	} else {
		return 0, false
	}
	return min(d, MaxRetryAfter), true
}

// unwrapURLError drops the *url.Error layer (its text repeats the method
// and the whole URL) but keeps what it wraps for errors.Is.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactErr replaces any occurrence of token in err's text.
func redactErr(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), token, "[REDACTED]"), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// decode unmarshals a response body, mapping a body that is not JSON to
// ErrRejected (a base URL that is not a SCIM endpoint, typically).
func decode(method, path string, resp *response, v any) error {
	if err := json.Unmarshal(resp.body, v); err != nil {
		return fmt.Errorf("%w: %s %s: the response is not SCIM JSON: %w", identity.ErrRejected, method, path, err)
	}
	return nil
}

// filterValue quotes s as a SCIM filter string value: a JSON string (RFC
// 7644 §3.4.2.2), so `"` and `\` are escaped and control characters encoded.
func filterValue(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// listResponse is a SCIM ListResponse (RFC 7644 §3.4.2).
type listResponse[T any] struct {
	TotalResults *int `json:"totalResults"`
	StartIndex   *int `json:"startIndex"`
	ItemsPerPage *int `json:"itemsPerPage"`
	Resources    []T  `json:"Resources"`
}

// list GETs every resource of path matching query (filter, attributes, …),
// page by page (startIndex/count), until totalResults are read or a page is
// empty.
func list[T any](ctx context.Context, c *Client, path string, query url.Values, id func(T) string) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	start := 1
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("%w: GET %s: more than %d pages", identity.ErrRejected, path, maxPages)
		}
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		q.Set("startIndex", strconv.Itoa(start))
		q.Set("count", strconv.Itoa(c.pageSize))
		resp, err := c.do(ctx, http.MethodGet, path, q, nil)
		var he *HTTPError
		if errors.As(err, &he) && he.Status == http.StatusNotFound {
			// A query answers with a list, empty when nothing matches: a 404
			// says the endpoint is not there (a wrong baseURL, a proxy or
			// an ingress in a rollout), never that no resource matched.
			// Taken for "no such user", it would let a removal forget
			// memberships that stay.
			missing := *he
			missing.sentinel = identity.ErrUnavailable
			missing.Detail = strings.TrimSpace("a SCIM service provider answers a query with a list, even an empty one: check identityBackend.scim.baseURL and what stands in front of the service. " + he.Detail)
			return nil, &missing
		}
		if err != nil {
			return nil, err
		}
		var lr listResponse[T]
		if err := decode(http.MethodGet, path, resp, &lr); err != nil {
			return nil, err
		}
		if lr.StartIndex != nil && *lr.StartIndex != start && len(lr.Resources) > 0 {
			return nil, fmt.Errorf("%w: GET %s: asked for startIndex %d, got %d: the service provider does not paginate", identity.ErrRejected, path, start, *lr.StartIndex)
		}
		fresh := 0
		for _, r := range lr.Resources {
			if k := id(r); k == "" || !seen[k] {
				seen[k] = true
				all = append(all, r)
				fresh++
			}
		}
		switch {
		case len(lr.Resources) == 0:
			return all, nil
		case fresh == 0:
			// The same resources again: startIndex was ignored, and the
			// rest would never come (a user's membership missed is one
			// never removed).
			return nil, fmt.Errorf("%w: GET %s: the page at startIndex %d repeats the previous ones: the service provider does not paginate", identity.ErrRejected, path, start)
		}
		start += len(lr.Resources)
		// totalResults is required (RFC 7644 section 3.4.2); without it only
		// an empty page ends the list, as a page may be shorter than count.
		if lr.TotalResults != nil && start > *lr.TotalResults {
			return all, nil
		}
	}
}
