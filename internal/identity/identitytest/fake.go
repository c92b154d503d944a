// Package identitytest is an in-memory identity.Backend for unit tests.
// SetDown takes the whole backend down (every method fails) and back up;
// every method can also be replaced by setting its function field (to make
// one call fail, say); left nil, the method works on the in-memory
// directory, which follows the Backend contract (idempotent, ownership
// marks).
package identitytest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/partnerops/partnerops/internal/identity"
)

// Fake is an in-memory identity backend.
type Fake struct {
	FindUserFunc     func(ctx context.Context, email string) (identity.User, error)
	EnsureUserFunc   func(ctx context.Context, u identity.NewUser) (identity.User, error)
	AddMemberFunc    func(ctx context.Context, group string, user identity.User) error
	RemoveMemberFunc func(ctx context.Context, group string, user identity.User) error
	GroupsFunc       func(ctx context.Context, user identity.User) ([]string, error)
	DeleteUserFunc   func(ctx context.Context, user identity.User) error

	// CreateGroups lets AddMember create a missing group (marked as ours).
	CreateGroups bool

	mu     sync.Mutex
	down   error                // SetDown
	users  map[string]*fakeUser // by lower-case email
	groups map[string]*fakeGroup
	seq    int
	calls  int
}

type fakeUser struct {
	id, email string
	managed   bool
	// signIn is the sign-in recorded on the user, as a driver configured
	// with a subjectAttribute records it.
	signIn identity.SignIn
}

type fakeGroup struct {
	members map[string]bool // user ids
	managed bool
}

var _ identity.Backend = (*Fake)(nil)

func (f *Fake) init() {
	if f.users == nil {
		f.users = map[string]*fakeUser{}
		f.groups = map[string]*fakeGroup{}
	}
	f.calls++
}

// SeedUser adds a user partnerops did not create; it returns its ID.
func (f *Fake) SeedUser(email string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	f.calls--
	f.seq++
	u := &fakeUser{id: fmt.Sprintf("u%d", f.seq), email: email}
	f.users[strings.ToLower(email)] = u
	return u.id
}

// SeedGroup adds a group partnerops did not create, with members by email.
func (f *Fake) SeedGroup(name string, memberEmails ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	f.calls--
	g := &fakeGroup{members: map[string]bool{}}
	for _, e := range memberEmails {
		if u := f.users[strings.ToLower(e)]; u != nil {
			g.members[u.id] = true
		}
	}
	f.groups[name] = g
}

// Members returns the emails of a group's members, sorted.
func (f *Fake) Members(group string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	f.calls--
	g := f.groups[group]
	if g == nil {
		return nil
	}
	var out []string
	for _, u := range f.users {
		if g.members[u.id] {
			out = append(out, u.email)
		}
	}
	slices.Sort(out)
	return out
}

// GroupNames lists every group, sorted.
func (f *Fake) GroupNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.groups {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// HasUser reports whether a user with email exists.
func (f *Fake) HasUser(email string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.users[strings.ToLower(email)]
	return ok
}

// RenameUser gives the user with email the address to instead, as an
// administrator renaming it in the backend would: same ID, same groups.
func (f *Fake) RenameUser(email, to string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.users[strings.ToLower(email)]; ok {
		delete(f.users, strings.ToLower(email))
		u.email = to
		f.users[strings.ToLower(to)] = u
	}
}

// UserID returns the ID of the user with email, if there is one.
func (f *Fake) UserID(email string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[strings.ToLower(email)]
	if !ok {
		return "", false
	}
	return u.id, true
}

// SignIn returns the sign-in recorded on the user with email (zero when
// none, or no such user).
func (f *Fake) SignIn(email string) identity.SignIn {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u := f.users[strings.ToLower(email)]; u != nil {
		return u.signIn
	}
	return identity.SignIn{}
}

// SetSignIn records si on the user with email, as an administrator would.
func (f *Fake) SetSignIn(email string, si identity.SignIn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u := f.users[strings.ToLower(email)]; u != nil {
		u.signIn = si
	}
}

// SetDown makes every Backend method return err (one wrapping
// identity.ErrUnavailable, as a driver reports an outage) until it is
// called again with nil.
func (f *Fake) SetDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = err
}

