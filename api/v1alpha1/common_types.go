package v1alpha1

// This file holds the value types shared by both kinds. Validation markers on
// a named type apply wherever the type is used, so an email, a role or a
// system is checked the same way in a PartnerAccount's users and in a
// PartnerInvitation.

// EmailAddress is one recipient's address, such as jane.doe@example.com.
// It is an addr-spec without display name or comments: a local part of at
// most 64 characters made of letters, digits, dots (not leading, trailing or
// doubled) and !#$%&'*+/=?^_`{|}~-, then "@", then a DNS domain with at least
// one dot. At most 254 characters. Addresses are compared case-insensitively.
// +kubebuilder:validation:MinLength=6
// +kubebuilder:validation:MaxLength=254
// +kubebuilder:validation:XValidation:rule="!self.matches('[\\\\s\\\\x00-\\\\x1f\\\\x7f]')",message="must not contain spaces, line breaks or other control characters"
// +kubebuilder:validation:XValidation:rule="self.matches('^[^@]+@[^@]+$')",message="must contain exactly one @, as in jane.doe@example.com"
// +kubebuilder:validation:XValidation:rule="!self.matches('^[^@]+@[^@]+$') || self.split('@')[0].size() <= 64",message="the part before @ must be at most 64 characters"
// +kubebuilder:validation:XValidation:rule="!self.matches('^[^@]+@[^@]+$') || self.matches('^[A-Za-z0-9!#$%&\\x27*+/=?^_`{|}~-]+(\\\\.[A-Za-z0-9!#$%&\\x27*+/=?^_`{|}~-]+)*@')",message="the part before @ may hold only letters, digits, single dots (not first or last) and !#$%&'*+/=?^_`{|}~-"
// +kubebuilder:validation:XValidation:rule="!self.matches('^[^@]+@[^@]+$') || self.matches('@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\\\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')",message="the part after @ must be a domain name with a dot, as in example.com"
type EmailAddress string

// CatalogueKey names a role or a system of the operator's catalogue (its
// configuration file): 1 to 63 lowercase letters, digits, '-' or '_',
// starting and ending with a letter or digit.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$')",message="must be a catalogue key: lowercase letters, digits, '-' or '_', starting and ending with a letter or digit, with no spaces"
type CatalogueKey string

// DomainName is a lowercase DNS domain such as example.com.
// +kubebuilder:validation:MinLength=3
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\\\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$')",message="must be a lowercase DNS domain with at least one dot, such as example.com (no scheme, @, port, wildcard or spaces)"
type DomainName string

// Locale is the language of an invitation's email and pages.
// +kubebuilder:validation:Enum=en;fr;es
type Locale string

// The supported locales.
const (
	// LocaleEnglish is English, the default.
	LocaleEnglish Locale = "en"
	// LocaleFrench is French.
	LocaleFrench Locale = "fr"
	// LocaleSpanish is Spanish.
	LocaleSpanish Locale = "es"
)

// Locales lists every supported locale, default first.
var Locales = []Locale{LocaleEnglish, LocaleFrench, LocaleSpanish}

// TTL is how long an invitation link stays valid: a Go duration such as
// "168h" or "72h30m", from 1h to 720h (30 days).
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 168h, 72h or 90m"
// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') || (duration(self) >= duration('1h') && duration(self) <= duration('720h'))",message="must be between 1h and 720h (30 days)"
type TTL string
