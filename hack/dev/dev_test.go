//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/testenv"
)

const (
	readyTimeout = 2 * time.Minute
	stopTimeout  = 60 * time.Second
	// mailTimeout bounds the wait for the samples' emails to be printed and
	// their invitations to be PendingApproval.
	mailTimeout = time.Minute
)

// TestDev runs dev as `make dev` does, uses the environment as its
// instructions say (sees the samples' emails arrive, lists the SCIM
// server's groups and users with the printed curl lines, opens the Partner
// Hub stand-in), stops it as Ctrl-C in a terminal does, and checks that it
// leaves no process behind. It does not wait for grants to land: that is
// the grant controller's tests' business.
func TestDev(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds the manager and runs etcd, kube-apiserver and the manager")
	}
	root := testenv.RepoRoot()
	if err := checkExecutable(filepath.Join(root, "bin", "kubectl")); err != nil {
		t.Fatalf("bin/kubectl: %v: hack/install-control-plane.sh builds it", err)
	}
	if defaultMailpit() == "" {
		t.Fatalf("no Mailpit ($MAILPIT is not set, none under bin/tools/mailpit/): hack/install-peers.sh builds it")
	}
	if defaultSCIMServer() == "" {
		t.Fatalf("no SCIM server ($SCIM_SERVER is not set, none for the current hack/scim-server under bin/tools/scim-server/): hack/install-peers.sh installs it")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("no node on PATH for the SCIM server: hack/install-peers.sh installs it: %v", err)
	}
	e := launchDev(t, root)
	dev, kubeconfig, stateDir := e.dev, e.kubeconfig, e.stateDir
	metricsAddr, probeAddr, smtpAddr, mailpitAddr := e.metricsAddr, e.probeAddr, e.smtpAddr, e.mailpitAddr
	scimURL, hubURL := e.scimURL, e.hubURL
	// What dev started, recorded while it runs: none of it may outlive it.
	children := descendants(t, dev.cmd.Process.Pid)

	t.Run("instructions", func(t *testing.T) {
		for _, want := range []string{
			"partnerops dev environment is ready.",
			"  bin/kubectl apply -f config/samples/",
			"  bin/kubectl get partners -n acme",
			"Mail catcher (Mailpit): the manager's emails go to SMTP " + smtpAddr + "; read them in the inbox at",
			"  http://" + mailpitAddr + "/",
			`Each email is printed here as it arrives ("mail    | " lines), with its accept link; the first`,
			"Identity backend: the SCIM 2.0 server of hack/scim-server at " + scimURL + ".",
			"Its token is new at each start (dev put it in the Secret partnerops-system/partnerops-dev-scim-token, key token).",
			"It keeps them in memory only: stopping dev forgets them, while etcd keeps the invitations. After a",
			`Partner Hub (a stand-in dev serves): ` + hubURL + `, where "Accept and continue" lands.`,
			"Metrics: http://" + metricsAddr + "/metrics   Health: http://" + probeAddr + "/readyz",
			"Press Ctrl-C to stop everything.",
		} {
			if !dev.hasLine(want) {
				t.Errorf("dev's output has no line %q", want)
			}
		}
		if !dev.hasLinePrefix(managerPrefix) {
			t.Errorf("dev's output has no line of the manager's, prefixed %q", managerPrefix)
		}
	})
	t.Run("scim", func(t *testing.T) {
		// The token in the Secret the manager reads is the one the SCIM
		// server takes, and the one in the printed curl lines.
		token := secretToken(t, root, kubeconfig)
		if len(token) < 32 {
			t.Fatalf("the Secret's token %q is too short for a random token", token)
		}
		for _, resource := range []string{"Groups", "Users"} {
			want := `curl -s -H "Authorization: Bearer ` + token + `" ` + scimURL + "/" + resource
			if !dev.hasLine("  " + want) {
				t.Errorf("dev's output has no line %q", "  "+want)
			}
			// Run the printed line as it is.
			out := runCurl(t, want)
			var list struct {
				Schemas      []string `json:"schemas"`
				TotalResults *int     `json:"totalResults"`
			}
			if err := json.Unmarshal([]byte(out), &list); err != nil || list.TotalResults == nil ||
				!slices.Contains(list.Schemas, "urn:ietf:params:scim:api:messages:2.0:ListResponse") {
				t.Errorf("%s printed %q, want a SCIM ListResponse (%v)", want, out, err)
			}
			if code, _ := get(t, scimURL+"/"+resource, "Bearer not-"+token); code != http.StatusUnauthorized {
				t.Errorf("GET %s/%s with another token: %d, want 401", scimURL, resource, code)
			}
		}
		running := false
		for _, p := range processesMentioning(t, stateDir) {
			running = running || p.name() == "node"
		}
		if !running {
			t.Errorf("no process named node mentions the state directory %s on its command line", stateDir)
		}
		// The token goes by environment, never on a command line.
		for _, p := range processesMentioning(t, token) {
			t.Errorf("the SCIM token is on the command line of %s", strings.Join(p.argv, " "))
		}
	})
	t.Run("hub", func(t *testing.T) {
		body := getBody(t, hubURL+"?"+url.Values{"namespace": {"acme"}, "account": {"globex"}}.Encode())
		if !strings.Contains(body, "You landed in the Partner Hub for account <strong>globex</strong> of namespace <strong>acme</strong>.") {
			t.Errorf("the Partner Hub stand-in says:\n%s\nwant that the partner landed for account globex of namespace acme", body)
		}
		dev.waitForLine(t, hubPrefix+`a partner landed in the Partner Hub for account "globex" of namespace "acme"`, 10*time.Second)
		// What comes from the query is escaped.
		body = getBody(t, hubURL+"?"+url.Values{"namespace": {"acme"}, "account": {"<script>x</script>"}}.Encode())
		if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;x&lt;/script&gt;") {
			t.Errorf("the Partner Hub stand-in does not escape the account it is given:\n%s", body)
		}
	})
	t.Run("kubeconfig", func(t *testing.T) {
		checkKubeconfig(t, root, kubeconfig, filepath.Join(stateDir, "kubeconfig"))
	})
	t.Run("metrics", func(t *testing.T) {
		getBody(t, "http://"+metricsAddr+"/metrics")
	})
	t.Run("samples", func(t *testing.T) {
		kubectl(t, root, kubeconfig, "apply", "-f", "config/samples/")
		// ACCOUNT is status.account, which the controller writes (for
		// globex-carlos, which names no account, the one its domain chose).
		kubectl(t, root, kubeconfig, "wait", "--for=jsonpath={.status.account}=globex", "pinv/globex-amelie", "pinv/globex-carlos", "-n", "acme", "--timeout=2m")
		checkPartners(t, kubectl(t, root, kubeconfig, "get", "partners", "-n", "acme"))
	})
	t.Run("emails", func(t *testing.T) {
		// The standalone invitations send their emails; the account's users
		// will too once the account controller creates their invitations.
		links := dev.waitForAcceptLinks(t, mailTimeout, "amelie.dupont@globex.example", "carlos.ruiz@globex.example")
		for to, l := range links {
			if !acceptLinkLine.MatchString(l) {
				t.Errorf("the accept link printed for %s is %q, want an http URL of /invitations/accept?token=…", to, l)
			}
		}
		waitForPendingApproval(t, root, kubeconfig, mailTimeout, "globex-amelie", "globex-carlos")

		// The first email printed, and it alone, comes with the line that
		// opens it in Mailpit's inbox.
		opens := dev.inboxLinks()
		if len(opens) != 1 {
			t.Fatalf("dev printed %d lines %q, want 1, for the first email: %+v", len(opens), mailPrefix+inboxLine, opens)
		}
		first := opens[0]
		if first.block != 0 {
			t.Errorf("dev printed %q for email %d, want it for the first", mailPrefix+inboxLine+first.url, first.block+1)
		}
		var list struct {
			Messages []struct {
				ID string
				To []struct{ Address string }
			}
		}
		getJSONInto(t, "http://"+mailpitAddr+"/api/v1/messages?limit=100", &list)
		var want []string
		for _, m := range list.Messages {
			if len(m.To) == 1 && len(first.to) == 1 && m.To[0].Address == first.to[0] {
				want = append(want, "http://"+mailpitAddr+"/view/"+m.ID)
			}
		}
		if len(want) != 1 || first.url != want[0] {
			t.Errorf("dev printed %q for the email to %s, want the address of that email in the inbox, %q", first.url, first.to, want)
		}
		if page := getBody(t, first.url); !strings.Contains(page, `<script src="/dist/app.js`) {
			t.Errorf("GET %s is not the page of Mailpit's web UI:\n%s", first.url, page)
		}
	})
	t.Run("mailpit", func(t *testing.T) {
		getBody(t, "http://"+mailpitAddr+"/api/v1/messages")
		// The inbox: the web UI's page, and the script it runs.
		if page := getBody(t, "http://"+mailpitAddr+"/"); !strings.Contains(page, `<script src="/dist/app.js`) {
			t.Errorf("GET http://%s/ is not the page of Mailpit's web UI:\n%s", mailpitAddr, page)
		}
		if script := getBody(t, "http://"+mailpitAddr+"/dist/app.js"); len(script) < 1000 {
			t.Errorf("GET http://%s/dist/app.js: %d bytes, want the web UI's script: is this Mailpit built without its web UI?", mailpitAddr, len(script))
		}
		up := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(devPrefix) + `Mailpit v\S+ is up: SMTP ` + regexp.QuoteMeta(smtpAddr) +
			`, inbox ` + regexp.QuoteMeta("http://"+mailpitAddr+"/") + `, REST API ` + regexp.QuoteMeta("http://"+mailpitAddr+"/api/v1/") + ` \(0 earlier messages`)
		if out := dev.out.String(); !up.MatchString(out) || strings.Contains(out, "has no web UI") {
			t.Errorf("dev's output has no line matching %s, or says Mailpit has no web UI", up)
		}
		running := false
		for _, p := range processesMentioning(t, stateDir) {
			running = running || p.name() == "mailpit"
		}
		if !running {
			t.Errorf("no process named mailpit mentions the state directory %s on its command line", stateDir)
		}
	})

	code := dev.interrupt(t, stopTimeout)
	if code != 0 {
		t.Errorf("dev exited with status %d after SIGINT, want 0", code)
	}
	for _, p := range children {
		if p.running() {
			t.Errorf("%s (pid %d), started by dev, still runs after dev exited", strings.Join(p.argv, " "), p.pid)
			_ = syscall.Kill(p.pid, syscall.SIGKILL) // not to leak it
		}
	}
	var names []string
	for _, p := range children {
		names = append(names, filepath.Base(p.argv[0]))
	}
	for _, want := range []string{"etcd", "kube-apiserver", "mailpit", "node", "partnerops"} {
		if !slices.Contains(names, want) {
			t.Errorf("the processes dev ran are %q: no %s among them, so the check that none outlives dev misses it", names, want)
		}
	}
	if left := processesMentioning(t, stateDir); len(left) > 0 {
		var lines []string
		for _, p := range left {
			lines = append(lines, strings.Join(p.argv, " "))
			_ = syscall.Kill(p.pid, syscall.SIGKILL) // not to leak them
		}
		t.Errorf("processes left behind after dev exited:\n%s", strings.Join(lines, "\n"))
	}
	if _, err := os.Stat(kubeconfig); err != nil {
		t.Errorf("the kubeconfig should stay after dev stops: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(stateDir, "logs", "mailpit.log")); err != nil || fi.Size() == 0 {
		t.Errorf("Mailpit's log should be in logs/mailpit.log of the state directory, not empty (%v)", err)
	}
	if b, err := os.ReadFile(filepath.Join(stateDir, "logs", "scim-server.log")); err != nil || !bytes.Contains(b, []byte("GET /scim/v2/Groups 200")) {
		t.Errorf("the SCIM server's log should be in logs/scim-server.log of the state directory, with the requests (%v):\n%s", err, b)
	}
}

