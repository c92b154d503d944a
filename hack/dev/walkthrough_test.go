//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testpeers/browser"
)

// walkthroughTimeout bounds one block of the README's walkthrough (its
// kubectl wait commands carry their own, shorter, timeouts).
const walkthroughTimeout = 4 * time.Minute

// The addresses the README's walkthrough uses: make dev's defaults. The test
// runs dev on free ports instead (not to take a developer's running make
// dev), so it rewrites these into its own before running the commands.
const (
	readmeKubeconfig = "$PWD/bin/dev/kubeconfig"
	readmeMailpit    = "127.0.0.1:8025"
	readmeSCIM       = "127.0.0.1:8091"
	readmePlugin     = "bin/kubectl-partners"
	readmeDevDir     = "bin/dev/"
)

// docsImages makes TestWalkthrough write its pictures into docs/images/
// (make screenshots) rather than bin/screenshots/walkthrough/.
var docsImages = flag.Bool("docs-images", false, "TestWalkthrough: write the README's and docs' pictures into docs/images/ (make screenshots), once the test passed")

// TestWalkthrough runs the README's five-minute walkthrough, so that it
// cannot rot: it starts dev as `make dev` does, runs the commands of the
// README's ```sh walkthrough blocks as they are written, in one bash
// session in the repository's root (only make dev's default addresses are
// rewritten to the ones this test's dev listens on, bin/dev/ to a scratch
// directory and bin/kubectl-partners to the plugin built from this tree),
// and between the blocks does in headless Chromium what the README asks of
// a person: open
// Mailpit's inbox, open carlos's email, click its "Aceptar y continuar"
// (which opens the acceptance page in a new tab), press the page's button
// and land on the Partner Hub stand-in, taking the README's pictures on
// the way (see pictures). It checks what the README says the commands
// show: the invitations sent and listed by `kubectl get partners`; jane
// added to a copy of the sample account with `kubectl partners invite -f`,
// her invitation's email sent, and the resend raised in the file sending
// her, and nobody else, a second email; then carlos Accepted, the account
// Active, and his grant in the SCIM server's groups.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds the manager and runs etcd, kube-apiserver and the manager")
	}
	root := testenv.RepoRoot()
	blocks := walkthroughBlocks(t, filepath.Join(root, "README.md"))
	if len(blocks) != 3 {
		t.Fatalf("README.md has %d ```sh walkthrough blocks, want 3 (invite, add a user to the account's file and resend, then check the grant after accepting in the browser)", len(blocks))
	}
	if err := checkExecutable(filepath.Join(root, "bin", "kubectl")); err != nil {
		t.Fatalf("bin/kubectl: %v: hack/install-control-plane.sh builds it", err)
	}
	if defaultMailpit() == "" || defaultSCIMServer() == "" {
		t.Fatalf("no Mailpit or no SCIM server: hack/install-peers.sh installs them")
	}
	for _, tool := range []string{"node", "bash", "curl", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("no %s on PATH: %v", tool, err)
		}
	}
	if _, err := browser.Path(); err != nil {
		t.Fatalf("no Chromium: hack/install-peers.sh installs it: %v", err)
	}
	pics := newPictures(t, root)
	// make dev builds bin/kubectl-partners (make build); this test builds
	// the plugin of this tree instead, and gives the walkthrough a scratch
	// bin/dev/ of its own.
	plugin := goBuild(t, root, "./cmd/kubectl-partners", filepath.Join(t.TempDir(), "kubectl-partners"))
	scratch := t.TempDir()
	e := launchDev(t, root)
	dev, kubeconfig, mailpitAddr, scimAddr, hubURL := e.dev, e.kubeconfig, e.mailpitAddr, e.scimAddr, e.hubURL
	// The README's first command is the line dev prints.
	if !strings.Contains(blocks[0], "export KUBECONFIG="+readmeKubeconfig+"\n") {
		t.Errorf("the walkthrough does not start with export KUBECONFIG=%s, the line make dev prints", readmeKubeconfig)
	}
	rewrite := strings.NewReplacer(
		readmeKubeconfig, kubeconfig,
		readmeMailpit, mailpitAddr,
		readmeSCIM, scimAddr,
		readmePlugin, plugin,
		readmeDevDir, scratch+"/",
	)
	sh := startShell(t, root)

	// 1. Invite: apply the samples, see the invitations.
	out := sh.run(t, rewrite.Replace(blocks[0]), walkthroughTimeout)
	checkPartners(t, out)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^partnerinvitation\.partners\.partnerops\.dev/globex-amelie +\S+ +\S+ +\S+ +PendingApproval\b`),
		regexp.MustCompile(`(?m)^partnerinvitation\.partners\.partnerops\.dev/globex-carlos +\S+ +\S+ +\S+ +PendingApproval\b`),
	} {
		if !want.MatchString(out) {
			t.Errorf("the walkthrough's first block printed no match for %s:\n%s", want, out)
		}
	}

	// 2. Add a user in Git: jane into a copy of the account's manifest,
	// applied; her email sent; her entry's resend raised and applied: a
	// second email to her, and to nobody else.
	out = sh.run(t, rewrite.Replace(blocks[1]), walkthroughTimeout)
	const jane, janeInv = "jane.doe@globex.example", "globex-jane-doe-a47910df"
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^partneraccount/globex in ` + regexp.QuoteMeta(scratch) + `/\S+\.yaml: jane\.doe@globex\.example added to spec\.users \(its invitation: partnerinvitation/` + janeInv + `\)$`),
		regexp.MustCompile(`(?m)^partnerinvitation\.partners\.partnerops\.dev/` + janeInv + ` condition met$`),
		regexp.MustCompile(`(?m)^jane\.doe@globex\.example +fr +1 +\S+$`),
		regexp.MustCompile(`(?m)^(frank@eu\.globex\.example|hank\.scorpio@globex\.example|mindy@globex\.example) +\S+ +<none> +\S+$`),
		regexp.MustCompile(`(?m)^globex +Globex Corporation +PendingApproval +6 +\S+$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("the walkthrough's second block printed no match for %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "/"+janeInv+" condition met\n"); n != 3 {
		t.Errorf("the walkthrough's second block waited for %s %d times, want 3 (created, EmailSent, observedResend 1):\n%s", janeInv, n, out)
	}
	checkResentOnlyTo(t, "http://"+mailpitAddr, jane,
		"amelie.dupont@globex.example", "carlos.ruiz@globex.example",
		"hank.scorpio@globex.example", "mindy@globex.example", "frank@eu.globex.example")

	// 3. The email in the inbox, and 4. accepted in the browser, as a
	// person does it.
	const carlos = "carlos.ruiz@globex.example"
	link := acceptLinkInMailpit(t, "http://"+mailpitAddr, carlos)
	if printed := dev.waitForAcceptLinks(t, mailTimeout, carlos); printed[carlos] != link {
		t.Errorf("dev printed the accept link %q for carlos, the email holds %q", printed[carlos], link)
	}
	ctx := browser.New(t)
	clicked, page := openEmailInInbox(t, ctx, "http://"+mailpitAddr+"/", carlos, pics)
	if clicked != link {
		t.Errorf("the button of carlos's email in the inbox links to %q, the email holds %q", clicked, link)
	}
	acceptInBrowser(t, page, hubURL, pics)
	// The page in the other languages, for docs/acceptance-page.md: the
	// links of amelie's (French) and hank's (English) emails, opened (a GET
	// never changes anything).
	others := dev.waitForAcceptLinks(t, mailTimeout, "amelie.dupont@globex.example", "hank.scorpio@globex.example")
	for locale, to := range map[string]string{"fr": "amelie.dupont@globex.example", "en": "hank.scorpio@globex.example"} {
		openAcceptancePage(t, ctx, others[to], locale, pics)
	}

	// 5. Accepted, Active, and the grant in the SCIM server.
	out = sh.run(t, rewrite.Replace(blocks[2]), walkthroughTimeout)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^partneraccount\.partners\.partnerops\.dev/globex +Globex Corporation +Active\b`),
		regexp.MustCompile(`(?m)^partnerinvitation\.partners\.partnerops\.dev/globex-carlos +carlos\.ruiz@globex\.example +globex +viewer +Accepted\b`),
		regexp.MustCompile(`"displayName":"partnerops\.acme\.insights\.viewer"`),
		regexp.MustCompile(`"display":"carlos\.ruiz@globex\.example"`),
	} {
		if !want.MatchString(out) {
			t.Errorf("the walkthrough's third block printed no match for %s:\n%s", want, out)
		}
	}
	// The README's curl line, with the token in place of $TOKEN, is the
	// line dev prints.
	token := secretToken(t, root, kubeconfig)
	for _, line := range strings.Split(rewrite.Replace(blocks[2]), "\n") {
		if strings.HasPrefix(line, "curl ") {
			printed := strings.ReplaceAll(line, "$TOKEN", token)
			if !dev.hasLine("  " + printed) {
				t.Errorf("the README's %q is not the line dev prints (%q with the token)", line, printed)
			}
		}
	}

	for _, name := range docPictures {
		if !pics.taken[name] {
			t.Errorf("the walkthrough took no picture %s", name)
		}
	}

	sh.exit(t)
	if code := dev.interrupt(t, stopTimeout); code != 0 {
		t.Errorf("dev exited with status %d after SIGINT, want 0", code)
	}
}

