package invitation_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
	"github.com/partnerops/partnerops/internal/testpeers/browser"
	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
)

// partnerHub stands in for the customer's Partner Hub: it records where
// each partner lands.
type partnerHub struct {
	*httptest.Server
	landed chan url.Values
}

func startPartnerHub(t *testing.T) *partnerHub {
	t.Helper()
	h := &partnerHub{landed: make(chan url.Values, 16)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hub" {
			http.NotFound(w, r)
			return
		}
		h.landed <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>Partner Hub</title><h1 id="hub">Welcome to the Partner Hub</h1>`)
	}))
	t.Cleanup(h.Close)
	return h
}

// screenshotDir is where the page's screenshots go for people to look at.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(), "bin", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(screenshotDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// linkFromEmail waits for the invitation email to addr in Mailpit and
// returns the accept link a person would click in its HTML body.
func linkFromEmail(t *testing.T, mp *mailpit.Server, addr string) string {
	t.Helper()
	sums := mp.WaitFor(t, addr, 1, 30*time.Second)
	msg, err := mp.Message(context.Background(), sums[len(sums)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	link := strings.ReplaceAll(linkRE.FindString(msg.HTML), "&amp;", "&")
	if link == "" {
		t.Fatalf("no accept link in the HTML body of the email to %s:\n%s", addr, msg.HTML)
	}
	return link
}

// pageFacts is what the test reads from the rendered page.
type pageFacts struct {
	Lang, Page, Text string
	MaxWidth         string
	ScrollWidth      int
	InnerWidth       int
}

func readPage(t *testing.T, ctx context.Context) pageFacts {
	t.Helper()
	f, err := chromedp.Run(ctx, chromedp.Evaluate[pageFacts](`({
		Lang: document.documentElement.lang,
		Page: document.querySelector("main").dataset.page,
		Text: document.body.innerText,
		MaxWidth: getComputedStyle(document.querySelector("main")).maxWidth,
		ScrollWidth: document.documentElement.scrollWidth,
		InnerWidth: window.innerWidth,
	})`))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return f
}

// openLink opens link in a new browser and reads the page it shows; the
// link must answer status.
func openLink(t *testing.T, link string, status int) (context.Context, pageFacts) {
	t.Helper()
	ctx := browser.New(t)
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(link))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != int64(status) {
		t.Errorf("the link answered %d, want %d", resp.Status, status)
	}
	return ctx, readPage(t, ctx)
}

// TestAcceptInABrowser is the partner's whole journey in headless Chromium:
// the real email arrives in Mailpit, its link opens the page (on a desktop
// and on a phone-sized screen, screenshots under bin/screenshots/), the
// partner clicks "Accept and continue", lands on the Partner Hub with the
// account as context, and the API shows the invitation Accepted. Another
// partner declines; a third opens a link that has expired.
func TestAcceptInABrowser(t *testing.T) {
	mp := mailpit.Start(t)
	hub := startPartnerHub(t)
	h := start(t, managertest.WithDisplayName("Acme Corporation"), withMailpit(mp), managertest.WithPage(hub.URL+"/hub"))
	h.Account("globex")

	cases := []struct {
		locale, accept, role, system, expires string
	}{
		{"en", "Accept and continue", "Editor", "Insights", "30 November 2026"},
		{"fr", "Accepter et continuer", "Éditeur", "Analyses", "30 novembre 2026"},
		{"es", "Aceptar y continuar", "Editor", "Análisis", "30 de noviembre de 2026"},
	}
	for _, tc := range cases {
		t.Run("accept/"+tc.locale, func(t *testing.T) {
			addr := "mindy." + tc.locale + "@globex.example"
			inv := h.Invite("mindy-"+tc.locale, addr, func(i *v1alpha1.PartnerInvitation) {
				i.Spec.Locale = v1alpha1.Locale(tc.locale)
				i.Spec.Message = "Looking forward to working with you.\nMindy"
			})
			link := linkFromEmail(t, mp, addr)
			h.WaitState(inv.Name, v1alpha1.InvitationPendingApproval)

			ctx, f := openLink(t, link, http.StatusOK)
			if f.Lang != tc.locale || f.Page != "invitation" {
				t.Errorf("page %q in %q, want the invitation in %q", f.Page, f.Lang, tc.locale)
			}
			for _, want := range []string{"Acme Corporation", "Globex Corporation", tc.role, tc.system, tc.expires, tc.accept, "Looking forward to working with you."} {
				if !strings.Contains(f.Text, want) {
					t.Errorf("the page does not show %q:\n%s", want, f.Text)
				}
			}
			if f.MaxWidth != "576px" {
				t.Errorf("the page's style did not apply (main max-width %q): is the CSP refusing it?", f.MaxWidth)
			}
			saveScreenshot(t, ctx, "acceptance-"+tc.locale)

			// Readable on a phone: nothing wider than the screen.
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2))); err != nil {
				t.Fatal(err)
			}
			if f := readPage(t, ctx); f.ScrollWidth > f.InnerWidth {
				t.Errorf("on a 390px-wide phone the page is %dpx wide: it scrolls sideways", f.ScrollWidth)
			}
			saveScreenshot(t, ctx, "acceptance-"+tc.locale+"-phone")
			if err := chromedp.Do(ctx, chromedp.ResetViewport()); err != nil {
				t.Fatal(err)
			}

			if h.Invitation(inv.Name).Status.State != v1alpha1.InvitationPendingApproval {
				t.Fatal("opening the page changed the invitation: a GET must never accept")
			}

			// Click "Accept and continue": the browser lands on the Hub.
			if err := chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`form[action="accept"] button`)),
				chromedp.WaitVisible(chromedp.ID("hub")),
			); err != nil {
				t.Fatalf("accepting: %v", err)
			}
			select {
			case q := <-hub.landed:
				if q.Get("namespace") != h.NS || q.Get("account") != "globex" {
					t.Errorf("landed on the Hub with %v, want namespace %s and account globex", q, h.NS)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the Partner Hub saw no visit")
			}
			h.WaitState(inv.Name, v1alpha1.InvitationAccepted)
			// The controller's own writes that follow (the finalizer, the
			// grants) are done before the link is opened again.
			got := h.WaitCondition(inv.Name, v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)
			if got.Status.AcceptedAt == nil || !meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionAccepted) {
				t.Errorf("accepted invitation status: %+v", got.Status)
			}

			// The link again (another device, a week later): the page says
			// it is done and leads to the Hub; nothing is written again.
			if err := chromedp.Do(ctx, chromedp.Navigate(link),
				chromedp.WaitVisible(chromedp.CSS(`main[data-page="accepted"]`))); err != nil {
				t.Fatalf("opening the link again: %v", err)
			}
			saveScreenshot(t, ctx, "acceptance-"+tc.locale+"-already-accepted")
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`main a.button`)),
				chromedp.WaitVisible(chromedp.ID("hub"))); err != nil {
				t.Fatalf("following the link to the Hub: %v", err)
			}
			<-hub.landed
			if again := h.Invitation(inv.Name); again.ResourceVersion != got.ResourceVersion {
				t.Errorf("opening the link again wrote the invitation (resourceVersion %s -> %s)", got.ResourceVersion, again.ResourceVersion)
			}
		})
	}

	t.Run("decline", func(t *testing.T) {
		addr := "nobody@globex.example"
		inv := h.Invite("nobody", addr)
		link := linkFromEmail(t, mp, addr)
		ctx := browser.New(t)
		if err := chromedp.Do(ctx, chromedp.Navigate(link),
			chromedp.Click(chromedp.CSS(`form[action="decline"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`main[data-page="declined"]`)),
		); err != nil {
			t.Fatalf("declining: %v", err)
		}
		if f := readPage(t, ctx); !strings.Contains(f.Text, "You declined the invitation") {
			t.Errorf("the declined page says:\n%s", f.Text)
		}
		saveScreenshot(t, ctx, "acceptance-declined-en")
		h.WaitCondition(inv.Name, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonDeclined)
		if got := h.Invitation(inv.Name); got.Status.State != v1alpha1.InvitationRevoked {
			t.Errorf("state %s after declining, want Revoked", got.Status.State)
		}
	})

	t.Run("expired", func(t *testing.T) {
		addr := "late@globex.example"
		inv := h.Invite("late", addr, func(i *v1alpha1.PartnerInvitation) {
			i.Spec.TTL = "1h"
		})
		link := linkFromEmail(t, mp, addr)
		pending := h.WaitState(inv.Name, v1alpha1.InvitationPendingApproval)
		h.Clock.SetTime(pending.Status.ExpiresAt.Add(time.Second))
		ctx, f := openLink(t, link, http.StatusGone)
		if f.Page != "expired" || !strings.Contains(f.Text, "Acme Corporation") {
			t.Errorf("the expired page (%q) says:\n%s", f.Page, f.Text)
		}
		saveScreenshot(t, ctx, "acceptance-expired-en")
	})
}
