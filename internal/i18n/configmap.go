package i18n

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ConfigMapTemplates gives the built-in templates overridden by the data of
// a ConfigMap, read at each call (from the manager's cache) so that editing
// the ConfigMap needs no restart. The parsed templates are kept until the
// ConfigMap's resourceVersion changes. It is safe for concurrent use.
type ConfigMapTemplates struct {
	reader client.Reader
	key    types.NamespacedName

	mu      sync.Mutex
	version string
	cached  *Templates
	err     error
}

// NewConfigMapTemplates reads overrides from the ConfigMap namespace/name.
// An empty name means no ConfigMap: Templates gives the built-in templates.
func NewConfigMapTemplates(reader client.Reader, namespace, name string) *ConfigMapTemplates {
	return &ConfigMapTemplates{reader: reader, key: types.NamespacedName{Namespace: namespace, Name: name}}
}

// Templates returns the templates to use now. A missing ConfigMap, or one
// with a bad key or template, is an error that says what to fix; the
// built-in templates are not used instead, since the operator asked for
// others.
func (s *ConfigMapTemplates) Templates(ctx context.Context) (*Templates, error) {
	if s.key.Name == "" {
		return Builtin(), nil
	}
	cm := &corev1.ConfigMap{}
	if err := s.reader.Get(ctx, s.key, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the email templates ConfigMap %s does not exist: create it, or leave templates out of the configuration to use the built-in templates", s.key)
		}
		return nil, fmt.Errorf("reading the email templates ConfigMap %s: %w", s.key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cm.ResourceVersion != "" && cm.ResourceVersion == s.version {
		return s.cached, s.err
	}
	s.version, s.cached, s.err = cm.ResourceVersion, nil, nil
	if len(cm.BinaryData) > 0 {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range cm.BinaryData {
				if !yield(k) {
					return
				}
			}
		})
		s.err = fmt.Errorf("the email templates ConfigMap %s has binaryData keys %s: templates are text, put them under data",
			s.key, strings.Join(keys, ", "))
		return nil, s.err
	}
	t, err := Builtin().WithOverrides(cm.Data)
	if err != nil {
		s.err = fmt.Errorf("the email templates ConfigMap %s: %w", s.key, err)
		return nil, s.err
	}
	s.cached = t
	return t, nil
}