// walkthroughBlocks returns the bodies of the ```sh walkthrough blocks of
// the Markdown file at path, in order.
func walkthroughBlocks(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh walkthrough":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if cur != nil {
		t.Fatalf("%s: a ```sh walkthrough block is not closed", path)
	}
	return blocks
}

// shell is one bash session, as in the terminal the README's reader types
// the walkthrough into: what one block exports, the next one sees.
type shell struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *output
	done  chan struct{}
	err   error
	n     int
}

func startShell(t *testing.T, dir string) *shell {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir = dir
	// $PWD is the repository's root, as in the README.
	cmd.Env = append(os.Environ(), "PWD="+dir, "NO_PROXY=*", "no_proxy=*")
	cmd.Env = slicesDeleteKubeconfig(cmd.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &output{changed: make(chan struct{}, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting bash: %v", err)
	}
	s := &shell{cmd: cmd, stdin: stdin, out: out, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	})
	// A command that fails ends the session, and the test with it.
	if _, err := io.WriteString(stdin, "set -eo pipefail\n"); err != nil {
		t.Fatal(err)
	}
	return s
}

// slicesDeleteKubeconfig drops KUBECONFIG from env: the walkthrough sets its own.
func slicesDeleteKubeconfig(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "KUBECONFIG=") {
			out = append(out, e)
		}
	}
	return out
}

