package invitation_test

import (
	"io"
	"maps"
	"net/http"
	"regexp"
	"testing"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
)

// acceptLink is the acceptance page's link in an email.
var acceptLink = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/invitations/accept\?token=[A-Za-z0-9._~%-]+`)

// TestPageReadsOnlyTheCacheAfterAStart: what the acceptance page reads (the
// invitation, its account, the namespace's display name, the link-signing
// keys) is cached from the manager's start, so that the first partner after
// a restart is not the one who waits for a whole kind to be listed (every
// namespace: some 200 ms under load): opening a link makes no read request
// to the API server.
func TestPageReadsOnlyTheCacheAfterAStart(t *testing.T) {
	h := start(t, managertest.WithPage("https://hub.globex.example/"))
	h.Account("globex")
	h.Invite("mindy", mindy)
	h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	sent := h.Sender.Sent()
	if len(sent) != 1 {
		t.Fatalf("%d emails sent, want 1", len(sent))
	}
	link := acceptLink.FindString(sent[0].Text)
	if link == "" {
		t.Fatalf("no link in the email:\n%s", sent[0].Text)
	}

	h.Restart()
	// The page starts once the cache has synced; wait until it answers.
	var before map[string]int
	h.Eventually("the page to answer after the restart", func() bool {
		resp, err := http.Get(h.Config.Acceptance.PublicURL + "/readyz-probe-of-the-test")
		if err != nil {
			return false
		}
		resp.Body.Close()
		before = maps.Clone(h.Requests.Reads())
		return true
	})
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET of the link: %d, want 200", resp.StatusCode)
	}
	for path, n := range h.Requests.Reads() {
		if n != before[path] {
			t.Errorf("opening the link read the API server: GET %s (%d times)", path, n-before[path])
		}
	}
}
