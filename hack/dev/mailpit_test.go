package main

import (
	"net/mail"
	"strings"
	"testing"

	mailpitpeer "github.com/partnerops/partnerops/internal/testpeers/mailpit"
)

// TestDescribeMail checks the block dev prints for an email: the link that
// opens it in the inbox comes with the first email only, and only when
// Mailpit serves its web UI.
func TestDescribeMail(t *testing.T) {
	mp := &mailpitpeer.Server{APIURL: "http://127.0.0.1:8025"}
	invitation := &mailpitpeer.Message{
		ID:      "aB3",
		To:      []mail.Address{{Address: "carlos.ruiz@globex.example"}},
		Subject: "Acme  le invita",
		Text:    "Abra http://127.0.0.1:8082/invitations/accept?token=t1 y acepte.",
	}
	other := &mailpitpeer.Message{ID: "cD4", To: []mail.Address{{Address: "ops@acme.example"}}, Subject: "Hello", Text: "no link"}
	head := "To: carlos.ruiz@globex.example — Subject: Acme le invita\nAccept link: http://127.0.0.1:8082/invitations/accept?token=t1\n"
	tests := map[string]struct {
		msg          *mailpitpeer.Message
		inbox, first bool
		want         string
	}{
		"first, with the inbox": {invitation, true, true, head + "Open it in the inbox: http://127.0.0.1:8025/view/aB3\n"},
		"later":                 {invitation, true, false, head},
		"first, no web UI":      {invitation, false, true, head},
		"no link, first":        {other, true, true, "To: ops@acme.example — Subject: Hello\nOpen it in the inbox: http://127.0.0.1:8025/view/cD4\n"},
		"no link, later":        {other, true, false, "To: ops@acme.example — Subject: Hello\n(no accept link in its text; read it in the inbox: http://127.0.0.1:8025/view/cD4)\n"},
		"no link, no web UI":    {other, false, false, "To: ops@acme.example — Subject: Hello\n(no accept link in its text; read it with curl -s http://127.0.0.1:8025/api/v1/message/cD4)\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := describeMail(tc.msg, mp, tc.inbox, tc.first); got != tc.want {
				t.Errorf("describeMail:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestMailSteps checks what dev's instructions say about the emails: the
// inbox, or the REST API when this Mailpit has no web UI.
func TestMailSteps(t *testing.T) {
	o := &options{mailpitSMTPAddr: "127.0.0.1:1025", mailpitHTTPAddr: "127.0.0.1:8025"}
	if got := mailSteps(o, true); !strings.Contains(got, "read them in the inbox at\n  http://127.0.0.1:8025/\n") || strings.Contains(got, "curl") {
		t.Errorf("with the web UI, the instructions say:\n%s", got)
	}
	if got := mailSteps(o, false); !strings.Contains(got, "list them with\n  curl -s http://127.0.0.1:8025/api/v1/messages\n") || !strings.Contains(got, "no web UI") {
		t.Errorf("without the web UI, the instructions say:\n%s", got)
	}
}
