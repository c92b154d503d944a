package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// The names of invitations: a pure function of the account's name and the
// lowercased email, so every reconcile (and every restart) finds the same
// child, and two entries never share one.

// MaxNameLocalPart bounds the readable part taken from the address.
const MaxNameLocalPart = 20

// maxObjectName is the longest object name Kubernetes accepts (a DNS-1123
// subdomain).
const maxObjectName = 253

// InvitationName is the name of the PartnerInvitation a PartnerAccount
// owns for email (the account controller creates it; `kubectl partners
// invite` uses the same name, so one address never gets two invitations):
// "<account>-<local part>-<hash>", where the local part is the address
// before "@", lowercased, with every character other than a-z and
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
	suffix := InvitationNameSuffix(email)
	if len(account)+len(suffix) > maxObjectName {
		account = strings.TrimRight(account[:maxObjectName-len(suffix)], "-.")
	}
	return account + suffix
}

// InvitationNameSuffix is what InvitationName appends to the account's name:
// "-<local part>-<hash>" or "-<hash>".
func InvitationNameSuffix(email string) string {
	e := strings.ToLower(strings.TrimSpace(email))
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
// dash, with no dash first or last, in at most MaxNameLocalPart characters.
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
		if b.Len()+need > MaxNameLocalPart {
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

// NormalizeEmail is the form addresses are compared in: lower case. (The
// local part is case-sensitive in theory; no mail system of note treats it
// so, and two invitations that differ only in case are the same person.)
// Only ASCII letters fold: under Unicode's rules the Kelvin sign (U+212A)
// lower-cases to k and U+0130 to i, and an address from elsewhere (an
// identity provider's claim) would match an invited one it is not.
func NormalizeEmail(email string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, strings.TrimSpace(email))
}

// DomainAllowed is the rule of PartnerAccount.spec.allowedDomains: email's
// domain is one of allowed or a subdomain of one. An empty list allows
// every domain.
func DomainAllowed(email string, allowed []DomainName) bool {
	if len(allowed) == 0 {
		return true
	}
	_, ok := CoveringDomain(email, allowed)
	return ok
}

// CoveringDomain is the most specific entry of allowed that covers email's
// domain, by the rule of DomainAllowed: the domain itself, or a parent of
// it (jane@eu.globex.example is covered by eu.globex.example and by
// globex.example; eu.globex.example is the more specific). ok is false
// when no entry covers it, and for an empty list: an account without
// allowedDomains allows every domain but covers none, so it is never
// chosen by domain.
func CoveringDomain(email string, allowed []DomainName) (_ DomainName, ok bool) {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return "", false
	}
	domain := NormalizeEmail(email[at+1:])
	var best DomainName
	for _, a := range allowed {
		d := strings.ToLower(string(a))
		if (domain == d || strings.HasSuffix(domain, "."+d)) && len(d) > len(best) {
			best, ok = DomainName(d), true
		}
	}
	return best, ok
}

// CoveringAccounts are the accounts an invitation to email without
// spec.account may join: among those not being deleted, the ones whose
// allowedDomains cover the address most specifically (eu.globex.example
// before globex.example), with that domain. One account is the choice;
// several are a tie, and none is chosen. The operator and the kubectl
// plugin both decide by it.
func CoveringAccounts(email string, accounts []PartnerAccount) (best []*PartnerAccount, domain DomainName) {
	for i := range accounts {
		a := &accounts[i]
		d, ok := CoveringDomain(email, a.Spec.AllowedDomains)
		switch {
		case !ok || !a.DeletionTimestamp.IsZero() || len(d) < len(domain):
		case len(d) > len(domain):
			best, domain = []*PartnerAccount{a}, d
		default:
			best = append(best, a)
		}
	}
	return best, domain
}

// AccountUIDByDomain is the UID of the account the invitation joined by its
// address's domain: status.accountUID when spec.account is empty, else ""
// (a named account is the admin's word, in the immutable spec). The
// acceptance proof binds it (internal/token.Acceptance.Account), so that
// rewriting status.account cannot move a member to another account.
func (in *PartnerInvitation) AccountUIDByDomain() string {
	if in.Spec.Account != "" {
		return ""
	}
	return in.Status.AccountUID
}

// AccountName is the name of the PartnerAccount the invitation belongs to:
// spec.account when set (the admin's word; status.account then says the
// same), else status.account, the account chosen by the address's domain
// ("" until one is).
func (in *PartnerInvitation) AccountName() string {
	if in.Spec.Account != "" {
		return in.Spec.Account
	}
	return in.Status.Account
}
