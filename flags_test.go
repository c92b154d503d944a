package main

import (
	"testing"

	"github.com/partnerops/partnerops/internal/manager"
)

// TestInvitationWorkersFlag: --invitation-workers sets how many
// invitations are reconciled at once, manager.DefaultInvitationWorkers
// when it is left out (docs/performance.md).
func TestInvitationWorkersFlag(t *testing.T) {
	o, err := parseFlags([]string{"--config", "config.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if o.invitationWorkers != manager.DefaultInvitationWorkers {
		t.Errorf("default --invitation-workers = %d, want %d", o.invitationWorkers, manager.DefaultInvitationWorkers)
	}
	if o, err = parseFlags([]string{"--config", "config.yaml", "--invitation-workers", "32"}); err != nil {
		t.Fatal(err)
	}
	if o.invitationWorkers != 32 {
		t.Errorf("--invitation-workers 32 gave %d", o.invitationWorkers)
	}
}
