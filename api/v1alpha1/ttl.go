package v1alpha1

import (
	"fmt"
	"time"
)

// DefaultInvitationTTL is the validity of an invitation when neither the
// invitation nor its account says otherwise: 7 days.
const DefaultInvitationTTL = 168 * time.Hour

// Duration parses the TTL. The schema already refuses values that do not
// parse or fall outside 1h..720h, so an error here means the object was not
// admitted by this API's schema.
func (t TTL) Duration() (time.Duration, error) {
	d, err := time.ParseDuration(string(t))
	if err != nil {
		return 0, fmt.Errorf("parsing ttl %q: %w", string(t), err)
	}
	return d, nil
}
