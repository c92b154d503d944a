package testenv

import (
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/index"
)

// FakeClient is controller-runtime's fake client for the unit tests of one
// step of a controller: the project's scheme, the field indexes of
// internal/index, the status subresource of both kinds, and objs. Add
// interceptor.Funcs (WithInterceptorFuncs) to make a request fail.
func FakeClient(objs ...client.Object) *fake.ClientBuilder {
	return fake.NewClientBuilder().WithScheme(Scheme()).
		WithStatusSubresource(&v1alpha1.PartnerInvitation{}, &v1alpha1.PartnerAccount{}).
		WithIndex(&v1alpha1.PartnerInvitation{}, index.InvitationAccount, index.AccountOf).
		WithIndex(&v1alpha1.PartnerInvitation{}, index.InvitationAwaitingAccount, index.AwaitingAccountOf).
		WithIndex(&v1alpha1.PartnerInvitation{}, index.InvitationEmail, index.EmailOf).
		WithObjects(objs...)
}
