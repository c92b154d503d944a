package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// What `version` prints. `make plugin` and the release set them with
// -ldflags "-X main.version=… -X main.commit=… -X main.date=…" (GoReleaser's
// default names); a plain `go build` or `go install` leaves them empty and
// the Go toolchain's build information fills in what it knows.
var (
	version = ""
	commit  = ""
	date    = ""
)

// versionInfo is the output of `version`.
type versionInfo struct {
	// Version is the release (v1.2.3), else the module version `go install
	// …@v1.2.3` recorded, else "dev".
	Version string `json:"version"`
	// Commit is the git commit built, with "-dirty" when the build
	// recorded uncommitted changes; "unknown" when nobody said.
	Commit string `json:"commit"`
	// BuildDate is when the binary was built (RFC 3339, UTC), else the
	// commit's time; "unknown" when nobody said.
	BuildDate string `json:"buildDate"`
	// GoVersion is the Go toolchain that built it.
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// buildInfo is debug.ReadBuildInfo; tests replace it.
var buildInfo = debug.ReadBuildInfo

func currentVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, BuildDate: date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := buildInfo(); ok {
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		if v.Commit == "" && settings["vcs.revision"] != "" {
			v.Commit = settings["vcs.revision"]
			if settings["vcs.modified"] == "true" {
				v.Commit += "-dirty"
			}
		}
		if v.BuildDate == "" {
			v.BuildDate = settings["vcs.time"]
		}
	}
	v.Version = orDefault(v.Version, "dev")
	v.Commit = orDefault(v.Commit, "unknown")
	v.BuildDate = orDefault(v.BuildDate, "unknown")
	return v
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newVersionCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version, commit and build date",
		Long: `Print the plugin's version, the git commit it was built from, when it was
built, and the Go version and platform. With -o json or -o yaml, the same
as an object with the keys version, commit, buildDate, goVersion and
platform. It does not contact the cluster.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(cmd, fmt.Sprintf("version takes no arguments, got %q", args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := currentVersion()
			switch output {
			case "":
				_, err := fmt.Fprintf(o.out, "Version:    %s\nCommit:     %s\nBuild date: %s\nGo:         %s %s\n",
					v.Version, v.Commit, v.BuildDate, v.GoVersion, v.Platform)
				return err
			case "json":
				b, err := json.MarshalIndent(v, "", "    ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(o.out, "%s\n", b)
				return err
			case "yaml":
				b, err := yaml.Marshal(v)
				if err != nil {
					return err
				}
				_, err = o.out.Write(b)
				return err
			}
			return usageError(cmd, fmt.Sprintf("unknown output format %q: use json or yaml", output))
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "print the version as json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
