package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/token"
)

// links signs, for each invitation in idx, the link its email carries:
// the same claims the controller signs (namespace, name, UID, resend
// generation, expiry) with the keys of the manager's Secret. Reading the
// links out of thousands of emails would measure Mailpit's API instead.
func links(ctx context.Context, c client.Client, clk *followClock, secretNS string, namespaces []string, idx []int) ([]string, error) {
	sec := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: secretNS, Name: config.DefaultTokenKeysSecret}, sec); err != nil {
		return nil, err
	}
	keys, err := token.ParseKeys(sec.Data)
	if err != nil {
		return nil, err
	}
	signer := token.NewSigner(token.StaticKeys{K: keys}, clk)
	out := make([]string, len(idx))
	for k, i := range idx {
		inv := &v1alpha1.PartnerInvitation{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespaces[i%len(namespaces)], Name: invName(i)}, inv); err != nil {
			return nil, err
		}
		if inv.Status.ExpiresAt == nil {
			return nil, fmt.Errorf("%s has no expiresAt", inv.Name)
		}
		if out[k], err = signer.Sign(ctx, token.Claims{Namespace: inv.Namespace, Name: inv.Name, UID: string(inv.UID),
			Resend: inv.Status.ObservedResend, ExpiresAt: inv.Status.ExpiresAt.Time}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pageRun has clients clients request the page for each token (GET, or
// POST accept), each on its own kept-alive connection, and returns every
// request's latency and when each POST was answered.
func pageRun(ctx context.Context, base string, tokens []string, clients int, post bool) (lat []time.Duration, doneAt []time.Time, err error) {
	lat = make([]time.Duration, len(tokens))
	doneAt = make([]time.Time, len(tokens))
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			hc := &http.Client{
				Transport:     &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
				Timeout:       30 * time.Second,
			}
			defer hc.CloseIdleConnections()
			for k := w; k < len(tokens); k += clients {
				var req *http.Request
				if post {
					form := url.Values{"token": {tokens[k]}}.Encode()
					req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/invitations/accept", strings.NewReader(form))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				} else {
					req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/invitations/accept?token="+url.QueryEscape(tokens[k]), nil)
				}
				start := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					want := http.StatusOK
					if post {
						want = http.StatusSeeOther
					}
					if resp.StatusCode != want {
						err = fmt.Errorf("%s: %d, want %d", req.Method, resp.StatusCode, want)
					}
				}
				lat[k], doneAt[k] = time.Since(start), time.Now()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return lat, doneAt, first
}
