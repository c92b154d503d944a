package v1alpha1_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
)

// TestSamplesAreAccepted creates every object of config/samples/ as
// `kubectl apply -f config/samples/` would.
func TestSamplesAreAccepted(t *testing.T) {
	ctx := context.Background()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	sort.Strings(files) // kubectl applies a directory in name order
	kinds := map[string]int{}
	for _, f := range files {
		for _, obj := range readObjects(t, f) {
			if err := env.Client.Create(ctx, obj, strict); err != nil {
				t.Errorf("%s: %s %s refused: %v", filepath.Base(f), obj.GetKind(), obj.GetName(), err)
			}
			kinds[obj.GetKind()]++
		}
	}
	if kinds["PartnerAccount"] < 1 || kinds["PartnerInvitation"] < 2 {
		t.Errorf("samples should show an account and standalone invitations, have %v", kinds)
	}
}

func readObjects(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// TestDiscovery checks what kubectl needs to find the kinds by their short
// names and with `kubectl get partners`.
func TestDiscovery(t *testing.T) {
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	list, err := dc.ServerResourcesForGroupVersion(v1alpha1.GroupVersion.String())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"partneraccounts": "pa", "partnerinvitations": "pinv"}
	for _, r := range list.APIResources {
		short, ok := want[r.Name]
		if !ok {
			continue
		}
		delete(want, r.Name)
		if !r.Namespaced {
			t.Errorf("%s must be namespaced (a namespace is one customer account)", r.Name)
		}
		if !slices.Equal(r.ShortNames, []string{short}) {
			t.Errorf("%s short names = %v, want [%s]", r.Name, r.ShortNames, short)
		}
		if !slices.Contains(r.Categories, "partners") {
			t.Errorf("%s categories = %v, want partners (kubectl get partners)", r.Name, r.Categories)
		}
	}
	if len(want) > 0 {
		t.Errorf("resources missing from discovery: %v", want)
	}
}

// TestPrinterColumns reads the objects as the Table kubectl get prints.
func TestPrinterColumns(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	acct := object(t, "PartnerAccount", ns, "globex", ``)
	// No spec.account: the ACCOUNT column is status.account, the account
	// the controller chose by the address's domain.
	inv := object(t, "PartnerInvitation", ns, "mindy", `systems: [editor, insights]`)
	delete(inv.Object["spec"].(map[string]any), "account")
	for _, o := range []*unstructured.Unstructured{acct, inv} {
		if err := env.Client.Create(ctx, o, strict); err != nil {
			t.Fatal(err)
		}
	}
	expires := metav1.NewTime(time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	setStatus(t, acct, map[string]any{
		"state": "PendingApproval",
		// MEMBERS is memberCount (the entries of members), not the accepted count.
		"memberCount": 1,
		"invitations": map[string]any{"pending": 2, "accepted": 2, "expired": 3, "needAttention": 3},
		"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": "InvitationsPending",
			"message": "2 invitations wait for the partner", "lastTransitionTime": "2026-11-23T10:00:00Z"}},
	})
	setStatus(t, inv, map[string]any{
		"state":     "PendingApproval",
		"account":   "globex",
		"expiresAt": expires.UTC().Format(time.RFC3339),
		"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "AwaitingAcceptance",
			"message": "Sent", "lastTransitionTime": "2026-11-23T10:00:00Z"}},
	})

	cases := []struct {
		resource string
		name     string
		columns  []string // name, then priority-0 columns in order, then priority-1
		priority map[string]int32
		cells    map[string]any
	}{
		{
			resource: "partneraccounts", name: "globex",
			columns:  []string{"Name", "Display Name", "State", "Members", "Pending", "Age", "Ready", "Expired", "Attention", "Policy"},
			priority: map[string]int32{"Ready": 1, "Expired": 1, "Attention": 1, "Policy": 1},
			cells: map[string]any{"Display Name": "Globex Corporation", "State": "PendingApproval",
				"Members": float64(1), "Pending": float64(2), "Ready": "False", "Expired": float64(3), "Attention": float64(3), "Policy": "Revoke"},
		},
		{
			resource: "partnerinvitations", name: "mindy",
			columns:  []string{"Name", "Email", "Account", "Role", "State", "Expires", "Age", "Systems", "Ready", "Reason"},
			priority: map[string]int32{"Systems": 1, "Ready": 1, "Reason": 1},
			cells: map[string]any{"Email": "mindy@globex.example", "Account": "globex", "Role": "editor",
				"State": "PendingApproval", "Expires": "2026-11-30T18:00:00Z", "Systems": `["editor","insights"]`,
				"Ready": "True", "Reason": "AwaitingAcceptance"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.resource, func(t *testing.T) {
			table := getTable(t, "/apis/partners.partnerops.dev/v1alpha1/namespaces/"+ns+"/"+tc.resource)
			var names []string
			for _, c := range table.ColumnDefinitions {
				names = append(names, c.Name)
				if c.Priority != tc.priority[c.Name] {
					t.Errorf("column %s has priority %d, want %d", c.Name, c.Priority, tc.priority[c.Name])
				}
				if c.Name != "Name" && c.Name != "Age" && c.Description == "" {
					t.Errorf("column %s has no description", c.Name)
				}
			}
			if !slices.Equal(names, tc.columns) {
				t.Fatalf("columns = %v, want %v", names, tc.columns)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("want one row, got %d", len(table.Rows))
			}
			row := table.Rows[0].Cells
			if row[0] != tc.name {
				t.Errorf("Name cell = %v, want %s", row[0], tc.name)
			}
			for i, col := range names {
				want, ok := tc.cells[col]
				if !ok {
					continue
				}
				if row[i] != want {
					t.Errorf("%s cell = %#v, want %#v", col, row[i], want)
				}
			}
			if age, _ := row[slices.Index(names, "Age")].(string); !strings.HasSuffix(age, "s") {
				t.Errorf("Age cell = %q, want a duration in seconds", age)
			}
		})
	}
}