// run types block into the session and returns what it printed, once
// every command in it ran.
func (s *shell) run(t *testing.T, block string, timeout time.Duration) string {
	t.Helper()
	for _, addr := range []string{readmeMailpit, readmeSCIM, "127.0.0.1:8082", "127.0.0.1:8090", "bin/dev/"} {
		if strings.Contains(block, addr) {
			t.Fatalf("a walkthrough block still names %s after the test's rewriting: it would use a developer's make dev:\n%s", addr, block)
		}
	}
	s.n++
	marker := fmt.Sprintf("__walkthrough_block_%d_done__", s.n)
	start := len(s.out.String())
	// A block's last line may lack an output newline; the marker starts its own line.
	if _, err := io.WriteString(s.stdin, block+"\necho\necho "+marker+"\n"); err != nil {
		t.Fatalf("typing into bash: %v", err)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		all := s.out.String()
		if i := strings.Index(all[start:], "\n"+marker+"\n"); i >= 0 {
			out := all[start : start+i+1]
			t.Logf("walkthrough block %d:\n%s\nprinted:\n%s", s.n, block, out)
			return out
		}
		select {
		case <-s.out.changed:
		case <-s.done:
			t.Fatalf("a command of walkthrough block %d failed (bash: %v):\n%s\nprinted:\n%s", s.n, s.err, block, s.out.String()[start:])
		case <-deadline.C:
			t.Fatalf("walkthrough block %d did not finish within %s:\n%s\nprinted:\n%s", s.n, timeout, block, s.out.String()[start:])
		}
	}
}

