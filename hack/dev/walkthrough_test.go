//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/testenv"
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
)

// TestWalkthrough runs the README's five-minute walkthrough, so that it
// cannot rot: it starts dev as `make dev` does, runs the commands of the
// README's ```sh walkthrough blocks as they are written, in one bash
// session in the repository's root (only make dev's default addresses are
// rewritten to the ones this test's dev listens on), and between the
// blocks does what the README asks of a person: take the accept link from
// carlos's email in the mail catcher, open it and press "Accept and
// continue", as a browser does. It checks what the README says the
// commands show: the invitations sent and listed by `kubectl get partners`,
// their emails in Mailpit, then carlos Accepted, the account Active, and
// his grant in the SCIM server's groups.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds the manager and runs etcd, kube-apiserver and the manager")
	}
	root := testenv.RepoRoot()
	blocks := walkthroughBlocks(t, filepath.Join(root, "README.md"))
	if len(blocks) != 2 {
		t.Fatalf("README.md has %d ```sh walkthrough blocks, want 2 (invite, then check the grant after accepting in the browser)", len(blocks))
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
	)
	sh := startShell(t, root)

	// 1. Invite: apply the samples, see the invitations and their emails.
	out := sh.run(t, rewrite.Replace(blocks[0]), walkthroughTimeout)
	checkPartners(t, out)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^partnerinvitation\.partners\.partnerops\.dev/globex-amelie +\S+ +\S+ +\S+ +PendingApproval\b`),
		regexp.MustCompile(`(?m)^partnerinvitation\.partners\.partnerops\.dev/globex-carlos +\S+ +\S+ +\S+ +PendingApproval\b`),
		regexp.MustCompile(`"Address":"amelie\.dupont@globex\.example"`),
		regexp.MustCompile(`"Address":"carlos\.ruiz@globex\.example"`),
	} {
		if !want.MatchString(out) {
			t.Errorf("the walkthrough's first block printed no match for %s:\n%s", want, out)
		}
	}

	// 2. The email in the catcher, accepted in the browser.
	link := acceptLinkInMailpit(t, "http://"+mailpitAddr, "carlos.ruiz@globex.example")
	if printed := dev.waitForAcceptLinks(t, mailTimeout, "carlos.ruiz@globex.example"); printed["carlos.ruiz@globex.example"] != link {
		t.Errorf("dev printed the accept link %q for carlos, the email holds %q", printed["carlos.ruiz@globex.example"], link)
	}
	acceptInBrowser(t, link, hubURL)

	// 3. Accepted, Active, and the grant in the SCIM server.
	out = sh.run(t, rewrite.Replace(blocks[1]), walkthroughTimeout)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^partneraccount\.partners\.partnerops\.dev/globex +Globex Corporation +Active\b`),
		regexp.MustCompile(`(?m)^partnerinvitation\.partners\.partnerops\.dev/globex-carlos +carlos\.ruiz@globex\.example +globex +viewer +Accepted\b`),
		regexp.MustCompile(`"displayName":"partnerops\.acme\.insights\.viewer"`),
		regexp.MustCompile(`"display":"carlos\.ruiz@globex\.example"`),
	} {
		if !want.MatchString(out) {
			t.Errorf("the walkthrough's second block printed no match for %s:\n%s", want, out)
		}
	}
	// The README's curl line, with the token in place of $TOKEN, is the
	// line dev prints.
	token := secretToken(t, root, kubeconfig)
	for _, line := range strings.Split(rewrite.Replace(blocks[1]), "\n") {
		if strings.HasPrefix(line, "curl ") {
			printed := strings.ReplaceAll(line, "$TOKEN", token)
			if !dev.hasLine("  " + printed) {
				t.Errorf("the README's %q is not the line dev prints (%q with the token)", line, printed)
			}
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

func getJSONInto(t *testing.T, u string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(getBody(t, u)), v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// acceptForm finds the page's accept form: its method, its action and its
// hidden token field.
var acceptForm = regexp.MustCompile(`<form method="(post)" action="(accept)">\s*<input type="hidden" name="token" value="([^"]+)">`)

// acceptInBrowser does what a browser does when the partner opens link and
// presses "Accept and continue": GET the page, POST its form, follow the
// 303 to the Partner Hub.
func acceptInBrowser(t *testing.T, link, hubURL string) {
	t.Helper()
	page := getBody(t, link)
	if !strings.Contains(page, "Aceptar y continuar") {
		t.Errorf("the page of carlos's link (Spanish) has no \"Aceptar y continuar\" button:\n%s", page)
	}
	m := acceptForm.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page of the link has no accept form with a token field:\n%s", page)
	}
	page0, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if tok := page0.Query().Get("token"); m[3] != tok {
		t.Errorf("the accept form posts the token %q, the link holds %q", m[3], tok)
	}
	// The form's action, resolved against the page's URL as a browser does.
	action, err := url.Parse(m[2])
	if err != nil {
		t.Fatal(err)
	}
	u := page0.ResolveReference(action)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(m[1]), u.String(), strings.NewReader(url.Values{"token": {m[3]}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, bufio.NewReader(resp.Body))
	_ = resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, hubURL+"?") {
		t.Fatalf("POST %s: %s to %q, want 303 See Other to the Partner Hub %s", u, resp.Status, loc, hubURL)
	}
	if body := getBody(t, loc); !strings.Contains(body, "You landed in the Partner Hub for account <strong>globex</strong> of namespace <strong>acme</strong>.") {
		t.Errorf("the Partner Hub stand-in says:\n%s\nwant that the partner landed for account globex of namespace acme", body)
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
