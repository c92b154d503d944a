package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// TestFlagChecksAgreeWithTheAPIServer: invite's local checks of --role,
// --systems, --locale, --ttl and --message refuse exactly what the API
// server refuses, for an invitation and for a spec.users entry alike, so
// a bad flag is caught before the first write and a good one never is.
func TestFlagChecksAgreeWithTheAPIServer(t *testing.T) {
	ns := env.Namespace(t)
	many := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("system-%d", i)
		}
		return s
	}
	ok := entry{role: "editor"}
	cases := map[string]entry{"defaults": ok}
	add := func(name string, mod func(*entry)) {
		e := ok
		mod(&e)
		cases[name] = e
	}
	for _, r := range []string{"Editor", "a-", "-a", "a b", "a_b", "a.b", strings.Repeat("r", 63), strings.Repeat("r", 64), "é"} {
		add("role "+r, func(e *entry) { e.role = r })
	}
	for name, s := range map[string][]string{"two": {"editor", "insights"}, "twice": {"editor", "editor"}, "capital": {"Editor"},
		"64": many(64), "65": many(65), "empty": {""}} {
		add("systems "+name, func(e *entry) { e.systems = s })
	}
	for _, l := range []string{"en", "fr", "es", "de", "EN", "fr-FR"} {
		add("locale "+l, func(e *entry) { e.locale = l })
	}
	for _, ttl := range []string{"1h", "720h", "59m", "720h1s", "1.5h", "90m", "3600s", "43200m", "43201m", "1h30m", "7d", "1µs", "h",
		"-1h", "0000000000000000000000000000001h", "00000000000000000000000000000001h"} {
		add("ttl "+ttl, func(e *entry) { e.ttl = ttl })
	}
	for name, m := range map[string]string{"2000": strings.Repeat("é", 2000), "2001": strings.Repeat("é", 2001),
		"breaks and tabs": "a\tb\nc\r\nd", "bell": "a\ab", "delete": "a\x7fb", "nul": "a\x00b", "escape": "\x1b[31m"} {
		add("message "+name, func(e *entry) { e.message = m })
	}

	ctx := context.Background()
	for name, e := range cases {
		inv := &v1alpha1.PartnerInvitation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"}}
		u := e.user("jane.doe@globex.example")
		inv.Spec = v1alpha1.PartnerInvitationSpec{Email: u.Email, Role: u.Role, Systems: u.Systems, Locale: u.Locale, Message: u.Message, TTL: u.TTL}
		acct := newAccount(ns, "probe", func(a *v1alpha1.PartnerAccount) { a.Spec.Users = []v1alpha1.PartnerUser{u} })
		local := e.problems()
		for kind, obj := range map[string]client.Object{"invitation": inv, "spec.users entry": acct} {
			err := env.Client.Create(ctx, obj, client.DryRunAll)
			if err != nil && !apierrors.IsInvalid(err) {
				t.Fatalf("%s, %s: %v", name, kind, err)
			}
			if serverOK, localOK := err == nil, len(local) == 0; serverOK != localOK {
				t.Errorf("%s, %s: API server accepts: %v (%v); local check accepts: %v (%q)", name, kind, serverOK, err, localOK, local)
			}
		}
	}
}
