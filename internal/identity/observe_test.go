package identity_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/identity/identitytest"
)

// TestCode: each sentinel, wrapped as the drivers wrap them, has its code.
func TestCode(t *testing.T) {
	for err, want := range map[error]string{
		nil: identity.CodeOK,
		fmt.Errorf("503: %w", identity.ErrUnavailable):                        identity.CodeUnavailable,
		&identity.RetryAfterError{After: time.Second, Err: errors.New("429")}: identity.CodeUnavailable,
		fmt.Errorf("no jane: %w", identity.ErrNotFound):                       identity.CodeNotFound,
		fmt.Errorf("no group: %w", identity.ErrGroupNotFound):                 identity.CodeGroupNotFound,
		fmt.Errorf("401: %w", identity.ErrUnauthorized):                       identity.CodeUnauthorized,
		fmt.Errorf("400: %w", identity.ErrRejected):                           identity.CodeRejected,
		fmt.Errorf("two janes: %w", identity.ErrConflict):                     identity.CodeConflict,
		fmt.Errorf("reading the Secret: %w", context.Canceled):                identity.CodeError,
	} {
		if got := identity.Code(err); got != want {
			t.Errorf("Code(%v) = %s, want %s", err, got, want)
		}
		if !slices.Contains(identity.Codes, want) {
			t.Errorf("Codes lacks %s", want)
		}
	}
}

// TestObserved: every method is passed through, with its results, and
// observed once under its name with its error.
func TestObserved(t *testing.T) {
	down := fmt.Errorf("503: %w", identity.ErrUnavailable)
	fake := &identitytest.Fake{CreateGroups: true}
	fake.DeleteUserFunc = func(context.Context, identity.User) error { return down }
	type call struct {
		op  string
		err error
	}
	var calls []call
	b := identity.Observed(fake, func(op string, err error, took time.Duration) {
		if took < 0 {
			t.Errorf("%s took %v", op, took)
		}
		calls = append(calls, call{op, err})
	})
	ctx := context.Background()
	if _, err := b.FindUser(ctx, "jane@globex.example"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("FindUser of nobody: %v", err)
	}
	u, err := b.EnsureUser(ctx, identity.NewUser{Email: "jane@globex.example"})
	if err != nil || u.Email != "jane@globex.example" {
		t.Fatalf("EnsureUser: %+v, %v", u, err)
	}
	if err := b.AddMember(ctx, "g", u); err != nil {
		t.Fatal(err)
	}
	if groups, err := b.Groups(ctx, u); err != nil || !slices.Equal(groups, []string{"g"}) {
		t.Errorf("Groups: %v, %v", groups, err)
	}
	if err := b.RemoveMember(ctx, "g", u); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteUser(ctx, u); err != down {
		t.Errorf("DeleteUser: %v, want the backend's own error", err)
	}
	var ops []string
	for _, c := range calls {
		ops = append(ops, c.op)
	}
	if !slices.Equal(slices.Sorted(slices.Values(ops)), slices.Sorted(slices.Values(identity.Operations))) {
		t.Errorf("observed %v, want each of %v once", ops, identity.Operations)
	}
	if codes := []string{identity.Code(calls[0].err), identity.Code(calls[1].err), identity.Code(calls[5].err)}; !slices.Equal(codes, []string{identity.CodeNotFound, identity.CodeOK, identity.CodeUnavailable}) {
		t.Errorf("codes of FindUser, EnsureUser, DeleteUser: %v", codes)
	}
}