// exit ends the session.
func (s *shell) exit(t *testing.T) {
	t.Helper()
	_ = s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Errorf("bash did not exit when its input closed")
	}
}

// acceptLinkInMailpit reads the accept link of the email to recipient from
// Mailpit's REST API: the link of the HTML body's button, which must also be
// the text body's link.
func acceptLinkInMailpit(t *testing.T, apiURL, recipient string) string {
	t.Helper()
	var list struct {
		Messages []struct {
			ID string
			To []struct{ Address string }
		}
	}
	getJSONInto(t, apiURL+"/api/v1/messages?limit=100", &list)
	for _, m := range list.Messages {
		if len(m.To) != 1 || m.To[0].Address != recipient {
			continue
		}
		var msg struct{ Text, HTML string }
		getJSONInto(t, apiURL+"/api/v1/message/"+url.PathEscape(m.ID), &msg)
		html := acceptLink.FindString(msg.HTML)
		if html == "" {
			t.Fatalf("the email to %s has no accept link in its HTML body:\n%s", recipient, msg.HTML)
		}
		if text := acceptLink.FindString(msg.Text); text != html {
			t.Errorf("the email to %s links to %q in its HTML body and %q in its text", recipient, html, text)
		}
		return html
	}
	t.Fatalf("Mailpit holds no email to %s", recipient)
	return ""
}

// checkResentOnlyTo checks Mailpit's inbox once resent's second email is
// there: two emails to resent, with different accept links (the resend's
// link is a fresh one), and exactly one to each of others.
func checkResentOnlyTo(t *testing.T, apiURL, resent string, others ...string) {
	t.Helper()
	var ids map[string][]string
	deadline := time.Now().Add(mailTimeout)
	for {
		var list struct {
			Messages []struct {
				ID string
				To []struct{ Address string }
			}
		}
		getJSONInto(t, apiURL+"/api/v1/messages?limit=100", &list)
		ids = map[string][]string{}
		for _, m := range list.Messages {
			for _, to := range m.To {
				ids[to.Address] = append(ids[to.Address], m.ID)
			}
		}
		arrived := len(ids[resent]) >= 2
		for _, o := range others {
			arrived = arrived && len(ids[o]) >= 1
		}
		if arrived || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(ids[resent]) != 2 {
		t.Fatalf("Mailpit holds %d emails to %s, want 2 (the first and the resend's): %v", len(ids[resent]), resent, ids)
	}
	links := map[string]bool{}
	for _, id := range ids[resent] {
		var msg struct{ HTML string }
		getJSONInto(t, apiURL+"/api/v1/message/"+url.PathEscape(id), &msg)
		links[acceptLink.FindString(msg.HTML)] = true
	}
	if len(links) != 2 || links[""] {
		t.Errorf("the two emails to %s do not hold two different accept links: %v", resent, links)
	}
	for _, o := range others {
		if len(ids[o]) != 1 {
			t.Errorf("Mailpit holds %d emails to %s, want 1 (only %s was resent)", len(ids[o]), o, resent)
		}
	}
	if len(ids) != 1+len(others) {
		t.Errorf("Mailpit holds emails to %d addresses, want %d: %v", len(ids), 1+len(others), ids)
	}
}

func getJSONInto(t *testing.T, u string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(getBody(t, u)), v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// The README's pictures and docs/acceptance-page.md's, 1000x700 CSS pixels
// at scale 1 (TestDocsImages checks the docs show these, and only these,
// from docs/images/).
const (
	picEmail     = "inbox-email.png" // carlos's email open in Mailpit's inbox
	picHub       = "partner-hub.png" // the Partner Hub stand-in, landed on
	picPage      = "acceptance-"     // + locale + ".png": the acceptance page
	picWidth     = 1000
	picHeight    = 700
	picMaxHeight = 1100 // the email's picture, taller to show its button
	picMaxBytes  = 150 << 10
	picsDocsDir  = "docs/images" // with -docs-images
	picsTestDir  = "bin/screenshots/walkthrough"
)

// docPictures are the pictures the walkthrough takes for the docs.
var docPictures = []string{picEmail, picPage + "es.png", picHub, picPage + "en.png", picPage + "fr.png"}

// pictures are the walkthrough's screenshots, 1000x700 CSS pixels: into
// bin/screenshots/walkthrough/ (git-ignored), or with -docs-images into
// docs/images/, and then only once the whole test passed (a failed run
// leaves the docs' pictures as they were).
type pictures struct {
	dir   string
	taken map[string]bool
}

func newPictures(t *testing.T, root string) *pictures {
	t.Helper()
	if !*docsImages {
		dir := filepath.Join(root, filepath.FromSlash(picsTestDir))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return &pictures{dir: dir, taken: map[string]bool{}}
	}
	p := &pictures{dir: t.TempDir(), taken: map[string]bool{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the walkthrough failed: %s/ is left as it was", picsDocsDir)
			return
		}
		if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(picsDocsDir)), 0o755); err != nil {
			t.Error(err)
			return
		}
		for _, name := range docPictures {
			data, err := os.ReadFile(filepath.Join(p.dir, name))
			if err != nil {
				t.Errorf("the walkthrough took no picture %s: %v", name, err)
				continue
			}
			dst := filepath.Join(root, filepath.FromSlash(picsDocsDir), name)
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				t.Error(err)
				continue
			}
			t.Logf("wrote %s (%d KiB)", dst, len(data)>>10)
		}
	})
	return p
}

