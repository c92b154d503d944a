package config

import "time"

// This file holds the defaults: the value of every optional field left
// empty, and Default, which fills them in. docs/configuration.md spells
// each one out.

// Defaults, spelled out in docs/configuration.md.
const (
	DefaultSecretNamespace           = "partnerops-system"
	DefaultAcceptanceBindAddress     = ":8082"
	DefaultTokenKeysSecret           = "partnerops-token-keys"
	DefaultEmailsPerSecond           = 5
	DefaultEmailsPerNamespacePerHour = 500
	DefaultAcceptRequestsPerMinute   = 30
	DefaultGroupTemplate             = "partnerops.{{ .Namespace }}.{{ .System }}.{{ .Role }}"
	DefaultResyncInterval            = 10 * time.Minute
	DefaultSMTPTimeout               = 30 * time.Second
	// DefaultSMTPMaxConnections is what Microsoft 365 allows one mailbox
	// sending with SMTP AUTH: a fourth connection is refused with 432.
	DefaultSMTPMaxConnections = 3
)

// Default fills every optional field left empty with its documented default.
func (c *Config) Default() {
	if c.SecretNamespace == "" {
		c.SecretNamespace = DefaultSecretNamespace
	}
	if c.Acceptance.BindAddress == "" {
		c.Acceptance.BindAddress = DefaultAcceptanceBindAddress
	}
	c.Acceptance.SignIn.defaults()
	if c.SMTP.Security == "" {
		c.SMTP.Security = SMTPSecuritySTARTTLS
	}
	if c.SMTP.Port == 0 {
		switch c.SMTP.Security {
		case SMTPSecurityTLS:
			c.SMTP.Port = 465
		case SMTPSecurityNone:
			c.SMTP.Port = 25
		default:
			c.SMTP.Port = 587
		}
	}
	if c.SMTP.Timeout.Duration == 0 {
		c.SMTP.Timeout.Duration = DefaultSMTPTimeout
	}
	if c.SMTP.MaxConnections == 0 {
		c.SMTP.MaxConnections = DefaultSMTPMaxConnections
	}
	if c.IdentityBackend.GroupTemplate == "" {
		c.IdentityBackend.GroupTemplate = DefaultGroupTemplate
	}
	if c.IdentityBackend.ResyncInterval.Duration == 0 {
		c.IdentityBackend.ResyncInterval.Duration = DefaultResyncInterval
	}
	if c.RateLimits.EmailsPerSecond == 0 {
		c.RateLimits.EmailsPerSecond = DefaultEmailsPerSecond
	}
	if c.RateLimits.EmailsPerNamespacePerHour == 0 {
		c.RateLimits.EmailsPerNamespacePerHour = DefaultEmailsPerNamespacePerHour
	}
	if c.RateLimits.AcceptRequestsPerMinute == 0 {
		c.RateLimits.AcceptRequestsPerMinute = DefaultAcceptRequestsPerMinute
	}
	if c.Tokens.KeysSecret.Name == "" {
		c.Tokens.KeysSecret.Name = DefaultTokenKeysSecret
	}
}
