package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

const (
	// loopback is the only address the control plane listens on.
	loopback = "127.0.0.1"
	// kubeContext names the cluster, user and context of the kubeconfig.
	kubeContext = "partnerops-dev"
	// adminUser is the user of the kubeconfig, a cluster administrator.
	adminUser = "partnerops-dev-admin"
	// Each control-plane process may take this long to start (a busy laptop
	// is slower than envtest's 20s default assumes) and to stop.
	controlPlaneStartTimeout = 2 * time.Minute
	controlPlaneStopTimeout  = 20 * time.Second
)

// controlPlane is a running etcd and kube-apiserver.
type controlPlane struct {
	env *envtest.Environment
	// admin reaches the API server as a member of system:masters.
	admin *rest.Config
	// version is the API server's version, such as v1.37.2.
	version string
	state   *stateDir
	logs    []*os.File
}

// startControlPlane starts etcd and kube-apiserver on loopback with their
// state under s, installs the CRDs of crdDir and adds an administrator.
// Their output goes to log files under s.logDir.
func startControlPlane(bins binaries, s *stateDir, crdDir string) (*controlPlane, error) {
	// The API server's certificates are made anew on every run: envtest
	// only knows the CA of the certificates it makes itself.
	if err := os.RemoveAll(s.certDir); err != nil {
		return nil, fmt.Errorf("removing the previous run's certificates: %w", err)
	}
	if err := os.MkdirAll(s.certDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the certificates' directory: %w", err)
	}
	cp := &controlPlane{state: s}
	env, err := cp.newEnvironment(bins, s, crdDir)
	if err != nil {
		cp.closeLogs()
		return nil, err
	}
	cp.env = env
	if _, err := env.Start(); err != nil {
		return nil, errors.Join(
			fmt.Errorf("starting etcd and kube-apiserver (their logs are in %s): %w", s.logDir, err),
			cp.stopProcesses())
	}
	if err := cp.addAdmin(); err != nil {
		return nil, errors.Join(err, cp.stopProcesses())
	}
	return cp, nil
}

func (cp *controlPlane) newEnvironment(bins binaries, s *stateDir, crdDir string) (*envtest.Environment, error) {
	etcdLog, err := cp.openLog(s, "etcd.log")
	if err != nil {
		return nil, err
	}
	apiserverLog, err := cp.openLog(s, "kube-apiserver.log")
	if err != nil {
		return nil, err
	}
	envtestLog, err := cp.openLog(s, "envtest.log")
	if err != nil {
		return nil, err
	}
	ctrllog.SetLogger(zap.New(zap.WriteTo(envtestLog), zap.UseDevMode(true)))

	ports, err := freeLoopbackPorts(3)
	if err != nil {
		return nil, err
	}
	etcd := &envtest.Etcd{
		Path:    bins.etcd,
		DataDir: s.etcdDir,
		URL:     &url.URL{Scheme: "http", Host: net.JoinHostPort(loopback, ports[0])},
		Out:     etcdLog,
		Err:     etcdLog,
	}
	etcd.Configure().Set("listen-peer-urls", "http://"+net.JoinHostPort(loopback, ports[1]))
	apiserver := &envtest.APIServer{
		Path:    bins.apiserver,
		CertDir: s.certDir,
		Out:     apiserverLog,
		Err:     apiserverLog,
	}
	apiserver.SecureServing.ListenAddr = envtest.ListenAddr{Address: loopback, Port: ports[2]}

	useExisting := false
	return &envtest.Environment{
		ControlPlane:             envtest.ControlPlane{Etcd: etcd, APIServer: apiserver},
		CRDDirectoryPaths:        []string{crdDir},
		ErrorIfCRDPathMissing:    true,
		UseExistingCluster:       &useExisting,
		ControlPlaneStartTimeout: controlPlaneStartTimeout,
		ControlPlaneStopTimeout:  controlPlaneStopTimeout,
	}, nil
}

