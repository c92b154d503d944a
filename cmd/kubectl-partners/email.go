package main

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// This file checks addresses before anything is sent to the API server,
// with the rules and the words of the PartnerInvitation schema
// (api/v1alpha1 EmailAddress), so that a bad address among many is found
// before any invitation is created.

var (
	emailBadChars = regexp.MustCompile(`[\s\x00-\x1f\x7f]`)
	emailOneAt    = regexp.MustCompile(`^[^@]+@[^@]+$`)
	emailLocal    = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@")
	emailDomain   = regexp.MustCompile(`@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// emailProblems returns what is wrong with email, in the schema's words,
// or nothing when the API server would accept it.
func emailProblems(email string) []string {
	var problems []string
	switch n := utf8.RuneCountInString(email); {
	case n < 6:
		problems = append(problems, "must be at least 6 characters long")
	case n > 254:
		problems = append(problems, "must be at most 254 characters long")
	}
	if emailBadChars.MatchString(email) {
		problems = append(problems, "must not contain spaces, line breaks or other control characters")
	}
	if !emailOneAt.MatchString(email) {
		return append(problems, "must contain exactly one @, as in jane.doe@example.com")
	}
	local := email[:strings.IndexByte(email, '@')]
	if utf8.RuneCountInString(local) > 64 {
		problems = append(problems, "the part before @ must be at most 64 characters")
	}
	if !emailLocal.MatchString(email) {
		problems = append(problems, "the part before @ may hold only letters, digits, single dots (not first or last) and !#$%&'*+/=?^_`{|}~-")
	}
	if !emailDomain.MatchString(email) {
		problems = append(problems, "the part after @ must be a domain name with a dot, as in example.com")
	}
	return problems
}
