package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig is a kubeconfig that reaches cfg's API server as cfg's user
// (client certificate or bearer token), named user, in one context (and
// cluster) named context whose default namespace is namespace (none when
// "").
func Kubeconfig(cfg *rest.Config, context, user, namespace string) ([]byte, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[context] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts[context] = &clientcmdapi.Context{Cluster: context, AuthInfo: user, Namespace: namespace}
	kc.CurrentContext = context
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, fmt.Errorf("encoding the kubeconfig: %w", err)
	}
	return data, nil
}

// WriteKubeconfig writes Kubeconfig(cfg, context, user, namespace) to
// path, readable by its owner only. It replaces the file at once, so that
// a shell using it never reads half a file.
func WriteKubeconfig(path string, cfg *rest.Config, context, user, namespace string) error {
	data, err := Kubeconfig(cfg, context, user, namespace)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// KubeconfigFile writes a kubeconfig for cfg (Env.Config: the API server's
// administrator), with namespace as its default (none when ""), into the
// test's temporary directory, and returns its path.
func KubeconfigFile(t testing.TB, cfg *rest.Config, namespace string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := WriteKubeconfig(path, cfg, "envtest", "admin", namespace); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
