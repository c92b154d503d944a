// Command helm-package writes a Helm chart directory as a chart archive
// (<destination>/<name>-<version>.tgz) with the Helm v4 SDK, as `helm lint
// --strict` and `helm package` would: `make helm-package` runs it on
// charts/partnerops, so no helm binary is needed. SOURCE_DATE_EPOCH, when
// set, stamps every file of the archive with that time (a reproducible
// archive).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"helm.sh/helm/v4/pkg/action"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "helm-package: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("helm-package", flag.ContinueOnError)
	chart := fs.String("chart", "", "The chart's directory (required).")
	destination := fs.String("destination", ".", "Where to write the archive.")
	version := fs.String("version", "", "The chart's version, instead of Chart.yaml's.")
	appVersion := fs.String("app-version", "", "The application's version (appVersion), instead of Chart.yaml's.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *chart == "" {
		return errors.New("-chart is required")
	}

	lint := action.NewLint()
	lint.Strict = true
	if result := lint.Run([]string{*chart}, nil); len(result.Errors) > 0 {
		return fmt.Errorf("linting %s: %w", *chart, errors.Join(result.Errors...))
	}

	if err := os.MkdirAll(*destination, 0o755); err != nil {
		return err
	}
	p := action.NewPackage()
	p.Destination = *destination
	p.Version = *version
	p.AppVersion = *appVersion
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		seconds, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%s: %w", epoch, err)
		}
		at := time.Unix(seconds, 0).UTC()
		p.SourceDateEpoch = &at
	}
	path, err := p.Run(*chart, nil)
	if err != nil {
		return fmt.Errorf("packaging %s: %w", *chart, err)
	}
	fmt.Println(path)
	return nil
}