// TestPreflightBusyPorts checks that dev refuses to start, naming what to
// change, when the SCIM server's or the Partner Hub stand-in's port is
// taken, before it starts anything.
func TestPreflightBusyPorts(t *testing.T) {
	root := testenv.RepoRoot()
	if defaultMailpit() == "" || defaultSCIMServer() == "" {
		t.Fatalf("no Mailpit or no SCIM server: hack/install-peers.sh installs them")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, busy := range []string{"scim", "hub"} {
		t.Run(busy, func(t *testing.T) {
			tmp := t.TempDir()
			addrs := freeLoopbackAddrs(t, 7)
			o := &options{
				root: root, manager: self, mailpit: defaultMailpit(), scimServer: defaultSCIMServer(),
				metricsAddr: addrs[0], probeAddr: addrs[1], mailpitSMTPAddr: addrs[3], mailpitHTTPAddr: addrs[4], scimAddr: addrs[5],
				config: devConfig(t, root, tmp, addrs[2], addrs[3], "http://"+addrs[5]+"/scim/v2", "http://"+addrs[6]+"/hub"),
			}
			taken, want := addrs[5], "--scim-address: cannot listen on "+addrs[5]
			if busy == "hub" {
				taken, want = addrs[6], "acceptance.partnerHubURL in "+o.config+" (dev serves a Partner Hub stand-in there): cannot listen on "+addrs[6]
			}
			l, err := net.Listen("tcp", taken)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = l.Close() }()
			if _, _, err := preflight(o); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("preflight with %s taken: %v, want an error with %q", taken, err, want)
			}
		})
	}
}

