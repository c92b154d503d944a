package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
)

// The tests run the plugin's entry point, run, against a real
// kube-apiserver with the CRDs installed (no operator runs: the tests set
// the status an operator would have written), through a kubeconfig written
// for that API server, as kubectl would run the plugin: each subcommand's
// success and error paths, every output format, dry runs, the all-or-nothing
// invite, a resend and an invite --spec-users that race a concurrent edit,
// and that the local checks of addresses and flags agree with the API
// server's admission on tables of good and bad values. invite -f edits
// files with no cluster at all (runOffline).

var env *testenv.Env

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// The fuzz tests are of pure functions: no control plane.
		os.Exit(m.Run())
	}
	ctrllog.SetLogger(logr.Discard())
	testenv.Main(m, &env)
}

// result is what one run of the plugin printed and returned.
type result struct {
	stdout, stderr string
	err            error
}

// errText is the error as main prints it, without the "error: " prefix;
// "" when the run succeeded.
func (r result) errText() string {
	if r.err == nil {
		return ""
	}
	var b bytes.Buffer
	printError(&b, r.err)
	return strings.TrimSuffix(strings.ReplaceAll(b.String(), "error: ", ""), "\n")
}

// partners runs `kubectl partners args...` with a kubeconfig whose current
// context is the test API server and namespace ns.
func partners(t *testing.T, ns string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(append([]string{"--kubeconfig", testenv.KubeconfigFile(t, env.Config, ns)}, args...), &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mustPartners is partners for a run that must succeed.
func mustPartners(t *testing.T, ns string, args ...string) result {
	t.Helper()
	r := partners(t, ns, args...)
	if r.err != nil {
		t.Fatalf("kubectl partners %s: %v\nstderr: %s", strings.Join(args, " "), r.err, r.stderr)
	}
	return r
}

// offline makes the plugin find no cluster at all (no kubeconfig, not in
// a cluster).
func offline(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("HOME", t.TempDir())
}

// runOffline runs the plugin with no cluster to talk to.
func runOffline(t *testing.T, args ...string) result {
	t.Helper()
	offline(t)
	var stdout, stderr bytes.Buffer
	err := run(args, &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// Builders of test objects.

func newAccount(ns, name string, mods ...func(*v1alpha1.PartnerAccount)) *v1alpha1.PartnerAccount {
	a := &v1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.PartnerAccountSpec{DisplayName: strings.ToUpper(name[:1]) + name[1:] + " Corporation"},
	}
	for _, m := range mods {
		m(a)
	}
	return a
}

func withAllowedDomains(ds ...v1alpha1.DomainName) func(*v1alpha1.PartnerAccount) {
	return func(a *v1alpha1.PartnerAccount) { a.Spec.AllowedDomains = ds }
}

func withUser(email, role string) func(*v1alpha1.PartnerAccount) {
	return func(a *v1alpha1.PartnerAccount) {
		a.Spec.Users = append(a.Spec.Users, v1alpha1.PartnerUser{Email: v1alpha1.EmailAddress(email), Role: v1alpha1.CatalogueKey(role)})
	}
}

func createAccount(t *testing.T, a *v1alpha1.PartnerAccount) {
	t.Helper()
	if err := env.Client.Create(context.Background(), a); err != nil {
		t.Fatalf("creating account %s: %v", a.Name, err)
	}
}

// status is what an operator would have written on an invitation.
type status struct {
	state      v1alpha1.InvitationState
	expiresAt  time.Time
	acceptedAt time.Time
}

// invitation is a test invitation before it is created.
type invitation struct {
	name, account, email, role string
	systems                    []v1alpha1.CatalogueKey
	resend                     int32
	revoked                    bool
	status                     status
}

// create creates the invitation in ns, then writes its status when it has
// one, and returns it as stored.
func (i invitation) create(t *testing.T, ns string) *v1alpha1.PartnerInvitation {
	t.Helper()
	ctx := context.Background()
	inv := &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: i.name},
		Spec: v1alpha1.PartnerInvitationSpec{
			Account: i.account, Email: v1alpha1.EmailAddress(i.email), Role: v1alpha1.CatalogueKey(i.role),
			Systems: i.systems, Resend: i.resend, Revoked: i.revoked,
		},
	}
	if inv.Spec.Role == "" {
		inv.Spec.Role = "editor"
	}
	if err := env.Client.Create(ctx, inv); err != nil {
		t.Fatalf("creating invitation %s: %v", i.name, err)
	}
	if i.status.state == "" {
		return inv
	}
	inv.Status.State = i.status.state
	if !i.status.expiresAt.IsZero() {
		inv.Status.ExpiresAt = &metav1.Time{Time: i.status.expiresAt}
	}
	if !i.status.acceptedAt.IsZero() {
		inv.Status.AcceptedAt = &metav1.Time{Time: i.status.acceptedAt}
	}
	if err := env.Client.Status().Update(ctx, inv); err != nil {
		t.Fatalf("writing the status of invitation %s: %v", i.name, err)
	}
	return inv
}

func getInvitation(t *testing.T, ns, name string) *v1alpha1.PartnerInvitation {
	t.Helper()
	return get[v1alpha1.PartnerInvitation](t, "invitation", ns, name)
}

func getAccount(t *testing.T, ns, name string) *v1alpha1.PartnerAccount {
	t.Helper()
	return get[v1alpha1.PartnerAccount](t, "account", ns, name)
}

// get reads the object ns/name (a kind, for the failure) from the API
// server, failing the test when it cannot.
func get[T any, P interface {
	*T
	client.Object
}](t *testing.T, kind, ns, name string) P {
	t.Helper()
	obj := P(new(T))
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("getting %s %s: %v", kind, name, err)
	}
	return obj
}

// invitationNames lists the names of the invitations in ns.
func invitationNames(t *testing.T, ns string) []string {
	t.Helper()
	var l v1alpha1.PartnerInvitationList
	if err := env.Client.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, inv := range l.Items {
		names = append(names, inv.Name)
	}
	return names
}

// t1 is an expiry in the future, at a whole second (as the API stores it).
var t1 = time.Date(2031, 3, 14, 9, 30, 0, 0, time.UTC)