// take saves a screenshot of the tab's viewport as name, or of the top
// height CSS pixels of the page (at most picMaxHeight) when that is more.
func (p *pictures) take(t *testing.T, ctx context.Context, name string, height float64) {
	t.Helper()
	params := cdppage.CaptureScreenshotParams{FromSurface: ptrTo(true)}
	if height > picHeight {
		params.CaptureBeyondViewport = ptrTo(true)
		params.Clip = &cdppage.Viewport{Width: picWidth, Height: min(height, picMaxHeight), Scale: 1}
	}
	shot, err := chromedp.Call(ctx, cdppage.CaptureScreenshot, params)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, shot.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	p.taken[name] = true
	t.Logf("screenshot: %s (%d KiB)", path, len(shot.Data)>>10)
}

func ptrTo[T any](v T) *T { return &v }

// bottomOf is how far down the page the element css ends, in CSS pixels.
func bottomOf(t *testing.T, ctx context.Context, css string) float64 {
	t.Helper()
	y, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.scrollY + document.querySelector(`+strconv.Quote(css)+`).getBoundingClientRect().bottom`))
	if err != nil {
		t.Fatalf("where %s ends: %v", css, err)
	}
	return y
}

// sized makes the tab's viewport the pictures' size.
func sized(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(picWidth, picHeight, chromedp.EmulateScale(1))); err != nil {
		t.Fatal(err)
	}
}

// browserTimeout bounds each step in the browser; every wait in it is for
// something on the page.
const browserTimeout = time.Minute

// openEmailInInbox does what a person does in Mailpit's web UI: opens the
// inbox at inboxURL, finds the email to recipient in the list and clicks
// it; the email shows rendered (Mailpit shows its HTML in an iframe), and
// its picture is taken down to its accept button. Then it clicks that
// button, which Mailpit opens in a new tab, as it does every link of an
// email. It returns the button's link and the new tab.
func openEmailInInbox(t *testing.T, tab context.Context, inboxURL, recipient string, pics *pictures) (string, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserTimeout)
	defer cancel()
	sized(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(inboxURL)); err != nil {
		t.Fatalf("opening the inbox %s: %v", inboxURL, err)
	}
	// The list shows each email's recipient ("To: …"): the row to click.
	row, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
		const row = [...document.querySelectorAll("a.message")].find(a => a.innerText.includes(`+strconv.Quote(recipient)+`));
		return row ? row.getAttribute("href") : "";
	})()`, chromedp.WithPollingTimeout(browserTimeout)))
	if err != nil {
		t.Fatalf("the inbox at %s lists no email to %s: %v", inboxURL, recipient, err)
	}
	// Shown once Mailpit sized the iframe to the email (on its load).
	frame := chromedp.CSS(`#preview-html`)
	button := chromedp.CSS(`a[href*="/invitations/accept?token="]`)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a.message[href="`+row+`"]`)),
		chromedp.WaitVisible(frame),
		chromedp.Poll[chromedp.Void](`document.querySelector("#preview-html").style.height !== ""`, chromedp.WithPollingTimeout(browserTimeout)),
	); err != nil {
		t.Fatalf("opening the email to %s in the inbox: %v", recipient, err)
	}
	frames, err := chromedp.Run(ctx, chromedp.Nodes(frame, chromedp.NodeVisible))
	if err != nil {
		t.Fatal(err)
	}
	inFrame := chromedp.FromNode(frames[0])
	if err := chromedp.Do(ctx, chromedp.WaitVisible(button, inFrame)); err != nil {
		t.Fatalf("the email to %s, as the inbox shows it, has no accept button: %v", recipient, err)
	}
	attrs, err := chromedp.Run(ctx, chromedp.Attributes(button, inFrame))
	if err != nil {
		t.Fatal(err)
	}
	bottom, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(() => {
		const f = document.querySelector("#preview-html");
		const a = f.contentDocument.querySelector('a[href*="/invitations/accept?token="]');
		return window.scrollY + f.getBoundingClientRect().top + a.getBoundingClientRect().bottom;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	pics.take(t, ctx, picEmail, bottom+32)

	// The click opens the link in a new tab: follow that tab.
	opened := chromedp.WaitNewTarget(ctx, func(info *target.Info) bool {
		return strings.Contains(info.URL, "/invitations/accept?token=")
	})
	if err := chromedp.Do(ctx, chromedp.Click(button, inFrame)); err != nil {
		t.Fatalf("clicking the accept button in the email: %v", err)
	}
	var id target.ID
	select {
	case id = <-opened:
	case <-ctx.Done():
		t.Fatalf("clicking the accept button in the email opened no tab at the acceptance page")
	}
	page, closePage := chromedp.NewContext(tab, chromedp.WithTargetID(id))
	t.Cleanup(closePage)
	return attrs["href"], page
}

// pageLanguage is the language of the page in the tab and its main text.
func pageLanguage(t *testing.T, ctx context.Context) (lang, text string) {
	t.Helper()
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	if err == nil {
		text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
	}
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return lang, text
}

// acceptInBrowser does step 4 in the tab the email's button opened: the
// acceptance page shows carlos's invitation in Spanish; pressing "Aceptar
// y continuar" lands on the Partner Hub stand-in, which says for which
// account and namespace.
func acceptInBrowser(t *testing.T, tab context.Context, hubURL string, pics *pictures) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserTimeout)
	defer cancel()
	sized(t, ctx)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`main[data-page="invitation"] form[action="accept"] button`))); err != nil {
		t.Fatalf("the tab the email's button opened shows no invitation: %v", err)
	}
	if lang, text := pageLanguage(t, ctx); lang != "es" || !strings.Contains(text, "Aceptar y continuar") || !strings.Contains(text, "Acme Corporation") {
		t.Errorf("the page of carlos's link is in %q, want Spanish with \"Aceptar y continuar\" and Acme Corporation:\n%s", lang, text)
	}
	pics.take(t, ctx, picPage+"es.png", bottomOf(t, ctx, "main")+48)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="accept"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.note`)),
	); err != nil {
		t.Fatalf("pressing \"Aceptar y continuar\": %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`body`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, hubURL+"?") || !strings.Contains(text, "You landed in the Partner Hub for account globex of namespace acme.") {
		t.Fatalf("after accepting, the browser is at %s, which says:\n%s\nwant the Partner Hub %s saying the partner landed for account globex of namespace acme", loc, text, hubURL)
	}
	pics.take(t, ctx, picHub, 0)
}