func (f *Fake) outage() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

// Calls counts the Backend method calls served by the in-memory directory.
func (f *Fake) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *Fake) FindUser(ctx context.Context, email string) (identity.User, error) {
	if err := f.outage(); err != nil {
		return identity.User{}, err
	}
	if f.FindUserFunc != nil {
		return f.FindUserFunc(ctx, email)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	u := f.users[strings.ToLower(email)]
	if u == nil {
		return identity.User{}, fmt.Errorf("user %s: %w", email, identity.ErrNotFound)
	}
	return identity.User{ID: u.id, Email: u.email, Managed: u.managed}, nil
}

func (f *Fake) EnsureUser(ctx context.Context, nu identity.NewUser) (identity.User, error) {
	if err := f.outage(); err != nil {
		return identity.User{}, err
	}
	if f.EnsureUserFunc != nil {
		return f.EnsureUserFunc(ctx, nu)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	u := f.users[strings.ToLower(nu.Email)]
	if u == nil {
		f.seq++
		u = &fakeUser{id: fmt.Sprintf("u%d", f.seq), email: nu.Email, managed: true}
		f.users[strings.ToLower(nu.Email)] = u
	}
	user := identity.User{ID: u.id, Email: u.email, Managed: u.managed}
	// The sign-in, as a driver configured with subject and issuer
	// attributes records it (identity.CheckSignIn).
	if si := nu.SignedInAs; si != nil {
		has := func(v string) []string {
			if v == "" {
				return nil
			}
			return []string{v}
		}
		write, err := identity.CheckSignIn(user, []identity.SignInField{
			{Attribute: "subject", Want: si.Subject, Has: has(u.signIn.Subject)},
			{Attribute: "issuer", Want: si.Issuer, Has: has(u.signIn.Issuer)},
		})
		if err != nil {
			return identity.User{}, err
		}
		if write {
			u.signIn = *si
		}
	}
	return user, nil
}

func (f *Fake) AddMember(ctx context.Context, group string, user identity.User) error {
	if err := f.outage(); err != nil {
		return err
	}
	if f.AddMemberFunc != nil {
		return f.AddMemberFunc(ctx, group, user)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	g := f.groups[group]
	if g == nil {
		if !f.CreateGroups {
			return fmt.Errorf("group %q: %w", group, identity.ErrGroupNotFound)
		}
		g = &fakeGroup{members: map[string]bool{}, managed: true}
		f.groups[group] = g
	}
	g.members[user.ID] = true
	return nil
}

func (f *Fake) RemoveMember(ctx context.Context, group string, user identity.User) error {
	if err := f.outage(); err != nil {
		return err
	}
	if f.RemoveMemberFunc != nil {
		return f.RemoveMemberFunc(ctx, group, user)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	g := f.groups[group]
	if g == nil {
		return nil
	}
	delete(g.members, user.ID)
	if g.managed && len(g.members) == 0 {
		delete(f.groups, group)
	}
	return nil
}

func (f *Fake) Groups(ctx context.Context, user identity.User) ([]string, error) {
	if err := f.outage(); err != nil {
		return nil, err
	}
	if f.GroupsFunc != nil {
		return f.GroupsFunc(ctx, user)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	var out []string
	for n, g := range f.groups {
		if g.members[user.ID] {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (f *Fake) DeleteUser(ctx context.Context, user identity.User) error {
	if err := f.outage(); err != nil {
		return err
	}
	if f.DeleteUserFunc != nil {
		return f.DeleteUserFunc(ctx, user)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	for k, u := range f.users {
		if u.id == user.ID {
			if !u.managed {
				return fmt.Errorf("user %s was not created by partnerops: %w", u.email, identity.ErrRejected)
			}
			delete(f.users, k)
		}
	}
	return nil
}
