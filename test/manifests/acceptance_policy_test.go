package manifests

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// TestInstallGuideNarrowsTheAcceptancePage renders the overlay patch of
// docs/install.md's step 5, taken from the guide itself, over the
// NetworkPolicy Component: the API server accepts the result (server-side
// dry run), the acceptance page's rule lets in only the Ingress
// controller's pods, and every other rule is as shipped. The guide pairs
// acceptance.trustedProxies with this patch, so that no other pod in a
// trusted range can reach the page and claim a client's address.
func TestInstallGuideNarrowsTheAcceptancePage(t *testing.T) {
	guide, err := os.ReadFile(filepath.Join(root, "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := yamlBlockWith(t, string(guide), "path: /spec/ingress/0/from")
	objs := renderKustomization(t, "resources:\n- {{root}}/config/default\n"+strings.ReplaceAll(block, "../partnerops/", "{{root}}/"), nil)
	u := objs.Get(t, "NetworkPolicy", "partnerops-manager")
	apply(t, objs.OfKind("Namespace"))
	apply(t, objects{u}, "--dry-run=server")

	np, shipped := &networkingv1.NetworkPolicy{}, &networkingv1.NetworkPolicy{}
	typed(t, u, np)
	typed(t, renderOverlay(t, "config/network-policy").Get(t, "NetworkPolicy", "partnerops-manager"), shipped)
	if len(np.Spec.Ingress) == 0 || len(np.Spec.Ingress[0].Ports) != 1 || np.Spec.Ingress[0].Ports[0].Port.String() != "acceptance" {
		t.Fatalf("/spec/ingress/0 is not the acceptance page's rule: %v", np.Spec.Ingress)
	}
	from := np.Spec.Ingress[0].From
	want := networkingv1.NetworkPolicyPeer{}
	if len(from) == 1 {
		want = from[0]
	}
	if len(from) != 1 || want.IPBlock != nil || want.NamespaceSelector == nil || want.PodSelector == nil ||
		!maps.Equal(want.NamespaceSelector.MatchLabels, map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}) ||
		!maps.Equal(want.PodSelector.MatchLabels, map[string]string{"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}) ||
		len(want.NamespaceSelector.MatchExpressions)+len(want.PodSelector.MatchExpressions) > 0 {
		t.Errorf("the acceptance page from %v, want only the ingress-nginx controller's pods (one peer, both selectors)", from)
	}
	np.Spec.Ingress[0].From = nil
	if !equality.Semantic.DeepEqual(np.Spec, shipped.Spec) {
		t.Errorf("the patch changed more than the acceptance page's peers:\n%v\nwant, apart from them:\n%v", np.Spec, shipped.Spec)
	}
}

// yamlBlockWith is the one ```yaml block of a Markdown document that holds
// marker.
func yamlBlockWith(t *testing.T, doc, marker string) string {
	t.Helper()
	var found []string
	for _, part := range strings.Split(doc, "```yaml\n")[1:] {
		block, _, ok := strings.Cut(part, "```")
		if ok && strings.Contains(block, marker) {
			found = append(found, block)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d yaml blocks hold %q, want one", len(found), marker)
	}
	return found[0]
}