func setStatus(t *testing.T, obj *unstructured.Unstructured, status map[string]any) {
	t.Helper()
	obj.Object["status"] = status
	if err := env.Client.Status().Update(context.Background(), obj); err != nil {
		t.Fatalf("writing status: %v", err)
	}
}

func getTable(t *testing.T, path string) *metav1.Table {
	t.Helper()
	body := rawGet(t, path, "application/json;as=Table;v=v1;g=meta.k8s.io")
	table := &metav1.Table{}
	if err := json.Unmarshal(body, table); err != nil {
		t.Fatalf("decoding the Table: %v", err)
	}
	return table
}

// rawGet GETs path from the API server. A 404 is retried for a while: the
// server publishes a new CRD's OpenAPI a moment after the CRD is established.
func rawGet(t *testing.T, path, accept string) []byte {
	t.Helper()
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(env.Config.Host, "/")+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return body
		case resp.StatusCode == http.StatusNotFound && time.Now().Before(deadline):
			time.Sleep(200 * time.Millisecond)
		default:
			t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
		}
	}
}

// TestPublishedSchemaIsDocumented walks the OpenAPI v3 schema the API server
// publishes (what `kubectl explain` reads) and wants a description on every
// field of both kinds.
func TestPublishedSchemaIsDocumented(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(rawGet(t, "/openapi/v3/apis/partners.partnerops.dev/v1alpha1", "application/json"), &doc); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"PartnerAccount", "PartnerInvitation"} {
		raw, ok := doc.Components.Schemas["dev.partnerops.partners.v1alpha1."+kind]
		if !ok {
			t.Fatalf("%s missing from the published schema", kind)
		}
		var schema map[string]any
		if err := json.Unmarshal(raw, &schema); err != nil {
			t.Fatal(err)
		}
		if d, _ := schema["description"].(string); d == "" {
			t.Errorf("%s has no description", kind)
		}
		var undocumented []string
		count := walkProperties(kind, schema, &undocumented)
		if count < 20 {
			t.Errorf("%s: only %d fields found in the published schema", kind, count)
		}
		if len(undocumented) > 0 {
			t.Errorf("%s fields without a description in the published schema:\n  %s", kind, strings.Join(undocumented, "\n  "))
		}
	}
	explained := string(rawGet(t, "/openapi/v3/apis/partners.partnerops.dev/v1alpha1", "application/json"))
	for _, phrase := range []string{"defaults to 168h (7 days)", "Cannot be set back to false", "can only be raised",
		"kstatus's Reconciling (True while the controller", "kstatus's Reconciling (True while the invitations"} {
		if !strings.Contains(explained, phrase) {
			t.Errorf("the published schema does not explain %q", phrase)
		}
	}
}

// walkProperties records every property path without a description and
// returns how many properties it saw. metadata is the standard ObjectMeta.
func walkProperties(path string, schema map[string]any, undocumented *[]string) int {
	n := 0
	props, _ := schema["properties"].(map[string]any)
	for name, p := range props {
		prop, _ := p.(map[string]any)
		child := path + "." + name
		n++
		if name == "metadata" {
			continue
		}
		if d, _ := prop["description"].(string); strings.TrimSpace(d) == "" {
			*undocumented = append(*undocumented, child)
		}
		n += walkProperties(child, prop, undocumented)
		if items, ok := prop["items"].(map[string]any); ok {
			n += walkProperties(child+"[]", items, undocumented)
		}
		if all, ok := prop["allOf"].([]any); ok {
			for _, a := range all {
				if m, ok := a.(map[string]any); ok {
					n += walkProperties(child, m, undocumented)
				}
			}
		}
	}
	return n
}
