package main

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file checks the values of invite's flags before anything is read or
// written, with the rules and the words of the API's schema (api/v1alpha1:
// CatalogueKey, Locale, TTL, the message rule, the account name rule), so
// that a bad flag is refused before the first invitation is created, the
// first file written or the first account patched. TestFlagChecksAgreeWithTheAPIServer
// holds them to the API server's admission.

// Bounds of the schema.
const (
	maxCatalogueKey = 63
	maxSystems      = 64
	maxMessage      = 2000
	maxAccountName  = 63
	maxUsers        = 150
	minTTL          = time.Hour
	maxTTL          = 720 * time.Hour
)

var (
	catalogueKey   = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$`)
	accountName    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	ttlFormat      = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`)
	messageControl = regexp.MustCompile(`[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]`)
)

// localeList is the API's locales as help and errors say them: "en, fr or es".
func localeList() string {
	s := make([]string, len(v1alpha1.Locales))
	for i, l := range v1alpha1.Locales {
		s[i] = string(l)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// entry is what invite asks for each address: the fields a
// PartnerInvitation and a spec.users entry share.
type entry struct {
	role    string
	systems []string
	locale  string
	message string
	ttl     string
}

// problems returns what is wrong with the flags' values, one line each,
// naming the flag; nothing when the API server would accept them.
func (e entry) problems() []string {
	var p []string
	if why := catalogueKeyProblem(e.role); why != "" {
		p = append(p, fmt.Sprintf("invalid --role %q: %s", e.role, why))
	}
	seen := map[string]bool{}
	for _, s := range e.systems {
		switch why := catalogueKeyProblem(s); {
		case why != "":
			p = append(p, fmt.Sprintf("invalid --systems value %q: %s", s, why))
		case seen[s]:
			p = append(p, fmt.Sprintf("invalid --systems: %q is given twice", s))
		}
		seen[s] = true
	}
	if len(e.systems) > maxSystems {
		p = append(p, fmt.Sprintf("invalid --systems: %d systems, at most %d", len(e.systems), maxSystems))
	}
	if e.locale != "" && !validLocale(e.locale) {
		p = append(p, fmt.Sprintf("invalid --locale %q: must be %s", e.locale, localeList()))
	}
	if e.ttl != "" {
		if why := ttlProblem(e.ttl); why != "" {
			p = append(p, fmt.Sprintf("invalid --ttl %q: %s", e.ttl, why))
		}
	}
	if n := utf8.RuneCountInString(e.message); n > maxMessage {
		p = append(p, fmt.Sprintf("invalid --message: must be at most %d characters long (it has %d)", maxMessage, n))
	}
	if messageControl.MatchString(e.message) {
		p = append(p, "invalid --message: must not contain control characters other than line breaks and tabs")
	}
	return p
}

func catalogueKeyProblem(k string) string {
	switch {
	case k == "":
		return "must not be empty"
	case utf8.RuneCountInString(k) > maxCatalogueKey:
		return fmt.Sprintf("must be at most %d characters long", maxCatalogueKey)
	case !catalogueKey.MatchString(k):
		return "must be a catalogue key: lowercase letters, digits, '-' or '_', starting and ending with a letter or digit, with no spaces"
	}
	return ""
}

func validLocale(l string) bool {
	for _, known := range v1alpha1.Locales {
		if string(known) == l {
			return true
		}
	}
	return false
}

// ttlProblem is the TTL schema: a Go duration of the units the schema
// lists, from 1h to 720h.
func ttlProblem(ttl string) string {
	if len(ttl) > 32 || !ttlFormat.MatchString(ttl) {
		return "must be a duration such as 168h, 72h or 90m"
	}
	d, err := time.ParseDuration(ttl)
	if err != nil || d < minTTL || d > maxTTL {
		return "must be between 1h and 720h (30 days)"
	}
	return ""
}

// accountNameProblem is the rule of spec.account: a DNS label.
func accountNameProblem(name string) string {
	if len(name) > maxAccountName || !accountName.MatchString(name) {
		return fmt.Sprintf("invalid --account %q: must be the name of a PartnerAccount: lowercase letters, digits or '-', starting and ending with a letter or digit, at most %d characters", name, maxAccountName)
	}
	return ""
}

// user is the spec.users entry for email.
func (e entry) user(email string) v1alpha1.PartnerUser {
	u := v1alpha1.PartnerUser{
		Email:   v1alpha1.EmailAddress(email),
		Role:    v1alpha1.CatalogueKey(e.role),
		Locale:  v1alpha1.Locale(e.locale),
		Message: e.message,
		TTL:     v1alpha1.TTL(e.ttl),
	}
	for _, s := range e.systems {
		u.Systems = append(u.Systems, v1alpha1.CatalogueKey(s))
	}
	return u
}