// goBuild builds pkg of the repository into out.
// devEnv is one running dev program on free loopback ports.
type devEnv struct {
	dev                                              *devProcess
	kubeconfig, stateDir                             string
	metricsAddr, probeAddr, acceptanceAddr, smtpAddr string
	mailpitAddr, scimAddr, hubAddr, scimURL, hubURL  string
}

// launchDev builds the manager and starts dev with every address on a free
// loopback port (never make dev's defaults), and waits until it prints the
// kubeconfig line.
func launchDev(t *testing.T, root string) *devEnv {
	t.Helper()
	tmp := t.TempDir()
	a := freeLoopbackAddrs(t, 7)
	e := &devEnv{stateDir: filepath.Join(tmp, "state"),
		metricsAddr: a[0], probeAddr: a[1], acceptanceAddr: a[2], smtpAddr: a[3], mailpitAddr: a[4], scimAddr: a[5], hubAddr: a[6]}
	e.scimURL, e.hubURL = "http://"+e.scimAddr+"/scim/v2", "http://"+e.hubAddr+"/hub"
	e.dev = startDev(t, root,
		"--state-dir="+e.stateDir,
		"--manager="+goBuild(t, root, ".", filepath.Join(tmp, "partnerops")),
		"--config="+devConfig(t, root, tmp, e.acceptanceAddr, e.smtpAddr, e.scimURL, e.hubURL),
		"--metrics-bind-address="+e.metricsAddr,
		"--health-probe-bind-address="+e.probeAddr,
		"--mailpit-smtp-address="+e.smtpAddr,
		"--mailpit-http-address="+e.mailpitAddr,
		"--scim-address="+e.scimAddr,
	)
	e.kubeconfig = e.dev.waitForLine(t, "export KUBECONFIG=", readyTimeout)
	return e
}