// openLog creates (or truncates) a log file of the state directory.
func (cp *controlPlane) openLog(s *stateDir, name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.logDir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating a log file: %w", err)
	}
	cp.logs = append(cp.logs, f)
	return f, nil
}

func (cp *controlPlane) closeLogs() {
	for _, f := range cp.logs {
		_ = f.Close()
	}
	cp.logs = nil
}

// addAdmin provisions the administrator of the kubeconfig and asks the API
// server its version.
func (cp *controlPlane) addAdmin() error {
	user, err := cp.env.AddUser(envtest.User{Name: adminUser, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the administrator user: %w", err)
	}
	cp.admin = user.Config()
	dc, err := discovery.NewDiscoveryClientForConfig(cp.admin)
	if err != nil {
		return fmt.Errorf("creating a discovery client: %w", err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return fmt.Errorf("asking the API server its version as %s: %w", adminUser, err)
	}
	cp.version = v.GitVersion
	return nil
}

// ensureNamespace creates the namespace name unless it exists, and reports
// whether it created it.
func (cp *controlPlane) ensureNamespace(name string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(cp.admin, client.Options{})
	if err != nil {
		return false, fmt.Errorf("creating a client: %w", err)
	}
	err = c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsAlreadyExists(err):
		return false, nil
	default:
		return false, fmt.Errorf("creating the namespace %s: %w", name, err)
	}
}

// setSecretKey sets key to value in the Secret namespace/name, creating the
// Secret when it does not exist and keeping its other keys, and reports
// whether it created it.
func (cp *controlPlane) setSecretKey(namespace, name, key, value string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(cp.admin, client.Options{})
	if err != nil {
		return false, fmt.Errorf("creating a client: %w", err)
	}
	// A conflict (someone else wrote it meanwhile) is tried again.
	for {
		var sec corev1.Secret
		err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &sec)
		switch {
		case apierrors.IsNotFound(err):
			err = c.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
				Type:       corev1.SecretTypeOpaque,
				Data:       map[string][]byte{key: []byte(value)},
			})
			if err == nil {
				return true, nil
			}
			if !apierrors.IsAlreadyExists(err) {
				return false, fmt.Errorf("creating the Secret %s/%s: %w", namespace, name, err)
			}
		case err != nil:
			return false, fmt.Errorf("reading the Secret %s/%s: %w", namespace, name, err)
		default:
			if sec.Data == nil {
				sec.Data = map[string][]byte{}
			}
			sec.Data[key] = []byte(value)
			err = c.Update(ctx, &sec)
			if err == nil {
				return false, nil
			}
			if !apierrors.IsConflict(err) {
				return false, fmt.Errorf("updating the Secret %s/%s: %w", namespace, name, err)
			}
		}
		if ctx.Err() != nil {
			return false, fmt.Errorf("writing the Secret %s/%s: %w", namespace, name, ctx.Err())
		}
	}
}

// stop stops kube-apiserver, then etcd; it keeps their state.
func (cp *controlPlane) stop(con *console) error {
	con.logf("stopping kube-apiserver and etcd")
	if err := cp.stopProcesses(); err != nil {
		return err
	}
	con.logf("stopped; the state (kubeconfig, etcd's data, Mailpit's messages, logs) stays in %s; the SCIM server's users and groups, kept in memory, are gone", con.path(cp.state.dir))
	return nil
}

func (cp *controlPlane) stopProcesses() error {
	defer cp.closeLogs()
	if err := cp.env.Stop(); err != nil {
		return fmt.Errorf("stopping etcd and kube-apiserver: %w", err)
	}
	return nil
}

// freeLoopbackPorts returns n distinct ports that were free on loopback.
// Another program could take one before it is used: starting then fails
// and the logs say why.
func freeLoopbackPorts(n int) ([]string, error) {
	var ports []string
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			return nil, fmt.Errorf("finding a free port on %s: %w", loopback, err)
		}
		listeners = append(listeners, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}
