// Command krew fills the krew plugin manifest template of `kubectl
// partners` (hack/krew/partners.yaml) from a GoReleaser dist directory:
//
//	go run ./hack/krew -dist dist/release -o dist/release/krew/partners.yaml
//
// The template is in krew-release-bot's format: {{ .TagName }} is the
// release's tag, and {{addURIAndSha "<url>" .TagName}} becomes the two
// lines `uri: <url>` and `sha256: <hex>`, the URL's own {{ .TagName }}
// filled in. The sha256 is that of the archive in the dist directory named
// like the URL's last path element (never downloaded), and must agree with
// GoReleaser's checksums.txt there. The tag is "v" and the version of the
// dist's metadata.json unless -tag says otherwise. Any archive the template
// names and the dist lacks is an error: the manifest is all or nothing.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/template"
)

func main() {
	tmpl := flag.String("template", "hack/krew/partners.yaml", "the manifest template")
	dist := flag.String("dist", "dist/release", "GoReleaser's dist directory: the archives, checksums.txt and metadata.json")
	out := flag.String("o", "", "where to write the manifest (default: standard output)")
	tag := flag.String("tag", "", `the release tag (default: "v" and metadata.json's version)`)
	flag.Parse()
	if err := run(*tmpl, *dist, *out, *tag); err != nil {
		fmt.Fprintf(os.Stderr, "krew: %v\n", err)
		os.Exit(1)
	}
}

func run(tmplFile, dist, out, tag string) error {
	if tag == "" {
		v, err := distVersion(dist)
		if err != nil {
			return err
		}
		tag = "v" + v
	}
	text, err := os.ReadFile(tmplFile)
	if err != nil {
		return err
	}
	manifest, err := Fill(string(text), dist, tag)
	if err != nil {
		return fmt.Errorf("%s: %w", tmplFile, err)
	}
	if out == "" {
		_, err = os.Stdout.WriteString(manifest)
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(manifest), 0o644)
}

// distVersion is the version GoReleaser recorded in dist/metadata.json
// (without the v).
func distVersion(dist string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dist, "metadata.json"))
	if err != nil {
		return "", fmt.Errorf("reading the release's version (or pass -tag): %w", err)
	}
	var m struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.Version == "" {
		return "", fmt.Errorf("%s has no version (%v)", filepath.Join(dist, "metadata.json"), err)
	}
	return strings.TrimPrefix(m.Version, "v"), nil
}

// Fill renders the template text for the release tag with the archives of
// dist.
func Fill(text, dist, tag string) (string, error) {
	sums, err := readChecksums(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		return "", err
	}
	var missing []string
	addURIAndSha := func(rawURL, tag string) (string, error) {
		var u bytes.Buffer
		t, err := template.New("url").Option("missingkey=error").Parse(rawURL)
		if err != nil {
			return "", err
		}
		if err := t.Execute(&u, struct{ TagName string }{tag}); err != nil {
			return "", err
		}
		parsed, err := url.Parse(u.String())
		if err != nil || parsed.Scheme != "https" {
			return "", fmt.Errorf("archive URL %q: want an https URL", u.String())
		}
		name := path.Base(parsed.Path)
		sum, err := fileSHA256(filepath.Join(dist, name))
		if errors.Is(err, os.ErrNotExist) {
			missing = append(missing, name)
			return "uri: MISSING", nil
		}
		if err != nil {
			return "", err
		}
		if want, ok := sums[name]; sums != nil && (!ok || want != sum) {
			return "", fmt.Errorf("%s: sha256 %s, but checksums.txt says %q", name, sum, want)
		}
		return fmt.Sprintf("uri: %s\n    sha256: %s", u.String(), sum), nil
	}
	t, err := template.New("partners.yaml").Option("missingkey=error").
		Funcs(template.FuncMap{"addURIAndSha": addURIAndSha}).Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct{ TagName string }{tag}); err != nil {
		return "", err
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("no archive in %s for %s (make release-snapshot builds every platform)", dist, strings.Join(missing, ", "))
	}
	return b.String(), nil
}

// readChecksums reads GoReleaser's checksums.txt (sha256sum's format) into
// file name → hex sum; nil when the file does not exist.
func readChecksums(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sums := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if sum, name, ok := strings.Cut(s.Text(), "  "); ok {
			sums[name] = sum
		}
	}
	return sums, s.Err()
}

func fileSHA256(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
