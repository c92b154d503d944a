package main

import (
	"strings"
	"testing"
)

func TestInvitationName(t *testing.T) {
	tests := []struct {
		account, email, want string
	}{
		// The example of controllers/account/names.go: the plugin names an
		// invitation as the account would name its own.
		{"globex", "jane.doe+partners@globex.example", "globex-jane-doe-partners-0183fed8"},
		// Addresses compare case-insensitively, so they name alike.
		{"globex", "JANE.DOE+Partners@Globex.Example", "globex-jane-doe-partners-0183fed8"},
		// Nothing readable before @: the hash alone.
		{"globex", "'@globex.example", "globex-c6855ca8"},
		// The readable part is cut to 20 characters.
		{"globex", "a.very.long.local.part.indeed@globex.example", "globex-a-very-long-local-pa-0556df86"},
		// An account name longer than the schema allows is cut to fit 253.
		{strings.Repeat("a", 250), "'@globex.example", strings.Repeat("a", 253-9) + "-c6855ca8"},
	}
	for _, tc := range tests {
		if got := invitationName(tc.account, tc.email); got != tc.want {
			t.Errorf("invitationName(%q, %q) = %q, want %q", tc.account, tc.email, got, tc.want)
		}
	}
}
