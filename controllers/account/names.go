package account

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// This file names the invitations an account owns. A name is a pure
// function of the account's name and the lowercased email, so every
// reconcile (and every restart) finds the same child, and two entries never
// share one.

// maxLocalPart bounds the readable part taken from the address.
const maxLocalPart = 20

// maxName is the longest object name Kubernetes accepts (a DNS-1123
// subdomain).
const maxName = 253

// InvitationName is the name of the PartnerInvitation that account owns
// for email: "<account>-<local part>-<hash>", where the local part is the
// address before "@", lowercased, with every character other than a-z and
// 0-9 turned into "-" (runs of them into one), trimmed of "-" and cut to 20
// characters, and the hash is the first 8 hex digits of the SHA-256 of the
// lowercased address. A local part with nothing readable left is omitted:
// "<account>-<hash>". For jane.doe+partners@globex.example in account globex:
// globex-jane-doe-partners-0183fed8.
//
// Account names are DNS labels of at most 63 characters (the schema says
// so), so names are at most 93 characters and valid DNS-1123 subdomains.
// A longer account name, which the schema refuses, is cut to fit 253.
func InvitationName(account, email string) string {
	suffix := nameSuffix(email)
	if len(account)+len(suffix) > maxName {
		account = strings.TrimRight(account[:maxName-len(suffix)], "-.")
	}
	return account + suffix
}

// nameSuffix is what InvitationName appends to the account's name:
// "-<local part>-<hash>" or "-<hash>".
func nameSuffix(email string) string {
	e := normalizeEmail(email)
	sum := sha256.Sum256([]byte(e))
	hash := hex.EncodeToString(sum[:])[:8]
	local := e
	if at := strings.LastIndexByte(e, '@'); at >= 0 {
		local = e[:at]
	}
	if l := sanitize(local); l != "" {
		return "-" + l + "-" + hash
	}
	return "-" + hash
}

// sanitize keeps a-z and 0-9 and turns each run of anything else into one
// dash, with no dash first or last, in at most maxLocalPart characters.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			dash = true
			continue
		}
		need := 1
		if dash && b.Len() > 0 {
			need = 2
		}
		if b.Len()+need > maxLocalPart {
			break
		}
		if need == 2 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
		dash = false
	}
	return b.String()
}

// accountOfName returns the account whose InvitationName for email is
// name, or "" when name is not shaped so. It lets an invitation that took
// an account's child name (by hand, naming another account) wake that
// account up when it changes or goes.
func accountOfName(name, email string) string {
	acct, ok := strings.CutSuffix(name, nameSuffix(email))
	if !ok || acct == "" {
		return ""
	}
	return acct
}

// normalizeEmail is the form addresses are compared in: lower case (the
// invitation controller's rule, invitation.NormalizeEmail).
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