func goBuild(t *testing.T, root, pkg, out string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -o %s %s: %v\n%s", out, pkg, err, b)
	}
	return out
}

// devConfig is config/dev/config.yaml with the acceptance page on addr, the
// mail sent to Mailpit on smtpAddr's port, the grants to the SCIM server at
// scimURL and the partners sent to the Hub at hubURL, so that the test does
// not take the ports a developer's `make dev` uses.
func devConfig(t *testing.T, root, dir, addr, smtpAddr, scimURL, hubURL string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "config", "dev", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, smtpPort, err := net.SplitHostPort(smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ old, new string }{
		{"bindAddress: 127.0.0.1:8082", "bindAddress: " + addr},
		{"publicURL: http://127.0.0.1:8082", "publicURL: http://" + addr},
		{"port: 1025", "port: " + smtpPort},
		{"baseURL: http://127.0.0.1:8091/scim/v2", "baseURL: " + scimURL},
		{"partnerHubURL: http://127.0.0.1:8090/hub", "partnerHubURL: " + hubURL},
	} {
		if bytes.Count(data, []byte(r.old)) != 1 {
			t.Fatalf("config/dev/config.yaml should have one %q", r.old)
		}
		data = bytes.Replace(data, []byte(r.old), []byte(r.new), 1)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeLoopbackAddrs(t *testing.T, n int) []string {
	t.Helper()
	ports, err := freeLoopbackPorts(n)
	if err != nil {
		t.Fatal(err)
	}
	addrs := make([]string, len(ports))
	for i, p := range ports {
		addrs[i] = net.JoinHostPort(loopback, p)
	}
	return addrs
}

// devProcess is dev running in its own process group, as a terminal runs
// a foreground job.
type devProcess struct {
	cmd  *exec.Cmd
	out  *output
	done chan struct{}
	err  error // what Wait returned, once done is closed
}

func startDev(t *testing.T, root string, args ...string) *devProcess {
	t.Helper()
	bin := goBuild(t, root, "./hack/dev", filepath.Join(t.TempDir(), "dev"))
	out := &output{changed: make(chan struct{}, 1)}
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dev: %v", err)
	}
	d := &devProcess{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dev's output:\n%s", out)
		}
		d.stopAfterFailure(t)
	})
	return d
}

