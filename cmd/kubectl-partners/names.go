package main

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// This file names the invitations the plugin creates with the scheme the
// PartnerAccount controller uses for the invitations it owns
// (controllers/account/names.go), copied rather than imported so that the
// plugin does not link the controllers. The same address in the same
// account always gets the same name, so inviting it twice cannot make two
// invitations, and an invitation created here is the one the account would
// have created for that user.

// maxLocalPart bounds the readable part taken from the address.
const maxLocalPart = 20

// maxName is the longest object name Kubernetes accepts.
const maxName = 253

// invitationName is "<account>-<local part>-<hash>": the local part is the
// address before "@", lowercased, with every run of characters other than
// a-z and 0-9 turned into one "-", trimmed of "-" and cut to 20 characters
// (omitted when nothing is left); the hash is the first 8 hex digits of the
// SHA-256 of the lowercased address. For jane.doe+partners@globex.example in
// account globex: globex-jane-doe-partners-0183fed8.
func invitationName(account, email string) string {
	suffix := nameSuffix(email)
	if len(account)+len(suffix) > maxName {
		account = strings.TrimRight(account[:maxName-len(suffix)], "-.")
	}
	return account + suffix
}

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

// normalizeEmail is the form addresses are compared in, as the operator
// compares them: lower case.
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
