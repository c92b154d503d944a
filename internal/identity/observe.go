package identity

import (
	"context"
	"errors"
	"time"
)

// The names of Backend's methods, as metrics name them (Operations lists
// them all).
const (
	OpFindUser     = "FindUser"
	OpEnsureUser   = "EnsureUser"
	OpAddMember    = "AddMember"
	OpRemoveMember = "RemoveMember"
	OpGroups       = "Groups"
	OpDeleteUser   = "DeleteUser"
)

// Operations are the names of every Backend method.
var Operations = []string{OpFindUser, OpEnsureUser, OpAddMember, OpRemoveMember, OpGroups, OpDeleteUser}

// What a call's error says, in one word (Codes lists them all).
const (
	CodeOK            = "ok"
	CodeNotFound      = "not_found"
	CodeGroupNotFound = "group_not_found"
	CodeUnavailable   = "unavailable"
	CodeUnauthorized  = "unauthorized"
	CodeRejected      = "rejected"
	CodeConflict      = "conflict"
	// CodeError is any other error: one of partnerops's own (a credential
	// Secret it cannot read, a canceled context).
	CodeError = "error"
)

// Codes are every value Code returns.
var Codes = []string{CodeOK, CodeNotFound, CodeGroupNotFound, CodeUnavailable, CodeUnauthorized, CodeRejected, CodeConflict, CodeError}

// Code names what err says by the sentinel it wraps: CodeOK for nil.
func Code(err error) string {
	for _, c := range []struct {
		sentinel error
		code     string
	}{
		{ErrUnavailable, CodeUnavailable}, {ErrGroupNotFound, CodeGroupNotFound}, {ErrNotFound, CodeNotFound},
		{ErrUnauthorized, CodeUnauthorized}, {ErrRejected, CodeRejected}, {ErrConflict, CodeConflict},
	} {
		if errors.Is(err, c.sentinel) {
			return c.code
		}
	}
	if err == nil {
		return CodeOK
	}
	return CodeError
}

// Observer is told about each call of a Backend: which method, its error
// (nil on success) and how long it took.
type Observer func(op string, err error, took time.Duration)

// Observed returns b with observe told about each of its calls, so that
// every driver is measured the same way, in one place.
func Observed(b Backend, observe Observer) Backend { return &observed{b: b, observe: observe} }

type observed struct {
	b       Backend
	observe Observer
}

// call runs f as operation op and tells the observer.
func call[T any](o *observed, op string, f func() (T, error)) (T, error) {
	start := time.Now() // latency is real time, whatever the controller's clock says
	v, err := f()
	o.observe(op, err, time.Since(start))
	return v, err
}

func (o *observed) FindUser(ctx context.Context, email string) (User, error) {
	return call(o, OpFindUser, func() (User, error) { return o.b.FindUser(ctx, email) })
}

func (o *observed) EnsureUser(ctx context.Context, u NewUser) (User, error) {
	return call(o, OpEnsureUser, func() (User, error) { return o.b.EnsureUser(ctx, u) })
}

func (o *observed) AddMember(ctx context.Context, group string, user User) error {
	_, err := call(o, OpAddMember, func() (struct{}, error) { return struct{}{}, o.b.AddMember(ctx, group, user) })
	return err
}

func (o *observed) RemoveMember(ctx context.Context, group string, user User) error {
	_, err := call(o, OpRemoveMember, func() (struct{}, error) { return struct{}{}, o.b.RemoveMember(ctx, group, user) })
	return err
}

func (o *observed) Groups(ctx context.Context, user User) ([]string, error) {
	return call(o, OpGroups, func() ([]string, error) { return o.b.Groups(ctx, user) })
}

func (o *observed) DeleteUser(ctx context.Context, user User) error {
	_, err := call(o, OpDeleteUser, func() (struct{}, error) { return struct{}{}, o.b.DeleteUser(ctx, user) })
	return err
}