// waitForLine waits for a line of dev's output that starts with prefix,
// after spaces, and returns the rest of it.
func (d *devProcess) waitForLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		for _, line := range d.out.lines() {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				return rest
			}
		}
		select {
		case <-d.out.changed:
		case <-d.done:
			t.Fatalf("dev exited (%v) before printing %q", d.err, prefix)
		case <-deadline.C:
			t.Fatalf("dev did not print %q within %s", prefix, timeout)
		}
	}
}

// acceptLinkLine is an accept link as dev prints it.
var acceptLinkLine = regexp.MustCompile(`^https?://\S+/invitations/accept\?token=[^\s&]+$`)

// mailBlock is one "mail    | " block of dev's output: the recipients of
// its "To: " line and the lines after it.
type mailBlock struct {
	to    []string
	lines []string
}

// mailBlocks reads the "mail    | " blocks of dev's output, in order.
func (d *devProcess) mailBlocks() []mailBlock {
	var blocks []mailBlock
	for _, line := range d.out.lines() {
		rest, ok := strings.CutPrefix(line, mailPrefix)
		if !ok {
			continue
		}
		if h, ok := strings.CutPrefix(rest, "To: "); ok {
			h, _, _ = strings.Cut(h, " — Subject: ")
			blocks = append(blocks, mailBlock{to: strings.Split(h, ", ")})
		} else if len(blocks) > 0 {
			blocks[len(blocks)-1].lines = append(blocks[len(blocks)-1].lines, rest)
		}
	}
	return blocks
}

// acceptLinks reads the "mail    | " blocks of dev's output: the accept
// links printed for each recipient.
func (d *devProcess) acceptLinks() map[string][]string {
	links := map[string][]string{}
	for _, b := range d.mailBlocks() {
		for _, line := range b.lines {
			if l, ok := strings.CutPrefix(line, "Accept link: "); ok {
				for _, r := range b.to {
					links[r] = append(links[r], l)
				}
			}
		}
	}
	return links
}

// inboxLink is a line of dev's output that opens an email in Mailpit's
// inbox: the recipients of the block it is in, that block's place among
// the printed emails (0 for the first), and the address.
type inboxLink struct {
	to    []string
	block int
	url   string
}

// inboxLinks reads the "mail    | " blocks of dev's output for the lines
// that open an email in the inbox.
func (d *devProcess) inboxLinks() []inboxLink {
	var out []inboxLink
	for i, b := range d.mailBlocks() {
		for _, line := range b.lines {
			if u, ok := strings.CutPrefix(line, inboxLine); ok {
				out = append(out, inboxLink{to: b.to, block: i, url: u})
			}
		}
	}
	return out
}

