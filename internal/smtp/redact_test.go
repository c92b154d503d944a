package smtp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	smtpd "github.com/emersion/go-smtp"

	"github.com/partnerops/partnerops/internal/config"
)

// A password with a space, URL-special and non-ASCII characters, whose
// base64 forms end in padding: every form below differs.
const (
	leakUser = "partnerops"
	leakPass = "Tr0ub4dor&3 h0rse/b4ttery+st@ple%é"
)

// secretForms are the forms in which the password leaves the client, as an
// echoing server could write them back.
func secretForms(user, pass string) map[string]string {
	plain := []byte("\x00" + user + "\x00" + pass)
	return map[string]string{
		"the password":                     pass,
		"the AUTH PLAIN payload":           base64.StdEncoding.EncodeToString(plain),
		"the AUTH PLAIN payload, unpadded": base64.RawStdEncoding.EncodeToString(plain),
		"the AUTH LOGIN answer":            base64.StdEncoding.EncodeToString([]byte(pass)),
		"the AUTH LOGIN answer, unpadded":  base64.RawStdEncoding.EncodeToString([]byte(pass)),
		"the password query-escaped":       url.QueryEscape(pass),
		"the password path-escaped":        url.PathEscape(pass),
	}
}

// pieceOf returns the longest prefix or suffix of secret, of at least 8
// characters, that text holds, or "".
func pieceOf(text, secret string) string {
	r := []rune(secret)
	for n := len(r); n >= 8; n-- {
		if p := string(r[:n]); strings.Contains(text, p) {
			return p
		}
		if p := string(r[len(r)-n:]); strings.Contains(text, p) {
			return p
		}
	}
	return ""
}

// noPieces fails t when text holds any form of the password, whole or an
// 8-character prefix or suffix of it.
func noPieces(t *testing.T, what, text string) {
	t.Helper()
	for name, form := range secretForms(leakUser, leakPass) {
		if p := pieceOf(text, form); p != "" {
			t.Fatalf("%s holds %q of %s: %q", what, p, name, text)
		}
	}
}

// cutText is what a condition shows of s: at most maxReplyText runes.
func cutText(s string) string {
	if r := []rune(s); len(r) > maxReplyText {
		return string(r[:maxReplyText-1]) + "…"
	}
	return s
}

// An SMTP server whose reply to AUTH, MAIL FROM, RCPT TO or DATA echoes the
// password, in any form it was sent, whole inside the 300 characters a
// condition keeps or cut through by them at any point: the error holds no
// piece of it, and the server's words and codes are kept.
func TestSendRedactsEchoedPasswordBeforeTheCut(t *testing.T) {
	const head, tail = "Refused ", " is not accepted here"
	stages := map[string]struct {
		server       func(*smtpd.SMTPError) serverOptions
		wantStage    Stage
		wantCode     int
		wantEnhanced string
		want         error
	}{
		"AUTH PLAIN": {
			server:    func(r *smtpd.SMTPError) serverOptions { return serverOptions{failAuth: r} },
			wantStage: StageAuth, wantCode: 535, wantEnhanced: "5.7.8", want: ErrTemporary,
		},
		"AUTH LOGIN": {
			server: func(r *smtpd.SMTPError) serverOptions {
				return serverOptions{failAuth: r, mechanisms: []string{"LOGIN"}}
			},
			wantStage: StageAuth, wantCode: 535, wantEnhanced: "5.7.8", want: ErrTemporary,
		},
		"MAIL FROM": {
			server:    func(r *smtpd.SMTPError) serverOptions { return serverOptions{failMail: r} },
			wantStage: StageMailFrom, wantCode: 553, wantEnhanced: "5.7.1", want: ErrTemporary,
		},
		"RCPT TO": {
			server:    func(r *smtpd.SMTPError) serverOptions { return serverOptions{failRcpt: r} },
			wantStage: StageRcptTo, wantCode: 550, wantEnhanced: "5.1.1", want: ErrRecipientRejected,
		},
		"DATA": {
			server:    func(r *smtpd.SMTPError) serverOptions { return serverOptions{failData: r} },
			wantStage: StageData, wantCode: 554, wantEnhanced: "5.7.1", want: ErrTemporary,
		},
	}
	forms := secretForms(leakUser, leakPass)
	// A server that wraps its reply at spaces splits the password over
	// two lines: shown on one, it reads as the password again.
	forms["the password over two lines"] = strings.Replace(leakPass, " ", "\n", 1)
	for stageName, st := range stages {
		for formName, form := range forms {
			t.Run(stageName+" echoes "+formName, func(t *testing.T) {
				n := utf8.RuneCountInString(form)
				// From the form whole inside the kept text (a few
				// positions), through every cut inside it, to just past.
				for k := maxReplyText - 1 - n - 3; k <= maxReplyText; k++ {
					msg := head + strings.Repeat("x", k-len(head)) + form + tail
					var enh smtpd.EnhancedCode
					if _, err := fmt.Sscanf(st.wantEnhanced, "%d.%d.%d", &enh[0], &enh[1], &enh[2]); err != nil {
						t.Fatal(err)
					}
					opts := st.server(&smtpd.SMTPError{Code: st.wantCode, EnhancedCode: enh, Message: msg})
					opts.user, opts.pass, opts.insecureAuth = leakUser, leakPass, true
					srv := startServer(t, opts)
					s := newSender(t, srv.port, config.SMTPSecurityNone, staticCreds(leakUser, leakPass))

					err := s.Send(t.Context(), testMessage())

					if !errors.Is(err, st.want) {
						t.Fatalf("k=%d: Send = %v, want %v", k, err, st.want)
					}
					var se *ReplyError
					if !errors.As(err, &se) {
						t.Fatalf("k=%d: Send = %v, want a *ReplyError inside", k, err)
					}
					noPieces(t, fmt.Sprintf("k=%d: the error", k), err.Error())
					noPieces(t, fmt.Sprintf("k=%d: ReplyError.Message", k), se.Message)
					noPieces(t, fmt.Sprintf("k=%d: the error under ReplyError", k), se.Unwrap().Error())
					if se.Stage != st.wantStage || se.Code != st.wantCode || se.EnhancedCode != st.wantEnhanced {
						t.Errorf("k=%d: ReplyError %s %d %s, want %s %d %s", k, se.Stage, se.Code, se.EnhancedCode, st.wantStage, st.wantCode, st.wantEnhanced)
					}
					want := cutText(head + strings.Repeat("x", k-len(head)) + "[REDACTED]" + tail)
					if se.Message != want {
						t.Fatalf("k=%d: ReplyError.Message =\n%q\nwant\n%q", k, se.Message, want)
					}
					if !strings.Contains(err.Error(), fmt.Sprintf("%d %s %s", st.wantCode, st.wantEnhanced, head)) {
						t.Errorf("k=%d: the error %q lost the reply's codes or words", k, err)
					}
				}
			})
		}
	}
}