// openAcceptancePage opens link in a new tab and takes the acceptance
// page's picture in locale.
func openAcceptancePage(t *testing.T, tab context.Context, link, locale string, pics *pictures) {
	t.Helper()
	page, closePage := chromedp.NewContext(tab)
	defer closePage()
	ctx, cancel := context.WithTimeout(page, browserTimeout)
	defer cancel()
	sized(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`main[data-page="invitation"] form[action="accept"] button`))); err != nil {
		t.Fatalf("opening %s: %v", link, err)
	}
	if lang, _ := pageLanguage(t, ctx); lang != locale {
		t.Errorf("the page of %s is in %q, want %q", link, lang, locale)
	}
	pics.take(t, ctx, picPage+locale+".png", bottomOf(t, ctx, "main")+48)
}

// TestDocsImages checks the pictures the docs show: README.md shows the
// walkthrough's email, page and Partner Hub, docs/acceptance-page.md the
// page in each language, all from docs/images/, where TestWalkthrough
// -docs-images (make screenshots) writes them; each is there, a PNG of the
// walkthrough's width and at most 150 KiB, and docs/images/ holds nothing
// else.
func TestDocsImages(t *testing.T) {
	root := testenv.RepoRoot()
	want := map[string][]string{
		"README.md":               {picEmail, picPage + "es.png", picHub},
		"docs/acceptance-page.md": {picPage + "en.png", picPage + "fr.png", picPage + "es.png"},
	}
	image := regexp.MustCompile(`!\[([^\]]*)\]\(([^)\s]+)\)`)
	shown := map[string]bool{}
	for doc, names := range want {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(doc)))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range image.FindAllStringSubmatch(string(data), -1) {
			p := path.Join(path.Dir(doc), m[2])
			if strings.TrimSpace(m[1]) == "" {
				t.Errorf("%s shows %s without a text saying what it shows", doc, m[2])
			}
			if path.Dir(p) != picsDocsDir {
				t.Errorf("%s shows %s, which is not in %s/", doc, m[2], picsDocsDir)
				continue
			}
			got = append(got, path.Base(p))
			shown[path.Base(p)] = true
		}
		if !slices.Equal(got, names) {
			t.Errorf("%s shows the pictures %q, want %q", doc, got, names)
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(picsDocsDir)))
	if err != nil {
		t.Fatal(err)
	}
	var there []string
	for _, e := range entries {
		there = append(there, e.Name())
		if !slices.Contains(docPictures, e.Name()) {
			t.Errorf("%s/%s is not a picture the walkthrough takes (make screenshots would not update it)", picsDocsDir, e.Name())
			continue
		}
		if !shown[e.Name()] {
			t.Errorf("%s/%s is shown by no doc", picsDocsDir, e.Name())
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(picsDocsDir), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		switch {
		case err != nil:
			t.Errorf("%s/%s is not a PNG: %v", picsDocsDir, e.Name(), err)
		case cfg.Width != picWidth || cfg.Height < picHeight || cfg.Height > picMaxHeight:
			t.Errorf("%s/%s is %dx%d, want %d wide and %d to %d high: make screenshots takes it", picsDocsDir, e.Name(), cfg.Width, cfg.Height, picWidth, picHeight, picMaxHeight)
		}
		if len(data) > picMaxBytes {
			t.Errorf("%s/%s is %d KiB, more than %d KiB", picsDocsDir, e.Name(), len(data)>>10, picMaxBytes>>10)
		}
	}
	for _, name := range docPictures {
		if !slices.Contains(there, name) {
			t.Errorf("%s/%s is missing: make screenshots writes it", picsDocsDir, name)
		}
	}
}

// TestTroubleshootingListsEveryReason checks that docs/troubleshooting.md
// has a table row for every Reason constant of api/v1alpha1/conditions.go,
// so that a new reason cannot go undocumented.
func TestTroubleshootingListsEveryReason(t *testing.T) {
	root := testenv.RepoRoot()
	src, err := os.ReadFile(filepath.Join(root, "api", "v1alpha1", "conditions.go"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	reasons := regexp.MustCompile(`(?m)^\s*Reason\w+\s*=\s*"(\w+)"`).FindAllStringSubmatch(string(src), -1)
	if len(reasons) < 20 {
		t.Fatalf("found only %d Reason constants in api/v1alpha1/conditions.go: the pattern is stale", len(reasons))
	}
	for _, r := range reasons {
		if !bytes.Contains(doc, []byte("\n| `"+r[1]+"` |")) {
			t.Errorf("docs/troubleshooting.md has no table row for the reason %s", r[1])
		}
	}
}