// waitForAcceptLinks waits until dev has printed an accept link for each
// recipient, and returns the last one of each.
func (d *devProcess) waitForAcceptLinks(t *testing.T, timeout time.Duration, recipients ...string) map[string]string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		links, got, missing := d.acceptLinks(), map[string]string{}, []string(nil)
		for _, r := range recipients {
			if l := links[r]; len(l) > 0 {
				got[r] = l[len(l)-1]
			} else {
				missing = append(missing, r)
			}
		}
		if len(missing) == 0 {
			return got
		}
		select {
		case <-d.out.changed:
		case <-d.done:
			t.Fatalf("dev exited (%v) before printing an accept link for %s", d.err, strings.Join(missing, ", "))
		case <-deadline.C:
			t.Fatalf("dev printed no accept link for %s within %s", strings.Join(missing, ", "), timeout)
		}
	}
}

// waitForPendingApproval waits until `kubectl get pinv -n acme` shows the
// invitations PendingApproval (their status is written once the email is
// sent, so it may lag behind the email).
func waitForPendingApproval(t *testing.T, root, kubeconfig string, timeout time.Duration, names ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := kubectl(t, root, kubeconfig, "get", "pinv", "-n", "acme")
		var missing []string
		for _, n := range names {
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(n) + ` +\S+ +\S+ +\S+ +PendingApproval\b`)
			if !re.MatchString(out) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl get pinv -n acme: %s not PendingApproval within %s:\n%s", strings.Join(missing, ", "), timeout, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (d *devProcess) hasLine(want string) bool {
	for _, line := range d.out.lines() {
		if line == want {
			return true
		}
	}
	return false
}