// go-mail's AUTH LOGIN puts a challenge it did not expect, decoded, in its
// error, which is no reply: that text too is redacted before it is cut.
func TestSendRedactsAnUnexpectedLoginChallenge(t *testing.T) {
	const head = "Refused "
	for formName, form := range secretForms(leakUser, leakPass) {
		t.Run(formName, func(t *testing.T) {
			n := utf8.RuneCountInString(form)
			// go-mail's words come first: sweep wide enough that the
			// cut falls before, through and after the form.
			for k := maxReplyText - n - 60; k <= maxReplyText; k++ {
				challenge := head + strings.Repeat("x", k-len(head)) + form + " was not expected\r\nbye"
				srv := startServer(t, serverOptions{
					user: leakUser, pass: leakPass, insecureAuth: true,
					mechanisms: []string{"LOGIN"}, loginChallenge: challenge,
				})
				s := newSender(t, srv.port, config.SMTPSecurityNone, staticCreds(leakUser, leakPass))

				err := s.Send(t.Context(), testMessage())

				if !errors.Is(err, ErrTemporary) {
					t.Fatalf("k=%d: Send = %v, want ErrTemporary", k, err)
				}
				noPieces(t, fmt.Sprintf("k=%d: the error", k), err.Error())
				if !strings.Contains(err.Error(), string(StageAuth)) || !strings.Contains(err.Error(), head+"xx") {
					t.Errorf("k=%d: the error %q lost the stage or the server's words", k, err)
				}
				if strings.ContainsAny(err.Error(), "\r\n") {
					t.Errorf("k=%d: the error %q spans several lines", k, err)
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	sec := newSecrets("u", "pa55word!")
	tests := map[string]string{
		"no secret here":                  "no secret here",
		"was pa55word! refused":           "was [REDACTED] refused",
		"pa55 word! split by a space":     "[REDACTED] split by a space",
		"pa\u200b55\u00adword! invisible": "[REDACTED] invisible",
		"pa55word!pa55word! twice":        "[REDACTED] twice",
		"pa55word!X pa55word! apart":      "[REDACTED]X [REDACTED] apart",
		"pa55wor partial prefix":          "pa55wor partial prefix",
		"cGE1NXdvcmQh LOGIN":              "[REDACTED] LOGIN",
		"AHUAcGE1NXdvcmQh PLAIN":          "[REDACTED] PLAIN",
		"pa55word%21 escaped":             "[REDACTED] escaped",
		"pa55word! the start then more":   "[REDACTED] the start then more",
	}
	for in, want := range tests {
		if got := sec.redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
	// Occurrences that overlap are all covered: no tail of one is left.
	if got := newSecrets("u", "r0t-r0t-r0t").redact("[r0t-r0t-r0t-r0t]"); got != "[[REDACTED]]" {
		t.Errorf("overlapping occurrences: %q", got)
	}
	// The username is no secret; no password, nothing to redact.
	if got := sec.redact("user u"); got != "user u" {
		t.Errorf("redact redacted the username: %q", got)
	}
	if newSecrets("u", "") != nil || (*secrets)(nil).redact("pa55word!") != "pa55word!" {
		t.Error("an empty password redacts something")
	}
}

// A password that starts with what looks like a status code, at the start
// of a reply line, is redacted before the code is taken off the line.
func TestSplitReplyRedactsBeforeTakingCodesOff(t *testing.T) {
	const pass = "2.0.0 c0rrect-h0rse"
	enhanced, text := splitReply("5.7.8 bad\n"+pass+" refused", newSecrets("u", pass))
	if strings.Contains(text, "c0rrect") || text != "bad [REDACTED] refused" || enhanced != "5.7.8" {
		t.Errorf("splitReply = %q, %q; want 5.7.8, %q", enhanced, text, "bad [REDACTED] refused")
	}
}

// An error that is no reply keeps errors.Is through redaction, and is left
// as it is when there is nothing to change.
func TestRedactErr(t *testing.T) {
	sec := newSecrets("u", "pa55word!")
	base := errors.New("unexpected server response: pa55word!\nagain")
	err := redactErr(base, sec)
	if !errors.Is(err, base) || err.Error() != "unexpected server response: [REDACTED] again" {
		t.Errorf("redactErr = %q (Is %v)", err, errors.Is(err, base))
	}
	// net/textproto's errors quote the reply (%q): a password with a quote
	// or a backslash shows escaped there.
	quoting := newSecrets("u", `pa"55\word`)
	quit := fmt.Errorf("the server offers no authentication, %s", &textproto.Error{Code: 221, Msg: `bye pa"55\word`})
	if got := redactErr(quit, quoting).Error(); got != `the server offers no authentication, 221 "bye [REDACTED]"` {
		t.Errorf("redactErr of a quoted reply = %q", got)
	}
	plain := errors.New("connection refused")
	if got := redactErr(plain, sec); got != plain {
		t.Errorf("redactErr changed a clean error: %v", got)
	}
}

// FuzzRedactedReply: wherever a server puts a form of the password in a
// reply, and whatever surrounds it, the text kept holds no piece of the
// form (8 characters or more, spaces and invisible characters aside) that
// the surrounding text did not hold by itself, and is one bounded line.
func FuzzRedactedReply(f *testing.F) {
	f.Add("Refused ", " no", leakUser, leakPass, uint8(0))
	f.Add(strings.Repeat("x", 290), " is wrong", leakUser, leakPass, uint8(1))
	f.Add(strings.Repeat("y ", 140)+"\n\x00", "\r\n", "a@b", "s3cret-Pa55", uint8(3))
	f.Add("Tr0ub4dor", "\u200b", leakUser, "2.0.0 "+leakPass, uint8(6))
	f.Add(strings.Repeat("\x01", 400), "", "", "pa55word!", uint8(2))
	f.Fuzz(func(t *testing.T, before, after, user, pass string, form uint8) {
		if pass == "" || !utf8.ValidString(user) || !utf8.ValidString(pass) || strings.ContainsAny(pass, "[]…") {
			t.Skip()
		}
		forms := secretForms(user, pass)
		names := make([]string, 0, len(forms))
		for name := range forms {
			names = append(names, name)
		}
		slices.Sort(names) // map order is random
		secret := forms[names[int(form)%len(names)]]

		out := oneLine(before+secret+after, newSecrets(user, pass))

		if n := utf8.RuneCountInString(out); n > maxReplyText {
			t.Fatalf("kept %d characters", n)
		}
		if strings.IndexFunc(out, isLineOrControl) >= 0 {
			t.Fatalf("kept a control character: %q", out)
		}
		// The markers' own letters are no piece of a secret: each marker,
		// and one cut short at the end, leaves a '[' (in no form) instead.
		body := strings.TrimSuffix(out, "…")
		for i := len(redacted); i > 0; i-- {
			if strings.HasSuffix(body, redacted[:i]) {
				body = strings.TrimSuffix(body, redacted[:i]) + "["
				break
			}
		}
		body = strings.ReplaceAll(body, redacted, "[")
		shown, around := string(skeleton(body)), []string{string(skeleton(before)), string(skeleton(after))}
		for _, f := range forms {
			sk := []rune(string(skeleton(f)))
			for n := len(sk); n >= 1; n-- {
				if n < 8 && n != len(sk) {
					break
				}
				for _, p := range []string{string(sk[:n]), string(sk[len(sk)-n:])} {
					if strings.Contains(shown, p) && !strings.Contains(around[0], p) && !strings.Contains(around[1], p) {
						t.Fatalf("oneLine(%q) = %q shows %q of %q", before+secret+after, out, p, f)
					}
				}
			}
		}
	})
}
