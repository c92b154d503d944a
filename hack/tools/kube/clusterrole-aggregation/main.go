// Command clusterrole-aggregation runs kube-controller-manager's ClusterRole
// aggregation controller (k8s.io/kubernetes/pkg/controller/clusterroleaggregation)
// alone, against the API server of a kubeconfig, until SIGTERM or SIGINT.
//
// The controller fills the rules of every ClusterRole with an
// aggregationRule (the built-in view, edit and admin among them) from the
// ClusterRoles its selectors match. It runs in kube-controller-manager, not
// in kube-apiserver, so a bare test control plane (envtest) leaves the
// built-in roles empty; tests that ask what a user bound to them may do run
// this. It is wired as kube-controller-manager wires it (cmd/kube-controller-manager/app/rbac.go):
// a ClusterRole informer and the rbac/v1 client, five workers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubernetes/pkg/controller/clusterroleaggregation"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "the kubeconfig of the API server (required)")
	flag.Parse()
	if err := run(*kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "clusterrole-aggregation:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string) error {
	if kubeconfig == "" {
		return fmt.Errorf("--kubeconfig is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.UserAgent = "clusterrole-aggregation-controller"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := clusterroleaggregation.NewClusterRoleAggregation(factory.Rbac().V1().ClusterRoles(), client.RbacV1())
	factory.Start(ctx.Done())
	c.Run(ctx, 5) // returns once ctx is done
	factory.Shutdown()
	return nil
}
