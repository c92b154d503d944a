package main

import (
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// Shell completion: cobra's `completion` command writes the scripts; these
// functions complete flag values and arguments. What comes from the
// cluster (accounts, the roles and systems in use, invitation names) is
// read with the connection flags typed so far; when the cluster cannot be
// read, nothing is offered.

// registerCompletions completes the values of the flags cmd has.
func registerCompletions(cmd *cobra.Command, o *options) {
	register := func(flag string, fn cobra.CompletionFunc) {
		if cmd.Flags().Lookup(flag) != nil {
			_ = cmd.RegisterFlagCompletionFunc(flag, fn)
		}
	}
	register("account", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		return completeFromCluster(cmd.Context(), o, accountNames)
	})
	register("role", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		return completeFromCluster(cmd.Context(), o, rolesInUse)
	})
	register("systems", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		systems, directive := completeFromCluster(cmd.Context(), o, systemsInUse)
		return commaList(systems, toComplete), directive | cobra.ShellCompDirectiveNoSpace
	})
	locales := make([]string, len(v1alpha1.Locales))
	for i, l := range v1alpha1.Locales {
		locales[i] = string(l)
	}
	register("locale", cobra.FixedCompletions(locales, cobra.ShellCompDirectiveNoFileComp))
	register("dry-run", cobra.FixedCompletions([]string{string(dryRunNone), string(dryRunClient), string(dryRunServer)}, cobra.ShellCompDirectiveNoFileComp))
	if cmd.Flags().Lookup("account-file") != nil {
		_ = cmd.MarkFlagFilename("account-file", "yaml", "yml")
	}
}

// completeFromCluster runs list on the namespace chosen by the flags.
func completeFromCluster(ctx context.Context, o *options, list func(context.Context, client.Client, string) []string) ([]string, cobra.ShellCompDirective) {
	c, ns, err := o.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return list(ctx, c, ns), cobra.ShellCompDirectiveNoFileComp
}

// accountNames are the namespace's PartnerAccounts, each with its display
// name as the description shells show.
func accountNames(ctx context.Context, c client.Client, ns string) []string {
	var l v1alpha1.PartnerAccountList
	if c.List(ctx, &l, client.InNamespace(ns)) != nil {
		return nil
	}
	var names []string
	for _, a := range l.Items {
		names = append(names, a.Name+"\t"+a.Spec.DisplayName)
	}
	return names
}

// rolesInUse and systemsInUse are the catalogue keys the namespace's
// invitations and spec.users already use: the catalogue itself is the
// operator's configuration, which tenants do not read.
func rolesInUse(ctx context.Context, c client.Client, ns string) []string {
	return keysInUse(ctx, c, ns, func(role v1alpha1.CatalogueKey, _ []v1alpha1.CatalogueKey) []v1alpha1.CatalogueKey {
		return []v1alpha1.CatalogueKey{role}
	})
}

func systemsInUse(ctx context.Context, c client.Client, ns string) []string {
	return keysInUse(ctx, c, ns, func(_ v1alpha1.CatalogueKey, systems []v1alpha1.CatalogueKey) []v1alpha1.CatalogueKey {
		return systems
	})
}

func keysInUse(ctx context.Context, c client.Client, ns string, keys func(role v1alpha1.CatalogueKey, systems []v1alpha1.CatalogueKey) []v1alpha1.CatalogueKey) []string {
	var out []string
	var invs v1alpha1.PartnerInvitationList
	if c.List(ctx, &invs, client.InNamespace(ns)) == nil {
		for _, inv := range invs.Items {
			for _, k := range keys(inv.Spec.Role, inv.Spec.Systems) {
				out = append(out, string(k))
			}
		}
	}
	var accts v1alpha1.PartnerAccountList
	if c.List(ctx, &accts, client.InNamespace(ns)) == nil {
		for _, a := range accts.Items {
			for _, u := range a.Spec.Users {
				for _, k := range keys(u.Role, u.Systems) {
					out = append(out, string(k))
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// commaList completes the last item of a comma-separated list: the items
// already typed stay, those not yet given are offered after them.
func commaList(items []string, toComplete string) []string {
	done := toComplete[:strings.LastIndexByte(toComplete, ',')+1]
	given := strings.Split(done, ",")
	var out []string
	for _, it := range items {
		if !slices.Contains(given, it) {
			out = append(out, done+it)
		}
	}
	return out
}

// invitationNamesFor completes the names of invitations that fn accepts.
func invitationNamesFor(o *options, fn change) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		return completeFromCluster(cmd.Context(), o, func(ctx context.Context, c client.Client, ns string) []string {
			var l v1alpha1.PartnerInvitationList
			if c.List(ctx, &l, client.InNamespace(ns)) != nil {
				return nil
			}
			var names []string
			for i := range l.Items {
				inv := &l.Items[i]
				if slices.Contains(args, inv.Name) {
					continue
				}
				if _, err := fn(inv.DeepCopy()); err == nil {
					names = append(names, inv.Name+"\t"+string(inv.Spec.Email))
				}
			}
			return names
		})
	}
}
