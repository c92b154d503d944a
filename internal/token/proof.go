package token

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// An acceptance proof is what the acceptance page writes into an
// invitation's status together with the acceptance: an HMAC-SHA256, with
// one of the link-signing keys, over the invitation's UID, the resend
// generation that was accepted, the invited address and the moment of
// acceptance (and, for an invitation that joined its account by its
// address's domain, that account's UID). Only a holder of the keys (the manager) can make one, so a
// tenant who may write an invitation's status (RBAC on the status
// subresource is often granted with `*`) cannot make the controller grant
// access the partner never accepted: the controller grants only to an
// invitation whose proof verifies.
//
// When the partner signed in before accepting (acceptance.signIn: oidc),
// the proof also binds who signed in (the ID token's issuer and subject),
// so that the identity recorded in status.signedInAs cannot be edited
// either.
//
// The MAC's input starts with its own label, so a proof can never be taken
// for a link's signature or the other way round, though they share keys;
// a proof with a sign-in has another label than one without, so neither
// verifies as the other.

// proofLabel separates acceptance proofs from every other use of the keys;
// signedInProofLabel is that of proofs that bind a sign-in.
const (
	proofLabel         = "partnerops.dev/acceptance-proof/v1"
	signedInProofLabel = "partnerops.dev/acceptance-proof/v2-signed-in"
)

// ErrProofInvalid means a proof does not verify: missing, altered, made for
// another invitation, generation, address or moment, or made with a key
// that is no longer listed. Callers must not grant on it.
var ErrProofInvalid = errors.New("acceptance proof does not verify")

// Acceptance is what a proof binds.
type Acceptance struct {
	// UID is the PartnerInvitation's metadata.uid.
	UID string
	// Resend is the resend generation the partner accepted (the link's).
	Resend int32
	// Email is the invited address; compared without case or surrounding
	// space.
	Email string
	// AcceptedAt is when the partner accepted, at second precision (the
	// precision of status.acceptedAt).
	AcceptedAt time.Time
	// Issuer and Subject are who signed in before accepting (the ID
	// token's iss and sub); both empty when no sign-in was asked for.
	Issuer, Subject string
	// Account is the UID of the PartnerAccount the invitation joined by its
	// address's domain (its status.accountUID when it has no spec.account),
	// so that a status writer cannot move the member to another account;
	// empty for an invitation that names its account in spec.account (the
	// admin's word, immutable).
	Account string
}

// Proof is a MAC and the id of the key that made it.
type Proof struct {
	KeyID string
	MAC   string // base64url, no padding
}

// ProveAcceptance returns the proof of a, made with the current key.
func (s *Signer) ProveAcceptance(ctx context.Context, a Acceptance) (Proof, error) {
	if err := checkAcceptance(a); err != nil {
		return Proof{}, fmt.Errorf("proving an acceptance: %w", err)
	}
	keys, err := s.src.Keys(ctx)
	if err != nil {
		return Proof{}, fmt.Errorf("proving an acceptance: loading keys: %w", err)
	}
	kid, key, ok := keys.current()
	if !ok {
		return Proof{}, errors.New("proving an acceptance: the key set is empty")
	}
	return Proof{KeyID: kid, MAC: base64.RawURLEncoding.EncodeToString(proofMAC(key, a))}, nil
}

// VerifyAcceptance checks that p is a proof of a by one of the keys listed
// now. It returns an error wrapping ErrProofInvalid when it is not, and any
// other error when it cannot check (keys unavailable).
func (s *Signer) VerifyAcceptance(ctx context.Context, a Acceptance, p Proof) error {
	if p.KeyID == "" || p.MAC == "" {
		return fmt.Errorf("%w: no proof", ErrProofInvalid)
	}
	if err := checkAcceptance(a); err != nil {
		return fmt.Errorf("%w: %v", ErrProofInvalid, err)
	}
	got, err := base64.RawURLEncoding.DecodeString(p.MAC)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: malformed MAC", ErrProofInvalid)
	}
	keys, err := s.src.Keys(ctx)
	if err != nil {
		return fmt.Errorf("verifying an acceptance proof: loading keys: %w", err)
	}
	key, ok := keys.lookup(p.KeyID)
	if !ok {
		return fmt.Errorf("%w: its key is no longer listed", ErrProofInvalid)
	}
	if !hmac.Equal(got, proofMAC(key, a)) {
		return fmt.Errorf("%w: the MAC does not match this invitation's acceptance", ErrProofInvalid)
	}
	return nil
}

func checkAcceptance(a Acceptance) error {
	switch {
	case a.UID == "":
		return errors.New("no invitation UID")
	case strings.TrimSpace(a.Email) == "":
		return errors.New("no address")
	case a.AcceptedAt.IsZero():
		return errors.New("no acceptance time")
	case a.Resend < 0:
		return errors.New("negative resend generation")
	case (a.Issuer == "") != (a.Subject == ""):
		return errors.New("a sign-in needs both its issuer and its subject")
	case strings.ContainsAny(a.Account, "\n\r"):
		return errors.New("an account UID with a line break")
	}
	return nil
}

// proofMAC is the HMAC of a's fields, one per line after the label. No
// field can hold a line break (a UID, a number, an address validated at
// admission, a timestamp), so the encoding is unambiguous.
//
// A sign-in's issuer and subject may hold any character, so they come
// base64url-encoded, after the other fields, under the other label. The
// account of an invitation joined by domain comes last, as "account:" and
// its UID (a line no base64url field can be).
func proofMAC(key []byte, a Acceptance) []byte {
	m := hmac.New(sha256.New, key)
	label := proofLabel
	if a.Issuer != "" {
		label = signedInProofLabel
	}
	fields := []string{
		label,
		a.UID,
		strconv.FormatInt(int64(a.Resend), 10),
		strings.ToLower(strings.TrimSpace(a.Email)),
		a.AcceptedAt.UTC().Truncate(time.Second).Format(time.RFC3339),
	}
	if a.Issuer != "" {
		fields = append(fields, base64.RawURLEncoding.EncodeToString([]byte(a.Issuer)),
			base64.RawURLEncoding.EncodeToString([]byte(a.Subject)))
	}
	if a.Account != "" {
		fields = append(fields, "account:"+a.Account)
	}
	for _, f := range fields {
		m.Write([]byte(f))
		m.Write([]byte{'\n'})
	}
	return m.Sum(nil)
}