func (d *devProcess) hasLinePrefix(prefix string) bool {
	for _, line := range d.out.lines() {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

// interrupt sends SIGINT to dev's process group, as Ctrl-C in a terminal
// does, and returns dev's exit status.
func (d *devProcess) interrupt(t *testing.T, timeout time.Duration) int {
	t.Helper()
	if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatalf("sending SIGINT to dev's process group: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(timeout):
		t.Fatalf("dev did not exit within %s of SIGINT", timeout)
	}
	var exitErr *exec.ExitError
	if errors.As(d.err, &exitErr) {
		return exitErr.ExitCode()
	}
	if d.err != nil {
		t.Fatalf("waiting for dev: %v", d.err)
	}
	return 0
}

// stopAfterFailure stops a dev that a failed test left running.
func (d *devProcess) stopAfterFailure(t *testing.T) {
	select {
	case <-d.done:
		return
	default:
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-d.done:
	case <-time.After(stopTimeout):
		t.Errorf("dev did not exit within %s of SIGINT: killing it", stopTimeout)
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// output collects a process's output and tells when it grows.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	select {
	case o.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// lines are the complete lines so far.
func (o *output) lines() []string {
	s := o.String()
	s = s[:strings.LastIndexByte(s, '\n')+1]
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func checkKubeconfig(t *testing.T, root, kubeconfig, want string) {
	t.Helper()
	if kubeconfig != want {
		t.Errorf("KUBECONFIG=%s, want %s", kubeconfig, want)
	}
	fi, err := os.Stat(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("the kubeconfig's mode is %v, want -rw-------", mode)
	}
	if ctx := strings.TrimSpace(kubectl(t, root, kubeconfig, "config", "current-context")); ctx != kubeContext {
		t.Errorf("the kubeconfig's context is %q, want %q", ctx, kubeContext)
	}
}

// secretToken reads the SCIM token from the Secret dev writes, with kubectl.
func secretToken(t *testing.T, root, kubeconfig string) string {
	t.Helper()
	out := kubectl(t, root, kubeconfig, "get", "secret", "partnerops-dev-scim-token", "-n", "partnerops-system", "-o", "jsonpath={.data.token}")
	token, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("the Secret's key token: %v (%q)", err, out)
	}
	return string(token)
}

// runCurl runs a curl line as dev prints it (its arguments in double quotes
// hold no quote or backslash), and returns what it printed.
func runCurl(t *testing.T, line string) string {
	t.Helper()
	var args []string
	for i, part := range strings.Split(line, `"`) {
		if i%2 == 1 {
			args = append(args, part)
		} else {
			args = append(args, strings.Fields(part)...)
		}
	}
	if len(args) == 0 || args[0] != "curl" {
		t.Fatalf("not a curl line: %q", line)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", args[1:]...)
	cmd.Env = append(os.Environ(), "NO_PROXY=*", "no_proxy=*")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return string(out)
}

// get asks GET url, with the Authorization header auth when not "", and
// returns the status code and the body.
func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// getBody asks GET url, checks the answer is 200 OK and returns its body.
func getBody(t *testing.T, url string) string {
	t.Helper()
	code, body := get(t, url, "")
	if code != http.StatusOK {
		t.Errorf("GET %s: %d %s, want 200 OK", url, code, http.StatusText(code))
	}
	return body
}

// kubectl runs bin/kubectl in the repository with kubeconfig.
func kubectl(t *testing.T, root, kubeconfig string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "kubectl"), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// checkPartners checks `kubectl get partners` for both kinds, with their
// printer columns, and the samples' objects.
func checkPartners(t *testing.T, out string) {
	t.Helper()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^NAME +DISPLAY NAME +STATE +MEMBERS +PENDING +AGE\b`),
		regexp.MustCompile(`(?m)^NAME +EMAIL +ACCOUNT +ROLE +STATE +EXPIRES +AGE\b`),
		regexp.MustCompile(`(?m)^partneraccount\.partners\.partnerops\.dev/globex +Globex Corporation\b`),
		regexp.MustCompile(`(?m)^partnerinvitation\.partners\.partnerops\.dev/globex-amelie +amelie\.dupont@globex\.example +globex +editor\b`),
		regexp.MustCompile(`(?m)^partnerinvitation\.partners\.partnerops\.dev/globex-carlos +carlos\.ruiz@globex\.example +globex +viewer\b`),
	} {
		if !want.MatchString(out) {
			t.Errorf("kubectl get partners -n acme: no match for %s in:\n%s", want, out)
		}
	}
}

// procID is a process as it was seen: its pid, start time (so that a pid
// reused later is not taken for it) and command line.
type procID struct {
	pid   int
	start string
	argv  []string
}

// running reports whether the process still runs: a process with its pid
// and start time exists and is not a zombie.
func (p procID) running() bool {
	_, start, state, err := readStat(p.pid)
	return err == nil && start == p.start && state != "Z"
}

// descendants lists the processes below pid (children, their children, …).
// dev's children are in their own process groups, so Ctrl-C does not reach
// them: dev alone must stop them.
func descendants(t *testing.T, pid int) []procID {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	type info struct {
		ppid  int
		start string
	}
	all := map[int]info{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, start, _, err := readStat(p); err == nil {
			all[p] = info{ppid, start}
		}
	}
	var out []procID
	parents := map[int]bool{pid: true}
	for changed := true; changed; {
		changed = false
		for p, in := range all {
			if parents[in.ppid] && !parents[p] {
				parents[p] = true
				changed = true
				raw, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "cmdline"))
				out = append(out, procID{pid: p, start: in.start, argv: strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00")})
			}
		}
	}
	return out
}

// readStat reads a process's parent, start time and state from
// /proc/<pid>/stat.
func readStat(pid int) (ppid int, start, state string, err error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, "", "", err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// the last ")".
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, "", "", errors.New("malformed stat")
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	if len(f) < 20 {
		return 0, "", "", errors.New("malformed stat")
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[19], f[0], err
}

// processesMentioning lists the processes whose command line mentions dir.
func processesMentioning(t *testing.T, dir string) []proc {
	t.Helper()
	procs, err := findProcesses(func(argv []string) bool {
		return strings.Contains(strings.Join(argv, " "), dir)
	})
	if err != nil {
		t.Fatal(err)
	}
	return procs
}
