package i18n

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func configMap(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "partnerops-system", Name: "email-templates"}, Data: data}
}

func TestConfigMapTemplates(t *testing.T) {
	t.Run("no ConfigMap configured gives the built-in templates", func(t *testing.T) {
		src := NewConfigMapTemplates(fake.NewClientBuilder().Build(), "partnerops-system", "")
		tmpl, err := src.Templates(t.Context())
		if err != nil || tmpl != Builtin() {
			t.Fatalf("Templates = %p, %v; want the built-in templates", tmpl, err)
		}
	})

	t.Run("a missing ConfigMap is an error that names it", func(t *testing.T) {
		src := NewConfigMapTemplates(fake.NewClientBuilder().Build(), "partnerops-system", "email-templates")
		_, err := src.Templates(t.Context())
		if err == nil || !strings.Contains(err.Error(), "partnerops-system/email-templates") {
			t.Fatalf("Templates = %v, want an error naming the ConfigMap", err)
		}
	})

	t.Run("overrides apply and follow edits", func(t *testing.T) {
		cm := configMap(map[string]string{"en.subject.txt": "Join {{.CustomerName}}"})
		c := fake.NewClientBuilder().WithObjects(cm).Build()
		src := NewConfigMapTemplates(c, "partnerops-system", "email-templates")
		tmpl, err := src.Templates(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if r := render(t, tmpl, invitation("en")); r.Subject != "Join Acme Retail" {
			t.Errorf("subject %q, want the override", r.Subject)
		}
		again, err := src.Templates(t.Context())
		if err != nil || again != tmpl {
			t.Errorf("an unchanged ConfigMap was parsed again (%v)", err)
		}

		cm.Data["en.subject.txt"] = "{{.Broken"
		if err := c.Update(t.Context(), cm); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Templates(t.Context()); err == nil || !strings.Contains(err.Error(), `"en.subject.txt"`) {
			t.Errorf("Templates = %v, want an error naming en.subject.txt", err)
		}

		cm.Data["en.subject.txt"] = "Welcome from {{.CustomerName}}"
		if err := c.Update(t.Context(), cm); err != nil {
			t.Fatal(err)
		}
		tmpl, err = src.Templates(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if r := render(t, tmpl, invitation("en")); r.Subject != "Welcome from Acme Retail" {
			t.Errorf("subject %q after the edit", r.Subject)
		}
	})

	t.Run("binaryData keys are refused by name", func(t *testing.T) {
		cm := configMap(nil)
		cm.BinaryData = map[string][]byte{"en.body.html": []byte("<p>{{.AcceptURL}}</p>")}
		src := NewConfigMapTemplates(fake.NewClientBuilder().WithObjects(cm).Build(), "partnerops-system", "email-templates")
		if _, err := src.Templates(t.Context()); err == nil || !strings.Contains(err.Error(), "en.body.html") {
			t.Errorf("Templates = %v, want an error naming en.body.html", err)
		}
	})
}
